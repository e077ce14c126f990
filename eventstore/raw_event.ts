/**
 * Events as the state machine reads them from the log, with their bodies
 * still as bytes, and how to parse them.
 *
 * @module
 */

import { decodeBody } from "./commands.ts";
import type { RecordedEvent } from "./types.ts";

/**
 * An event as read from the log, with its bodies still as bytes (the HTTP
 * layer writes JSON bodies out without parsing them).
 *
 * @example
 * ```ts
 * import type { RawEvent } from "./state_machine.ts";
 * const e: RawEvent = {
 *   id: "a", stream: "s", type: "T", revision: 0, position: 0, timestamp: 0,
 *   data: new Uint8Array(), dataIsJson: true, metadata: new Uint8Array(), metadataIsJson: true,
 * };
 * ```
 */
export interface RawEvent {
  /** The event's id. */
  readonly id: string;
  /** Its stream. */
  readonly stream: string;
  /** Its type. */
  readonly type: string;
  /** Its place in its stream, from 0. */
  readonly revision: number;
  /** Its place in the whole store, from 0. */
  readonly position: number;
  /** Milliseconds since the epoch, by the leader's clock. */
  readonly timestamp: number;
  /** The body's bytes as stored. */
  readonly data: Uint8Array;
  /** Whether `data` is JSON text (else opaque bytes). */
  readonly dataIsJson: boolean;
  /** The metadata's bytes as stored (empty when none). */
  readonly metadata: Uint8Array;
  /** Whether `metadata` is JSON text (else opaque bytes). */
  readonly metadataIsJson: boolean;
}

/**
 * A page of raw events; `next` as in `ReadResult`.
 *
 * @example
 * ```ts
 * import type { RawReadResult } from "./state_machine.ts";
 * const r: RawReadResult = { events: [], next: null };
 * ```
 */
export interface RawReadResult {
  /** The events, in the read's direction. */
  readonly events: RawEvent[];
  /** The `from` of the next page, or null at the end. */
  readonly next: number | null;
}

/**
 * Parses a raw event's bodies.
 *
 * @example
 * ```ts
 * import { toRecordedEvent } from "./state_machine.ts";
 * const e = toRecordedEvent({
 *   id: "a", stream: "s", type: "T", revision: 0, position: 0, timestamp: 0,
 *   data: new TextEncoder().encode('{"x":1}'), dataIsJson: true, metadata: new Uint8Array(), metadataIsJson: true,
 * });
 * console.assert((e.data as { x: number }).x === 1 && e.metadata === null);
 * ```
 */
export function toRecordedEvent<T = unknown>(e: RawEvent): RecordedEvent<T> {
  return {
    id: e.id,
    stream: e.stream,
    type: e.type,
    data: decodeBody(e.data, e.dataIsJson) as T,
    metadata: decodeBody(e.metadata, e.metadataIsJson),
    revision: e.revision,
    position: e.position,
    timestamp: e.timestamp,
  };
}
