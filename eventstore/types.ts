/**
 * The event store's data model: events as written and as recorded, expected
 * revisions, append and read results, stream metadata.
 *
 * @module
 */

/**
 * Where an append expects the stream to be: `any` (no check), `no_stream`
 * (the stream must not exist), `stream_exists` (it must), or the exact
 * revision of its last event.
 *
 * @example
 * ```ts
 * import type { ExpectedRevision } from "./types.ts";
 * const e: ExpectedRevision[] = ["any", "no_stream", "stream_exists", 4];
 * ```
 */
export type ExpectedRevision = "any" | "no_stream" | "stream_exists" | number;

/**
 * A stream's current revision as reported in conflicts: the revision of its
 * last event, or `no_stream` when it does not exist (never written, or
 * soft-deleted with nothing appended since).
 *
 * @example
 * ```ts
 * import type { CurrentRevision } from "./types.ts";
 * const r: CurrentRevision = "no_stream";
 * ```
 */
export type CurrentRevision = number | "no_stream";

/**
 * An event to append. `data` and `metadata` are JSON values, or a
 * `Uint8Array` for opaque bytes; they are stored as bytes in the log. `id`
 * makes retries idempotent; when absent one is generated.
 *
 * @example
 * ```ts
 * import type { EventData } from "./types.ts";
 * const e: EventData = { id: crypto.randomUUID(), type: "OrderPlaced", data: { total: 12 } };
 * ```
 */
export interface EventData {
  /** Unique across the store (a UUID, say); a retry with the same ids writes nothing. Drawn at random when absent. */
  readonly id?: string;
  /** What happened, e.g. `OrderPlaced`: not empty, no control characters. */
  readonly type: string;
  /** The event's body: a JSON value, or a `Uint8Array` of opaque bytes. */
  readonly data?: unknown;
  /** Data about the event (who, why, correlation ids): a JSON value or bytes. */
  readonly metadata?: unknown;
}

/**
 * An event as stored. `revision` counts from 0 in its stream without gaps;
 * `position` counts from 0 across all streams without gaps, in commit order;
 * `timestamp` (ms since the epoch) is the leader's clock when it took the
 * append (or an earlier event's timestamp, if later: timestamps never
 * decrease in position order) and is the same on every node.
 *
 * @example
 * ```ts
 * import type { RecordedEvent } from "./types.ts";
 * const e: RecordedEvent<{ total: number }> = {
 *   id: "e1", stream: "orders-1", type: "OrderPlaced", data: { total: 12 },
 *   metadata: null, revision: 0, position: 0, timestamp: 0,
 * };
 * ```
 */
export interface RecordedEvent<T = unknown> {
  /** The event's id, as sent or as drawn by the node. */
  readonly id: string;
  /** The stream it was appended to. */
  readonly stream: string;
  /** Its type, as sent. */
  readonly type: string;
  /** The JSON value written, or a `Uint8Array` for binary data. */
  readonly data: T;
  /** The JSON value written, a `Uint8Array`, or null when none. */
  readonly metadata: unknown;
  /** Its place in its stream: 0, 1, 2... without gaps. */
  readonly revision: number;
  /** Its place in the whole store, in commit order: 0, 1, 2... without gaps. */
  readonly position: number;
  /** Milliseconds since the epoch, by the leader's clock; the same on every node, never decreasing. */
  readonly timestamp: number;
}

/**
 * The outcome of an append. `position` is the global position of the last
 * event written (the first is `position - (lastRevision - firstRevision)`).
 * `replayed` is true when every event id was already in the stream: nothing
 * was written and the original append's result is returned.
 *
 * @example
 * ```ts
 * import type { AppendResult } from "./types.ts";
 * const r: AppendResult = { stream: "s", firstRevision: 0, lastRevision: 1, position: 9, replayed: false };
 * ```
 */
export interface AppendResult {
  /** The stream appended to. */
  readonly stream: string;
  /** Revision of the first event appended. */
  readonly firstRevision: number;
  /** Revision of the last event appended. */
  readonly lastRevision: number;
  /** Global position of the last event appended. */
  readonly position: number;
  /** True when the events were there already: a retry, answered with the original result. */
  readonly replayed: boolean;
}

/**
 * The outcome of a stream deletion.
 *
 * @example
 * ```ts
 * import type { DeleteResult } from "./types.ts";
 * const r: DeleteResult = { stream: "s", hard: false };
 * ```
 */
export interface DeleteResult {
  /** The stream deleted. */
  readonly stream: string;
  /** True for a tombstone (hard delete), false for a soft delete. */
  readonly hard: boolean;
}

/**
 * Retention rules of a stream, enforced on reads at once and on disk by
 * compaction. `maxAge` is in seconds. Other keys go in `custom`.
 *
 * Events removed by these rules never come back: raising `maxCount` or
 * lowering `truncateBefore` later does not resurrect them.
 *
 * @example
 * ```ts
 * import type { StreamMetadata } from "./types.ts";
 * const m: StreamMetadata = { maxCount: 100, maxAge: 3600, custom: { owner: "billing" } };
 * ```
 */
