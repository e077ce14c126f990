/**
 * Maps errors to HTTP responses: `{"error": "<code>", "message": "..."}` with
 * a fitting status.
 *
 * @module
 */

import type { Context } from "hono";
import { ConfChangeError } from "../raft/core/confchange.ts";
import { NotLeaderError, ProposalDroppedError } from "../raft/core/errors.ts";
import { OutcomeUnknownError, StoppedError, TimeoutError } from "../raft/node_errors.ts";
import { MessageFormatError } from "./codec.ts";

/** Status and body for an error. */
export interface ErrorBody {
  readonly status: 400 | 401 | 403 | 404 | 409 | 410 | 413 | 421 | 500 | 501 | 503 | 504;
  readonly body: { error: string; message: string; [k: string]: unknown };
  readonly headers?: Record<string, string>;
}

/**
 * Classifies an error for an HTTP answer.
 *
 * @example
 * ```ts
 * import { errorBody } from "./errors.ts";
 * import { ProposalDroppedError } from "../raft/core/errors.ts";
 * console.assert(errorBody(new ProposalDroppedError("no leader")).status === 503);
 * ```
 */
export function errorBody(e: unknown): ErrorBody {
  if (e instanceof NotLeaderError) {
    return {
      status: 503,
      body: {
        error: e.leaderHint === "" ? "no_leader" : "not_leader",
        message: e.message,
        leader: e.leaderHint,
        ...(e.leaderUrl !== undefined ? { leaderUrl: e.leaderUrl } : {}),
      },
      headers: { "retry-after": "1" },
    };
  }
  if (e instanceof ProposalDroppedError) {
    return {
      status: 503,
      body: { error: "proposal_dropped", message: e.message },
      headers: { "retry-after": "1" },
    };
  }
  if (e instanceof TimeoutError) {
    return { status: 504, body: { error: "timeout", message: e.message } };
  }
  if (e instanceof OutcomeUnknownError || (e instanceof StoppedError && e.outcomeUnknown)) {
    return { status: 504, body: { error: "outcome_unknown", message: e.message } };
  }
  if (e instanceof StoppedError) {
    return {
      status: 503,
      body: { error: "stopped", message: e.message },
      headers: { "retry-after": "1" },
    };
  }
  if (e instanceof ConfChangeError) {
    return { status: 409, body: { error: "invalid_membership_change", message: e.message } };
  }
  if (e instanceof MessageFormatError) {
    return { status: 400, body: { error: "invalid_message", message: e.message } };
  }
  if (e instanceof SyntaxError) {
    return {
      status: 400,
      body: { error: "invalid_json", message: `Body is not valid JSON: ${e.message}` },
    };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { status: 500, body: { error: "internal", message } };
}

/**
 * Sends an error as JSON.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { sendError } from "./errors.ts";
 * const app = new Hono().get("/", (c) => sendError(c, new Error("boom")));
 * const res = await app.request("/");
 * console.assert(res.status === 500);
 * ```
 */
export function sendError(c: Context, e: unknown): Response {
  const { status, body, headers } = errorBody(e);
  return c.json(body, status, headers);
}

/**
 * Sends a 400 with a code and message.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { badRequest } from "./errors.ts";
 * const app = new Hono().get("/", (c) => badRequest(c, "invalid_query", "limit must be a number"));
 * console.assert((await app.request("/")).status === 400);
 * ```
 */
export function badRequest(c: Context, code: string, message: string): Response {
  return c.json({ error: code, message }, 400);
}
