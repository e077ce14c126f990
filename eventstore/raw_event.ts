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
  readonly id: string;
  readonly stream: string;
  readonly type: string;
  readonly revision: number;
  readonly position: number;
  readonly timestamp: number;
  readonly data: Uint8Array;
  readonly dataIsJson: boolean;
  readonly metadata: Uint8Array;
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
  readonly events: RawEvent[];
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
