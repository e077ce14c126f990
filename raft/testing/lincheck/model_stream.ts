/**
 * An append-only event stream with optimistic concurrency, the semantics of
 * raftlog's event store (after EventStoreDB): an append of N events carries an
 * expected revision and either commits all N at the next revisions or fails
 * with `wrong_expected_revision`; a read returns the stream's event ids in
 * revision order. Streams are independent, so histories are partitioned by
 * stream and the state is one stream's ids.
 *
 * Event ids make retries idempotent: an append whose ids are all already in the
 * stream, contiguous and in the same order, is a retry; it succeeds without
 * effect and reports the original revisions. Ids are unique within a stream, so
 * an append that repeats only some existing ids cannot succeed.
 *
 * @module
 */

import type { Operation } from "./history.ts";
import { accept, hashString, type Model, REJECT, type StepResult } from "./model.ts";
import type { JsonCall, JsonCodec } from "./parse_json.ts";

/**
 * What an append expects of the stream: `"any"` (no check), `"no_stream"` (it is
 * empty), `"stream_exists"` (it has an event), or the exact revision of its
 * last event (revisions count from 0).
 *
 * @example
 * ```ts
 * import type { ExpectedRevision } from "./model_stream.ts";
 * const expected: ExpectedRevision[] = ["any", "no_stream", "stream_exists", 4];
 * ```
 */
export type ExpectedRevision = "any" | "no_stream" | "stream_exists" | number;

/**
 * A stream operation: append event ids with an expected revision, or read the
 * whole stream.
 *
 * @example
 * ```ts
 * import type { StreamInput } from "./model_stream.ts";
 * const ops: StreamInput[] = [
 *   { f: "append", stream: "orders-1", events: ["e1", "e2"], expected: "no_stream" },
 *   { f: "read", stream: "orders-1" },
 * ];
 * ```
 */
export type StreamInput =
  | {
    readonly f: "append";
    readonly stream: string;
    readonly events: readonly string[];
    readonly expected: ExpectedRevision;
  }
  | { readonly f: "read"; readonly stream: string };

/**
 * The result of an append: the revisions assigned (omit `revisions` if not
 * recorded), or the conflict error.
 *
 * @example
 * ```ts
 * import type { AppendOutput } from "./model_stream.ts";
 * const ok: AppendOutput = { revisions: [0, 1] };
 * const conflict: AppendOutput = { error: "wrong_expected_revision" };
 * ```
 */
export type AppendOutput =
  | { readonly revisions?: readonly number[] }
  | { readonly error: "wrong_expected_revision" };

/**
 * The output of a stream operation: an {@linkcode AppendOutput} for appends, the
 * event ids in revision order for reads.
 *
 * @example
 * ```ts
 * import type { StreamOutput } from "./model_stream.ts";
 * const read: StreamOutput = ["e1", "e2"];
 * ```
 */
export type StreamOutput = AppendOutput | readonly string[];

/**
 * One stream's state: its event ids in revision order, and their hash.
 *
 * @example
 * ```ts
 * import { streamModel, type StreamState } from "./model_stream.ts";
 * const empty: StreamState = streamModel.init();
 * if (empty.ids.length !== 0) throw new Error("streams start empty");
 * ```
 */
export interface StreamState {
  /** Event ids; the id at index i has revision i. */
  readonly ids: readonly string[];
  /** Incremental hash of `ids`. */
  readonly hash: number;
}

const EMPTY: StreamState = { ids: [], hash: hashString("") };

function extend(state: StreamState, events: readonly string[]): StreamState {
  let hash = state.hash;
  // A separator keeps ["ab"] and ["a", "b"] apart.
  for (const id of events) hash = hashString("\u0000", hashString(id, hash));
  return { ids: [...state.ids, ...events], hash };
}

/** The revision where `events` already sit contiguously in `ids`, or -1. */
function retryAt(ids: readonly string[], events: readonly string[]): number {
  if (events.length === 0) return -1;
  const at = ids.indexOf(events[0]!);
  if (at === -1 || at + events.length > ids.length) return -1;
  for (let i = 1; i < events.length; i++) {
    if (ids[at + i] !== events[i]) return -1;
  }
  return at;
}

function anyPresent(ids: readonly string[], events: readonly string[]): boolean {
  if (ids.length === 0) return false;
  const set = new Set(ids);
  return events.some((e) => set.has(e));
}

function hasDuplicates(events: readonly string[]): boolean {
  return new Set(events).size !== events.length;
}

function expectationHolds(length: number, expected: ExpectedRevision): boolean {
  switch (expected) {
    case "any":
      return true;
    case "no_stream":
      return length === 0;
    case "stream_exists":
      return length > 0;
    default:
      return length - 1 === expected;
  }
}

