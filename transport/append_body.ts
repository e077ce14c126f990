/**
 * The body of an append (`POST /streams/:stream`): one event object or an
 * array of them, validated.
 *
 * @module
 */

import { z } from "zod";
import type { EventData } from "../eventstore/types.ts";
import { describeIssues } from "./codec.ts";

/**
 * A client error answered with 400 and `{"error": code, "message": ...}`.
 *
 * @example
 * ```ts
 * import { BadRequest } from "./append_body.ts";
 * console.assert(new BadRequest("invalid_query", "limit must be a number").code === "invalid_query");
 * ```
 */
export class BadRequest extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

const eventSchema = z.object({
  id: z.string().min(1).max(128).optional(),
  type: z.string().min(1).max(200),
  data: z.unknown().optional(),
  metadata: z.unknown().optional(),
}).strict();

/** The schema of an append body; error messages come from it. */
export const appendSchema = z.union([eventSchema, z.array(eventSchema).min(1).max(10_000)]);

/** Whether `e` is an event {@link eventSchema} accepts (checked by hand: it is faster). */
function plainEvent(e: unknown): e is EventData {
  if (typeof e !== "object" || e === null || Array.isArray(e)) return false;
  let n = 0;
  for (const k in e) {
    if (k !== "type" && k !== "id" && k !== "data" && k !== "metadata") return false;
    n++;
  }
  const { type, id } = e as Record<string, unknown>;
  if (typeof type !== "string" || type.length === 0 || type.length > 200) return false;
  if (id !== undefined && (typeof id !== "string" || id.length === 0 || id.length > 128)) {
    return false;
  }
  // Own keys only: JSON.parse makes plain objects, but an inherited key would fool for-in.
  return n === Object.keys(e).length;
}

/**
 * The events of an append body (one event or an array), validated; the
 * schema only runs when the quick check fails, to word the error. Throws
 * {@link BadRequest} `invalid_event`.
 *
 * @example
 * ```ts
 * import { appendEvents } from "./append_body.ts";
 * console.assert(appendEvents({ type: "Placed", data: { n: 1 } })[0]!.type === "Placed");
 * ```
 */
export function appendEvents(body: unknown): EventData[] {
  if (Array.isArray(body)) {
    if (body.length >= 1 && body.length <= 10_000 && body.every(plainEvent)) {
      return body.map(withoutUndefined);
    }
  } else if (plainEvent(body)) return [withoutUndefined(body)];
  // One schema for the form the body has, so the error names the field (a union of both
  // forms only says "Invalid input").
  const parsed = Array.isArray(body)
    ? appendSchema.options[1].safeParse(body)
    : appendSchema.options[0].safeParse(body);
  if (!parsed.success) throw new BadRequest("invalid_event", describeIssues(parsed.error));
  return (Array.isArray(parsed.data) ? parsed.data : [parsed.data]).map(withoutUndefined);
}

function withoutUndefined(e: {
  type: string;
  id?: string | undefined;
  data?: unknown;
  metadata?: unknown;
}): EventData {
  return {
    type: e.type,
    ...(e.id !== undefined ? { id: e.id } : {}),
    ...(e.data !== undefined ? { data: e.data } : {}),
    ...(e.metadata !== undefined ? { metadata: e.metadata } : {}),
  };
}
