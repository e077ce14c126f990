/**
 * Errors of the event store. Conditions callers handle are named classes
 * with a stable `code` (the HTTP API's `error` field); bad arguments are
 * `TypeError`/`RangeError` subclasses.
 *
 * @module
 */

import type { CurrentRevision, ExpectedRevision } from "./types.ts";

function describeExpected(e: ExpectedRevision): string {
  return typeof e === "number" ? `expected revision ${e}` : `expected ${e}`;
}

function describeCurrent(c: CurrentRevision): string {
  return c === "no_stream" ? "stream does not exist" : `stream is at ${c}`;
}

/**
 * An append or delete found the stream somewhere other than expected.
 *
 * @example
 * ```ts
 * import { WrongExpectedRevisionError } from "./errors.ts";
 * const e = new WrongExpectedRevisionError("orders-1", 4, 6);
 * console.assert(e.message === "Cannot append to stream orders-1: expected revision 4, stream is at 6");
 * console.assert(e.currentRevision === 6);
 * ```
 */
export class WrongExpectedRevisionError extends Error {
  /** The error code HTTP answers carry in `error`. */
  readonly code = "wrong_expected_revision";
  /** The stream concerned. */
  readonly stream: string;
  /** What the append expected. */
  readonly expectedRevision: ExpectedRevision;
  /** Where the stream was. */
  readonly currentRevision: CurrentRevision;
  /** `action` names what was refused (default "append to"). */
  constructor(
    stream: string,
    expected: ExpectedRevision,
    current: CurrentRevision,
    options: { action?: string } = {},
  ) {
    super(
      `Cannot ${options.action ?? "append to"} stream ${stream}: ${describeExpected(expected)}, ${
        describeCurrent(current)
      }`,
    );
    this.name = "WrongExpectedRevisionError";
    this.stream = stream;
    this.expectedRevision = expected;
    this.currentRevision = current;
  }
}

/**
 * The stream was hard-deleted (tombstoned): it can never be read or written again.
 *
 * @example
 * ```ts
 * import { StreamDeletedError } from "./errors.ts";
 * console.assert(new StreamDeletedError("orders-1", "read").message === "Cannot read stream orders-1: it was deleted");
 * ```
 */
export class StreamDeletedError extends Error {
  /** The error code HTTP answers carry in `error`. */
  readonly code = "stream_deleted";
  /** The stream concerned. */
  readonly stream: string;
  /** `action` names what was refused (default "append to"). */
  constructor(stream: string, action = "append to") {
    super(`Cannot ${action} stream ${stream}: it was deleted`);
    this.name = "StreamDeletedError";
    this.stream = stream;
  }
}

/**
 * The stream does not exist (never written, or soft-deleted with nothing appended since).
 *
 * @example
 * ```ts
 * import { StreamNotFoundError } from "./errors.ts";
 * console.assert(new StreamNotFoundError("orders-9").code === "stream_not_found");
 * ```
 */
export class StreamNotFoundError extends Error {
  /** The error code HTTP answers carry in `error`. */
  readonly code = "stream_not_found";
  /** The stream concerned. */
  readonly stream: string;
  /** `action` names what was refused (default "read"). */
  constructor(stream: string, action = "read") {
    super(`Cannot ${action} stream ${stream}: it does not exist`);
    this.name = "StreamNotFoundError";
    this.stream = stream;
  }
}

/**
 * No readable event at that revision (never written, or removed by deletion or retention).
 *
 * @example
 * ```ts
 * import { EventNotFoundError } from "./errors.ts";
 * console.assert(new EventNotFoundError("orders-1", 7).revision === 7);
 * ```
 */
export class EventNotFoundError extends Error {
  /** The error code HTTP answers carry in `error`. */
  readonly code = "event_not_found";
  /** The stream concerned. */
  readonly stream: string;
  /** The revision asked for. */
  readonly revision: number;
  /** No event at `revision` of `stream`. */
  constructor(stream: string, revision: number) {
    super(`Cannot read event ${revision} of stream ${stream}: there is no such event`);
    this.name = "EventNotFoundError";
    this.stream = stream;
    this.revision = revision;
  }
}

/**
 * Some of an append's event ids already exist but not all of them as the
 * same run in this stream (only a full retry of an earlier append is
 * idempotent), or an id is used by another stream.
 *
 * @example
 * ```ts
 * import { EventIdConflictError } from "./errors.ts";
 * console.assert(new EventIdConflictError("s", "event id e2 is new but e1 exists").code === "event_id_conflict");
 * ```
 */
export class EventIdConflictError extends Error {
  /** The error code HTTP answers carry in `error`. */
  readonly code = "event_id_conflict";
  /** The stream concerned. */
  readonly stream: string;
  /** `detail` says which ids. */
  constructor(stream: string, detail: string) {
    super(`Cannot append to stream ${stream}: ${detail}`);
    this.name = "EventIdConflictError";
    this.stream = stream;
  }
}