function revisionsMatch(output: AppendOutput, from: number, count: number): boolean {
  if (!("revisions" in output) || output.revisions === undefined) return true;
  const r = output.revisions;
  if (r.length !== count) return false;
  for (let i = 0; i < count; i++) if (r[i] !== from + i) return false;
  return true;
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function partitionByStream(
  history: readonly Operation<StreamInput, StreamOutput>[],
): Operation<StreamInput, StreamOutput>[][] {
  const parts = new Map<string, Operation<StreamInput, StreamOutput>[]>();
  for (const op of history) {
    const part = parts.get(op.input.stream);
    if (part === undefined) parts.set(op.input.stream, [op]);
    else part.push(op);
  }
  return [...parts.values()];
}

function stepAppend(
  state: StreamState,
  events: readonly string[],
  expected: ExpectedRevision,
  output: AppendOutput | undefined,
): StepResult<StreamState> {
  const conflict = output !== undefined && "error" in output;
  const ids = state.ids;
  const retry = retryAt(ids, events);
  const fits = expectationHolds(ids.length, expected);
  if (retry !== -1) {
    // An idempotent retry succeeds without effect; a store that checks the
    // expectation first may report a conflict instead when it does not hold.
    if (conflict) return fits ? REJECT : accept(state);
    return revisionsMatch(output ?? {}, retry, events.length) ? accept(state) : REJECT;
  }
  if (conflict) return fits ? REJECT : accept(state);
  if (!fits || hasDuplicates(events) || anyPresent(ids, events)) return REJECT;
  if (!revisionsMatch(output ?? {}, ids.length, events.length)) return REJECT;
  return events.length === 0 ? accept(state) : accept(extend(state, events));
}

/**
 * The stream model.
 *
 * @example
 * ```ts
 * import { streamModel } from "./model_stream.ts";
 * const s0 = streamModel.init();
 * const a = streamModel.step(
 *   s0,
 *   { f: "append", stream: "s", events: ["e1"], expected: "no_stream" },
 *   { revisions: [0] },
 * );
 * if (!a.ok) throw new Error("first append rejected");
 * // The same expectation fails once the stream exists.
 * const again = streamModel.step(
 *   a.state,
 *   { f: "append", stream: "s", events: ["e2"], expected: "no_stream" },
 *   { error: "wrong_expected_revision" },
 * );
 * if (!again.ok) throw new Error("conflict rejected");
 * if (!streamModel.step(a.state, { f: "read", stream: "s" }, ["e1"]).ok) {
 *   throw new Error("read rejected");
 * }
 * ```
 */
export const streamModel: Model<StreamState, StreamInput, StreamOutput> = {
  init: () => EMPTY,
  step(state, input, output) {
    if (input.f === "read") {
      return Array.isArray(output) && sameIds(output, state.ids) ? accept(state) : REJECT;
    }
    if (Array.isArray(output)) return REJECT;
    return stepAppend(state, input.events, input.expected, output as AppendOutput | undefined);
  },
  stepUnknown(state, input) {
    if (input.f === "read") return accept(state);
    // Only an append that would change the stream is worth placing: one without
    // effect (conflict, retry) is the same as leaving it out.
    const { events, expected } = input;
    if (events.length === 0 || !expectationHolds(state.ids.length, expected)) return REJECT;
    if (hasDuplicates(events) || anyPresent(state.ids, events)) return REJECT;
    return accept(extend(state, events));
  },
  readOnly: (input) => input.f === "read",
  equal: (a, b) => a.hash === b.hash && sameIds(a.ids, b.ids),
  hash: (state) => state.hash,
  partition: partitionByStream,
};

function eventIds(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw new TypeError(`${what} must be an array of event ids`);
  return value.map((e, i) => {
    if (typeof e === "string") return e;
    if (typeof e === "object" && e !== null && typeof (e as { id?: unknown }).id === "string") {
      return (e as { id: string }).id;
    }
    throw new TypeError(`${what}[${i}] must be an event id or an object with a string "id"`);
  });
}

function expectedRevision(value: unknown): ExpectedRevision {
  if (value === undefined || value === null) return "any";
  if (value === "any" || value === "no_stream" || value === "stream_exists") return value;
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  throw new TypeError(
    `"expected" must be "any", "no_stream", "stream_exists" or a revision >= 0, got ${
      JSON.stringify(value)
    }`,
  );
}

/**
 * Decodes JSON history records into stream operations. The stream is `key`.
 *
 * - `append`: invoke value `{"events": [...], "expected": ...}` where events are
 *   ids or objects with an `"id"`, and `expected` is optional (default `"any"`);
 *   the `ok` value is `{"revisions": [...]}`, `null` (not recorded), or
 *   `{"error": "wrong_expected_revision"}` for a conflict (which is then checked;
 *   recording a conflict as `"fail"` drops it instead).
 * - `read`: the `ok` value is the stream's events (ids or objects with an `"id"`).
 *
 * @example
 * ```ts
 * import { streamJson } from "./model_stream.ts";
 * const input = streamJson.input({
 *   f: "append",
 *   key: "orders-1",
 *   value: { events: [{ id: "e1", type: "Created" }], expected: "no_stream" },
 * });
 * if (input.f !== "append" || input.events[0] !== "e1") throw new Error("unexpected");
 * ```
 */
export const streamJson: JsonCodec<StreamInput, StreamOutput> = {
  input(call: JsonCall): StreamInput {
    if (typeof call.key !== "string") {
      throw new TypeError(`${call.f} needs a string "key" (the stream)`);
    }
    const stream = call.key;
    switch (call.f) {
      case "read":
        return { f: "read", stream };
      case "append": {
        const v = call.value;
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
          throw new TypeError('append value must be {"events": [...], "expected": ...}');
        }
        const { events, expected } = v as Record<string, unknown>;
        return {
          f: "append",
          stream,
          events: eventIds(events, "append events"),
          expected: expectedRevision(expected),
        };
      }
      default:
        throw new TypeError(`unknown stream function "${call.f}" (expected append, read)`);
    }
  },
  output(input, value) {
    if (input.f === "read") return eventIds(value ?? [], "read result");
    if (value === null || value === undefined) return {};
    if (typeof value !== "object" || Array.isArray(value)) {
      throw new TypeError('append result must be {"revisions": [...]} or {"error": ...}');
    }
    const { revisions, error } = value as Record<string, unknown>;
    if (error !== undefined) {
      if (error !== "wrong_expected_revision") {
        throw new TypeError(`unknown append error ${JSON.stringify(error)}`);
      }
      return { error };
    }
    if (revisions === undefined) return {};
    if (!Array.isArray(revisions) || !revisions.every((r) => Number.isInteger(r))) {
      throw new TypeError('"revisions" must be an array of integers');
    }
    return { revisions };
  },
};