export interface StreamMetadata {
  /** Keep only the last this many events. */
  readonly maxCount?: number;
  /** Keep only events younger than this many seconds. */
  readonly maxAge?: number;
  /** Drop the events before this revision. */
  readonly truncateBefore?: number;
  /** Anything else, kept and returned as given. */
  readonly custom?: { readonly [key: string]: unknown };
}

/**
 * How fresh a read must be. `local`: this node's applied state. `leader`:
 * served only by the leader (`NotLeaderError` elsewhere). `linearizable`: a
 * read-index round confirms leadership first (Raft thesis §6.4).
 *
 * @example
 * ```ts
 * import type { Consistency } from "./types.ts";
 * const c: Consistency = "linearizable";
 * ```
 */
export type Consistency = "local" | "leader" | "linearizable";

/**
 * Options every read takes.
 *
 * @example
 * ```ts
 * import type { ReadConsistencyOptions } from "./types.ts";
 * const o: ReadConsistencyOptions = { consistency: "local", minPosition: 41 };
 * ```
 */
export interface ReadConsistencyOptions {
  /** Default `local`. */
  readonly consistency?: Consistency;
  /** Wait until this node has applied the event at this global position (read-your-writes on any node). */
  readonly minPosition?: number;
  /** How long to wait for `minPosition` or a read-index round. Default 10,000 ms. */
  readonly timeoutMs?: number;
}

/**
 * Read direction.
 *
 * @example
 * ```ts
 * import type { Direction } from "./types.ts";
 * const d: Direction = "backward";
 * ```
 */
export type Direction = "forward" | "backward";

/**
 * Options of a stream read. `from` is a revision (inclusive); default the
 * first (forward) or last (backward) event.
 *
 * @example
 * ```ts
 * import type { ReadStreamOptions } from "./types.ts";
 * const o: ReadStreamOptions = { from: 10, direction: "backward", limit: 5 };
 * ```
 */
export interface ReadStreamOptions {
  /** First revision to read (inclusive). */
  readonly from?: number;
  /** Default `forward`. */
  readonly direction?: Direction;
  /** Default 100, at most 10,000. */
  readonly limit?: number;
}

/**
 * Options of a read of all streams. `from` is a global position
 * (inclusive). `type` keeps events of these types; `prefix` keeps events of
 * streams whose name starts with it.
 *
 * @example
 * ```ts
 * import type { ReadAllOptions } from "./types.ts";
 * const o: ReadAllOptions = { from: 0, limit: 50, type: "OrderPlaced", prefix: "orders-" };
 * ```
 */
export interface ReadAllOptions {
  /** First global position to read (inclusive). */
  readonly from?: number;
  /** Default `forward`. */
  readonly direction?: Direction;
  /** Most events returned: 1 to 10,000, default 100. */
  readonly limit?: number;
  /** Only events of this type, or of these types. */
  readonly type?: string | readonly string[];
  /** Only events of streams whose name starts with this. */
  readonly prefix?: string;
}

/**
 * Options of a listing of streams. `from` is the `next` of an earlier page
 * (streams are listed in the order they were created, from 0); `prefix` keeps
 * streams whose name starts with it; `limit` is 1 to 10,000 (default 100).
 *
 * @example
 * ```ts
 * import type { ListStreamsOptions } from "./types.ts";
 * const o: ListStreamsOptions = { prefix: "orders-", limit: 50 };
 * ```
 */
export interface ListStreamsOptions {
  /** Only streams whose name starts with this. */
  readonly prefix?: string;
  /** Where to start: the `next` of the previous page (default 0, the first stream created). */
  readonly from?: number;
  /** Most streams returned: 1 to 10,000, default 100. */
  readonly limit?: number;
}

/**
 * A page of streams that exist (a read would find them), in the order they
 * were created, each with its last revision. `next` is the `from` of the
 * following page, or null when the listing reached the last stream.
 *
 * @example
 * ```ts
 * import type { StreamList } from "./types.ts";
 * const l: StreamList = { streams: [{ stream: "orders-1", revision: 4 }], next: null };
 * ```
 */
export interface StreamList {
  /** Each stream's name and the revision of its last event. */
  readonly streams: { readonly stream: string; readonly revision: number }[];
  /** The `from` of the next page, or null after the last stream. */
  readonly next: number | null;
}

/**
 * A page of events. `next` is the `from` of the following page, or null when
 * the read reached the end (forward) or the beginning (backward).
 *
 * @example
 * ```ts
 * import type { ReadResult } from "./types.ts";
 * const r: ReadResult = { events: [], next: null };
 * ```
 */
export interface ReadResult<T = unknown> {
  /** The events, in the read's direction. */
  readonly events: RecordedEvent<T>[];
  /** The `from` of the next page, or null at the end (or the beginning, backward). */
  readonly next: number | null;
}