/**
 * An event or append is malformed (missing type, bad id, data that is not JSON...).
 *
 * @example
 * ```ts
 * import { InvalidEventError } from "./errors.ts";
 * const e = new InvalidEventError("event 0 has no type");
 * console.assert(e instanceof TypeError && e.code === "invalid_event");
 * ```
 */
export class InvalidEventError extends TypeError {
  /** The error code HTTP answers carry in `error`. */
  readonly code: string = "invalid_event";
  /** `message` says what is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "InvalidEventError";
  }
}

/**
 * A stream name is empty, too long, has characters outside the allowed set, or is reserved (`$`).
 *
 * @example
 * ```ts
 * import { InvalidStreamNameError } from "./errors.ts";
 * console.assert(new InvalidStreamNameError("$x", "reserved").code === "invalid_stream_name");
 * ```
 */
export class InvalidStreamNameError extends TypeError {
  /** The error code HTTP answers carry in `error`. */
  readonly code = "invalid_stream_name";
  /** The stream concerned. */
  readonly stream: string;
  /** `reason` says what is wrong with the name. */
  constructor(stream: string, reason: string) {
    super(`Invalid stream name ${JSON.stringify(stream)}: ${reason}`);
    this.name = "InvalidStreamNameError";
    this.stream = stream;
  }
}

/**
 * An append is larger than the store accepts (bytes or events per append).
 *
 * @example
 * ```ts
 * import { AppendTooLargeError } from "./errors.ts";
 * console.assert(new AppendTooLargeError("s", "2000000 bytes, limit 1048576").code === "too_large");
 * ```
 */
export class AppendTooLargeError extends RangeError {
  /** The error code HTTP answers carry in `error`. */
  readonly code = "too_large";
  /** `detail` gives the size and the limit. */
  constructor(stream: string, detail: string) {
    super(`Cannot append to stream ${stream}: the append is too large (${detail})`);
    this.name = "AppendTooLargeError";
  }
}

/**
 * The store is at its storage quota: appends are refused until retention or
 * deletes free space (deletes and metadata changes still go through), like
 * etcd's NOSPACE alarm.
 *
 * @example
 * ```ts
 * import { StorageQuotaError } from "./errors.ts";
 * const e = new StorageQuotaError(2048, 1024);
 * console.assert(e.code === "quota_exceeded" && e.message.includes("1024"));
 * ```
 */
export class StorageQuotaError extends Error {
  /** The error code HTTP answers carry in `error`. */
  readonly code = "quota_exceeded";
  /** `usedBytes` on disk against the quota of `quotaBytes`. */
  constructor(usedBytes: number, quotaBytes: number) {
    super(
      `The store holds ${usedBytes} bytes on disk, at or over its quota of ${quotaBytes}: ` +
        `appends are refused until retention or deletes free space (deletes and metadata changes still go through)`,
    );
    this.name = "StorageQuotaError";
  }
}

/**
 * No projection (or no state for that key) under this name.
 *
 * @example
 * ```ts
 * import { ProjectionNotFoundError } from "./errors.ts";
 * console.assert(new ProjectionNotFoundError("balances", "acc-1").message.includes("acc-1"));
 * ```
 */
export class ProjectionNotFoundError extends Error {
  /** The error code HTTP answers carry in `error`. */
  readonly code = "projection_not_found";
  /** No projection `name`, or (with `key`) no state for that key. */
  constructor(name: string, key?: string) {
    super(
      key === undefined
        ? `There is no projection named ${name}`
        : `Projection ${name} has no state for key ${key}`,
    );
    this.name = "ProjectionNotFoundError";
  }
}

/**
 * Any error the event store raises for a condition callers handle.
 *
 * @example
 * ```ts
 * import type { EventStoreError } from "./errors.ts";
 * const code = (e: EventStoreError): string => e.code;
 * ```
 */
export type EventStoreError =
  | WrongExpectedRevisionError
  | StreamDeletedError
  | StreamNotFoundError
  | EventNotFoundError
  | EventIdConflictError
  | InvalidEventError
  | InvalidStreamNameError
  | AppendTooLargeError
  | ProjectionNotFoundError;

/**
 * True for errors of the event store (they carry a `code`).
 *
 * @example
 * ```ts
 * import { isEventStoreError, StreamNotFoundError } from "./errors.ts";
 * console.assert(isEventStoreError(new StreamNotFoundError("s")));
 * console.assert(!isEventStoreError(new Error("x")));
 * ```
 */
export function isEventStoreError(e: unknown): e is EventStoreError {
  return e instanceof WrongExpectedRevisionError || e instanceof StreamDeletedError ||
    e instanceof StreamNotFoundError || e instanceof EventNotFoundError ||
    e instanceof EventIdConflictError || e instanceof InvalidEventError ||
    e instanceof InvalidStreamNameError || e instanceof AppendTooLargeError ||
    e instanceof ProjectionNotFoundError;
}
