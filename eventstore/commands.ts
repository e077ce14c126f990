/**
 * The event store's commands as they are stored in the Raft log (inside the
 * node's envelope, which adds the proposal id and timestamp).
 *
 * Binary and little-endian, so applying a 100-event append is a walk over
 * length-prefixed fields with no parsing of event bodies:
 *
 * ```
 * append    u8 1 | u16 streamLen | stream | f64 expected | u32 count | event * count
 * event     u8 flags | u8 idLen | id | u8 typeLen | type | u32 dataLen | data | u32 metaLen | metadata
 * delete    u8 2 | u16 streamLen | stream | f64 expected | u8 hard
 * metadata  u8 3 | u16 streamLen | stream | u32 len | metadata JSON
 * ```
 *
 * Strings are UTF-8. `expected` is the code from `expected_revision.ts`.
 * Event `flags`: bit 0 = data is JSON text (else opaque bytes), bit 1 = the
 * same for metadata, bit 2 = the id is a random UUID the encoding node drew
 * (see {@link ID_RANDOM}). JSON data of length 0 means `null`. An event is read
 * back from the log by the byte offset of its record in the command, which
 * the state machine's index keeps.
 *
 * @module
 */

import { ByteReader, ByteWriter, fromUtf8, utf8, utf8Length, writeUtf8 } from "./_bytes.ts";
import { AppendTooLargeError, InvalidEventError } from "./errors.ts";
import { decodeExpectedRevision, encodeExpectedRevision } from "./expected_revision.ts";
import { validateStreamName } from "./stream_name.ts";
import type { EventData, ExpectedRevision, StreamMetadata } from "./types.ts";

/**
 * Command kinds (first byte).
 *
 * @example
 * ```ts
 * import { APPEND, encodeAppend, prepareEvent } from "./commands.ts";
 * console.assert(encodeAppend("s", [prepareEvent({ type: "T" })])[0] === APPEND);
 * ```
 */
export const APPEND = 1;
/**
 * See {@link APPEND}.
 *
 * @example
 * ```ts
 * import { DELETE, encodeDelete } from "./commands.ts";
 * console.assert(encodeDelete("s")[0] === DELETE);
 * ```
 */
export const DELETE = 2;
/**
 * See {@link APPEND}.
 *
 * @example
 * ```ts
 * import { encodeSetMetadata, SET_METADATA } from "./commands.ts";
 * console.assert(encodeSetMetadata("s", {})[0] === SET_METADATA);
 * ```
 */
export const SET_METADATA = 3;

/**
 * Event flag: data is JSON text.
 *
 * @example
 * ```ts
 * import { DATA_JSON } from "./commands.ts";
 * console.assert((3 & DATA_JSON) !== 0);
 * ```
 */
export const DATA_JSON = 1;
/**
 * Event flag: metadata is JSON text.
 *
 * @example
 * ```ts
 * import { META_JSON } from "./commands.ts";
 * console.assert((3 & META_JSON) !== 0);
 * ```
 */
export const META_JSON = 2;
/**
 * Event flag: the id is a random (version 4) UUID that the node encoding the
 * append drew, not one the client chose. No earlier event can hold it (two
 * random UUIDs meet with odds of 2^-122), so applying the append does not
 * look it up in the idempotency index, a lookup that costs a cache miss or
 * more once the index is large. The id is still indexed: a later append
 * naming it is a retry or a conflict, as for any id.
 *
 * @example
 * ```ts
 * import { encodeAppendEvents, EventRecordCursor, ID_RANDOM } from "./commands.ts";
 * const bytes = encodeAppendEvents("s", [{ type: "T" }, { id: "mine", type: "T" }]);
 * const cur = new EventRecordCursor(bytes);
 * const first = cur.read(cur.header().firstRecord);
 * console.assert((first.flags & ID_RANDOM) !== 0);
 * console.assert((cur.read(first.end).flags & ID_RANDOM) === 0);
 * ```
 */
export const ID_RANDOM = 4;

/**
 * Longest event id, in UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { MAX_EVENT_ID_BYTES } from "./commands.ts";
 * console.assert(crypto.randomUUID().length <= MAX_EVENT_ID_BYTES);
 * ```
 */
export const MAX_EVENT_ID_BYTES = 128;
/**
 * Longest event type, in UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { MAX_EVENT_TYPE_BYTES } from "./commands.ts";
 * console.assert(MAX_EVENT_TYPE_BYTES === 200);
 * ```
 */
export const MAX_EVENT_TYPE_BYTES = 200;

/**
 * An event validated and serialized for the log.
 *
 * @example
 * ```ts
 * import { prepareEvent } from "./commands.ts";
 * const p = prepareEvent({ id: "e1", type: "T", data: { a: 1 } });
 * console.assert(p.dataIsJson && new TextDecoder().decode(p.data) === '{"a":1}');
 * ```
 */
export interface PreparedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: Uint8Array;
  readonly dataIsJson: boolean;
  readonly metadata: Uint8Array;
  readonly metadataIsJson: boolean;
}

/**
 * A decoded append.
 *
 * @example
 * ```ts
 * import { decodeCommand, encodeAppend, prepareEvent } from "./commands.ts";
 * const c = decodeCommand(encodeAppend("s", [prepareEvent({ type: "T" })]));
 * if (c.kind === "append") console.assert(c.events.length === 1);
 * ```
 */
export interface AppendCommand {
  readonly kind: "append";
  readonly stream: string;
  readonly expectedRevision: ExpectedRevision;
  readonly events: readonly PreparedEvent[];
}

/**
 * A decoded delete.
 *
 * @example
 * ```ts
 * import type { DeleteCommand } from "./commands.ts";
 * const c: DeleteCommand = { kind: "delete", stream: "s", expectedRevision: "any", hard: false };
 * ```
 */
export interface DeleteCommand {
  readonly kind: "delete";
  readonly stream: string;
  readonly expectedRevision: ExpectedRevision;
  readonly hard: boolean;
}

/**
 * A decoded metadata write.
 *
 * @example
 * ```ts
 * import type { SetMetadataCommand } from "./commands.ts";
 * const c: SetMetadataCommand = { kind: "metadata", stream: "s", metadata: { maxCount: 3 } };
 * ```
 */
export interface SetMetadataCommand {
  readonly kind: "metadata";
  readonly stream: string;
  readonly metadata: StreamMetadata;
}

/**
 * Any command.
 *
 * @example
 * ```ts
 * import type { Command } from "./commands.ts";
 * const kind = (c: Command): string => c.kind;
 * ```
 */
export type Command = AppendCommand | DeleteCommand | SetMetadataCommand;

const EMPTY = new Uint8Array(0);

function hasControlOrLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
    // An unpaired surrogate has no UTF-8 form: it would be stored as U+FFFD, and two ids
    // that differ only there would become one.
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c >= 0xdc00 || !(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++;
    }
  }
  return false;
}

function jsonBytes(v: unknown, what: string): { bytes: Uint8Array; json: boolean } {
  if (v === undefined || v === null) return { bytes: EMPTY, json: true };
  if (v instanceof Uint8Array) return { bytes: v, json: false };
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch (e) {
    throw new InvalidEventError(
      `${what} is not JSON-serializable: ${e instanceof Error ? e.message : e}`,
    );
  }
  if (text === undefined) throw new InvalidEventError(`${what} is not a JSON value`);
  return { bytes: utf8(text), json: true };
}

/**
 * Validates an event and serializes its data; generates an id when it has none.
 * Throws {@link InvalidEventError}. `index` names the event in messages.
 *
 * @example
 * ```ts
 * import { prepareEvent } from "./commands.ts";
 * const p = prepareEvent({ type: "Opened" });
 * console.assert(p.id.length === 36 && p.data.length === 0);
 * ```
 */
export function prepareEvent(e: EventData, index = 0): PreparedEvent {
  if (e === null || typeof e !== "object") {
    throw new InvalidEventError(`Event ${index} is not an object`);
  }
  const id = e.id ?? crypto.randomUUID();
  if (typeof id !== "string" || id.length === 0) {
    throw new InvalidEventError(`Event ${index} has an empty or non-string id`);
  }
  if (utf8Length(id) > MAX_EVENT_ID_BYTES || hasControlOrLoneSurrogate(id)) {
    throw new InvalidEventError(
      `Event ${index} id ${
        JSON.stringify(id)
      } is longer than ${MAX_EVENT_ID_BYTES} bytes or has control characters or unpaired surrogates`,
    );
  }
  const type = e.type;
  if (typeof type !== "string" || type.length === 0) {
    throw new InvalidEventError(`Event ${index} has no type`);
  }
  if (type.startsWith("$")) {
    throw new InvalidEventError(`Event ${index} type ${type} starts with $, which is reserved`);
  }
  if (utf8Length(type) > MAX_EVENT_TYPE_BYTES || hasControlOrLoneSurrogate(type)) {
    throw new InvalidEventError(
      `Event ${index} type is longer than ${MAX_EVENT_TYPE_BYTES} bytes or has control characters or unpaired surrogates`,
    );
  }
  const d = jsonBytes(e.data, `Event ${index} data`);
  const m = jsonBytes(e.metadata, `Event ${index} metadata`);
  return {
    id,
    type,
    data: d.bytes,
    dataIsJson: d.json,
    metadata: m.bytes,
    metadataIsJson: m.json,
  };
}

/**
 * Limits checked by {@link encodeAppend}.
 *
 * @example
 * ```ts
 * import type { AppendLimits } from "./commands.ts";
 * const l: AppendLimits = { maxBytes: 1 << 20, maxEvents: 500 };
 * ```
 */
export interface AppendLimits {
  /** Largest encoded append, in bytes. Default 4 MiB. */
  readonly maxBytes?: number;
  /** Most events in one append. Default 10,000. */
  readonly maxEvents?: number;
}

/**
 * Encodes an append of prepared events. Throws {@link InvalidEventError} for
 * an empty append or duplicate ids, {@link AppendTooLargeError} over the limits.
 *
 * @example
 * ```ts
 * import { decodeCommand, encodeAppend, prepareEvent } from "./commands.ts";
 * const bytes = encodeAppend("orders-1", [prepareEvent({ id: "a", type: "T" })], { expectedRevision: "no_stream" });
 * const cmd = decodeCommand(bytes);
 * console.assert(cmd.kind === "append" && cmd.events[0]!.id === "a");
 * ```
 */
export function encodeAppend(
  stream: string,
  events: readonly PreparedEvent[],
  options: { expectedRevision?: ExpectedRevision } & AppendLimits = {},
): Uint8Array {
  validateStreamName(stream);
  const maxEvents = options.maxEvents ?? 10_000;
  const maxBytes = options.maxBytes ?? 4 << 20;
  if (events.length === 0) throw new InvalidEventError(`An append to ${stream} has no events`);
  if (events.length > maxEvents) {
    throw new AppendTooLargeError(stream, `${events.length} events, limit ${maxEvents}`);
  }
  const s = utf8(stream);
  const ids = new Set<string>();
  // Byte lengths of ids and types; they are written straight into the output below.
  const lens = new Uint8Array(events.length * 2);
  let size = 1 + 2 + s.length + 8 + 4;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (ids.has(e.id)) {
      throw new InvalidEventError(`Event id ${e.id} appears twice in one append to ${stream}`);
    }
    ids.add(e.id);
    const idLen = utf8Length(e.id), typeLen = utf8Length(e.type);
    if (idLen > 255 || typeLen > 255) {
      throw new InvalidEventError(
        `Event ${i} of an append to ${stream} has an id or type too long`,
      );
    }
    lens[2 * i] = idLen;
    lens[2 * i + 1] = typeLen;
    size += 1 + 1 + idLen + 1 + typeLen + 4 + e.data.length + 4 + e.metadata.length;
  }
  if (size > maxBytes) throw new AppendTooLargeError(stream, `${size} bytes, limit ${maxBytes}`);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let p = 0;
  out[p++] = APPEND;
  view.setUint16(p, s.length, true);
  p += 2;
  out.set(s, p);
  p += s.length;
  view.setFloat64(p, encodeExpectedRevision(options.expectedRevision ?? "any"), true);
  p += 8;
  view.setUint32(p, events.length, true);
  p += 4;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    out[p++] = (e.dataIsJson ? DATA_JSON : 0) | (e.metadataIsJson ? META_JSON : 0);
    out[p++] = lens[2 * i]!;
    p += writeUtf8(e.id, out, p);
    out[p++] = lens[2 * i + 1]!;
    p += writeUtf8(e.type, out, p);
    view.setUint32(p, e.data.length, true);
    p += 4;
    out.set(e.data, p);
    p += e.data.length;
    view.setUint32(p, e.metadata.length, true);
    p += 4;
    out.set(e.metadata, p);
    p += e.metadata.length;
  }
  return out;
}

/** Reused by {@link encodeAppendEvents}; it grows as needed and is copied out of. */
let scratch = new Uint8Array(64 * 1024);
let scratchView = new DataView(scratch.buffer);
const textEncoder = new TextEncoder();

/** Makes `scratch` hold at least `need` bytes, keeping the first `keep`. */
function reserve(need: number, keep: number): void {
  if (need <= scratch.length) return;
  const grown = new Uint8Array(Math.max(need, scratch.length * 2));
  grown.set(scratch.subarray(0, keep));
  scratch = grown;
  scratchView = new DataView(grown.buffer);
}

/** Writes a short string after a u8 length byte; returns its byte length. */
function writeShort(s: string, at: number): number {
  // A UTF-16 unit is at most 3 UTF-8 bytes.
  reserve(at + 1 + 3 * s.length, at);
  const n = writeUtf8(s, scratch, at + 1);
  scratch[at] = n & 0xff;
  return n;
}

/** Writes a u32 length and the body; returns the new position. */
function writeBody(v: unknown, what: string, at: number): { end: number; json: boolean } {
  if (v === undefined || v === null) {
    reserve(at + 4, at);
    scratchView.setUint32(at, 0, true);
    return { end: at + 4, json: true };
  }
  if (v instanceof Uint8Array) {
    reserve(at + 4 + v.length, at);
    scratchView.setUint32(at, v.length, true);
    scratch.set(v, at + 4);
    return { end: at + 4 + v.length, json: false };
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch (e) {
    throw new InvalidEventError(
      `${what} is not JSON-serializable: ${e instanceof Error ? e.message : e}`,
    );
  }
  if (text === undefined) throw new InvalidEventError(`${what} is not a JSON value`);
  reserve(at + 4 + 3 * text.length, at);
  const n = text.length <= 256
    ? writeUtf8(text, scratch, at + 4)
    : textEncoder.encodeInto(text, scratch.subarray(at + 4)).written;
  scratchView.setUint32(at, n, true);
  return { end: at + 4 + n, json: true };
}

/** Placeholders for the binary fields of a record, overwritten after encoding. */
const NUL2 = "\0\0", NUL1 = "\0", NUL4 = "\0\0\0\0";
const STRIDE = 8;
/** Reused by {@link encodeAsciiAppend} for the offsets of each record. */
let layout = new Float64Array(STRIDE * 256);
const UNCHECKED = Symbol("unchecked");

/**
 * The common case of {@link encodeAppendEvents}, several times faster: valid
 * events whose ids, types and JSON bodies are ASCII. The records are built as
 * one string, NUL placeholders standing for the binary fields, and encoded
 * with one `encodeInto`; as the text is ASCII, character offsets are byte
 * offsets, so the lengths are then written over the placeholders. Returns
 * undefined for anything else (non-ASCII, byte bodies, invalid events, over
 * the limit), and the caller takes the general path, which also throws the
 * errors: this one never throws.
 */
function encodeAsciiAppend(
  stream: string,
  events: readonly EventData[],
  expected: number,
  maxBytes: number,
): Uint8Array | undefined {
  const n = events.length;
  const parts: string[] = [];
  for (let i = 0; i < stream.length; i++) if (stream.charCodeAt(i) > 0x7f) return undefined;
  // Per event: offset of its flags byte, id and type lengths, offset of the data length,
  // data length, offset of the metadata length, metadata length (offsets from the start
  // of the records; in characters, which are bytes when the text is ASCII), and whether
  // the id was drawn here.
  if (layout.length < n * STRIDE) {
    layout = new Float64Array(Math.max(n * STRIDE, 2 * layout.length));
  }
  const at = layout;
  const ids = new Set<string>();
  let pos = 0;
  // A type equal to the one checked before needs no check (appends mostly repeat one).
  let lastType: unknown = UNCHECKED;
  for (let k = 0; k < n; k++) {
    const e = events[k];
    if (e === null || typeof e !== "object") return undefined;
    let id = e.id;
    // Random UUIDs are unique: only ids the caller chose need the duplicate check
    // (hashing a fresh string into a Set costs more than the rest of the event).
    const drawn = id === undefined;
    if (drawn) id = crypto.randomUUID();
    else {
      if (
        typeof id !== "string" || id.length === 0 || id.length > MAX_EVENT_ID_BYTES ||
        hasControlOrLoneSurrogate(id)
      ) return undefined;
      if (n > 1) {
        if (ids.has(id)) return undefined;
        ids.add(id);
      }
    }
    const type = e.type;
    if (type !== lastType) {
      if (
        typeof type !== "string" || type.length === 0 || type.length > MAX_EVENT_TYPE_BYTES ||
        type.charCodeAt(0) === 0x24 || hasControlOrLoneSurrogate(type)
      ) return undefined;
      lastType = type;
    }
    const d = e.data, m = e.metadata;
    let data = "", meta = "";
    try {
      if (d !== undefined && d !== null) {
        if (d instanceof Uint8Array) return undefined;
        const t = JSON.stringify(d);
        if (t === undefined) return undefined;
        data = t;
      }
      if (m !== undefined && m !== null) {
        if (m instanceof Uint8Array) return undefined;
        const t = JSON.stringify(m);
        if (t === undefined) return undefined;
        meta = t;
      }
    } catch {
      return undefined;
    }
    const b = STRIDE * k;
    at[b] = pos;
    at[b + 1] = id.length;
    at[b + 2] = type.length;
    at[b + 3] = pos + 2 + id.length + 1 + type.length;
    at[b + 4] = data.length;
    at[b + 5] = at[b + 3]! + 4 + data.length;
    at[b + 6] = meta.length;
    at[b + 7] = drawn ? ID_RANDOM : 0;
    parts.push(NUL2, id, NUL1, type, NUL4, data, NUL4, meta);
    pos = at[b + 5]! + 4 + meta.length;
  }
  const head = 1 + 2 + stream.length + 8 + 4;
  if (head + pos > maxBytes) return undefined;
  const text = parts.join("");
  reserve(head + pos, 0);
  const r = textEncoder.encodeInto(text, scratch.subarray(head));
  if (r.written !== text.length || r.read !== text.length) return undefined; // Not ASCII.
  for (let i = 0; i < stream.length; i++) scratch[3 + i] = stream.charCodeAt(i);
  scratch[0] = APPEND;
  scratchView.setUint16(1, stream.length, true);
  scratchView.setFloat64(3 + stream.length, expected, true);
  scratchView.setUint32(3 + stream.length + 8, n, true);
  for (let k = 0; k < n; k++) {
    const b = STRIDE * k, f = head + at[b]!;
    scratch[f] = DATA_JSON | META_JSON | at[b + 7]!; // Byte bodies took the general path.
    scratch[f + 1] = at[b + 1]!;
    scratch[f + 2 + at[b + 1]!] = at[b + 2]!;
    scratchView.setUint32(head + at[b + 3]!, at[b + 4]!, true);
    scratchView.setUint32(head + at[b + 5]!, at[b + 6]!, true);
  }
  return scratch.subarray(0, head + pos);
}

/**
 * Validates events and encodes them as one append, in one pass: the same
 * checks and the same bytes as {@link prepareEvent} then {@link encodeAppend},
 * without a buffer per event (allocating small buffers costs more than
 * encoding them). Events without an id get a random UUID.
 *
 * @example
 * ```ts
 * import { decodeCommand, encodeAppendEvents } from "./commands.ts";
 * const bytes = encodeAppendEvents("orders-1", [{ id: "a", type: "Placed", data: { n: 1 } }]);
 * const cmd = decodeCommand(bytes);
 * console.assert(cmd.kind === "append" && cmd.events[0]!.type === "Placed");
 * ```
 */
export function encodeAppendEvents(
  stream: string,
  events: readonly EventData[],
  options: { expectedRevision?: ExpectedRevision } & AppendLimits = {},
): Uint8Array {
  return encodeAppendEventsView(stream, events, options).slice();
}

/**
 * {@link encodeAppendEvents} without the copy: the bytes are a view of a
 * buffer that the next encoding overwrites, for a caller that copies them at
 * once (a new buffer costs more than encoding a small event).
 *
 * @example
 * ```ts
 * import { decodeCommand, encodeAppendEventsView } from "./commands.ts";
 * const view = encodeAppendEventsView("s", [{ id: "a", type: "T" }]);
 * console.assert(decodeCommand(view.slice()).kind === "append");
 * ```
 */
export function encodeAppendEventsView(
  stream: string,
  events: readonly EventData[],
  options: { expectedRevision?: ExpectedRevision } & AppendLimits = {},
): Uint8Array {
  validateStreamName(stream);
  const maxEvents = options.maxEvents ?? 10_000;
  const maxBytes = options.maxBytes ?? 4 << 20;
  if (events.length === 0) throw new InvalidEventError(`An append to ${stream} has no events`);
  if (events.length > maxEvents) {
    throw new AppendTooLargeError(stream, `${events.length} events, limit ${maxEvents}`);
  }
  const expected = encodeExpectedRevision(options.expectedRevision ?? "any");
  const fast = encodeAsciiAppend(stream, events, expected, maxBytes);
  if (fast !== undefined) return fast;
  const ids = new Set<string>();
  reserve(1 + 2 + 3 * stream.length + 8 + 4, 0);
  let p = 0;
  scratch[p++] = APPEND;
  const sLen = writeUtf8(stream, scratch, p + 2);
  scratchView.setUint16(p, sLen, true);
  p += 2 + sLen;
  scratchView.setFloat64(p, expected, true);
  p += 8;
  scratchView.setUint32(p, events.length, true);
  p += 4;
  for (let index = 0; index < events.length; index++) {
    const e = events[index]!;
    if (e === null || typeof e !== "object") {
      throw new InvalidEventError(`Event ${index} is not an object`);
    }
    const id = e.id ?? crypto.randomUUID();
    if (typeof id !== "string" || id.length === 0) {
      throw new InvalidEventError(`Event ${index} has an empty or non-string id`);
    }
    const type = e.type;
    if (typeof type !== "string" || type.length === 0) {
      throw new InvalidEventError(`Event ${index} has no type`);
    }
    if (type.startsWith("$")) {
      throw new InvalidEventError(`Event ${index} type ${type} starts with $, which is reserved`);
    }
    if (e.id !== undefined) {
      if (ids.has(id)) {
        throw new InvalidEventError(`Event id ${id} appears twice in one append to ${stream}`);
      }
      ids.add(id);
    }
    const flagsAt = p++;
    const idLen = writeShort(id, p);
    if (idLen > MAX_EVENT_ID_BYTES || hasControlOrLoneSurrogate(id)) {
      throw new InvalidEventError(
        `Event ${index} id ${
          JSON.stringify(id)
        } is longer than ${MAX_EVENT_ID_BYTES} bytes or has control characters or unpaired surrogates`,
      );
    }
    p += 1 + idLen;
    const typeLen = writeShort(type, p);
    if (typeLen > MAX_EVENT_TYPE_BYTES || hasControlOrLoneSurrogate(type)) {
      throw new InvalidEventError(
        `Event ${index} type is longer than ${MAX_EVENT_TYPE_BYTES} bytes or has control characters or unpaired surrogates`,
      );
    }
    p += 1 + typeLen;
    const d = writeBody(e.data, `Event ${index} data`, p);
    const m = writeBody(e.metadata, `Event ${index} metadata`, d.end);
    p = m.end;
    scratch[flagsAt] = (d.json ? DATA_JSON : 0) | (m.json ? META_JSON : 0) |
      (e.id === undefined || e.id === null ? ID_RANDOM : 0); // As drawn above (`??`).
    if (p > maxBytes) {
      throw new AppendTooLargeError(stream, `more than ${maxBytes} bytes, limit ${maxBytes}`);
    }
  }
  return scratch.subarray(0, p);
}

/**
 * Encodes a stream deletion (soft unless `hard`).
 *
 * @example
 * ```ts
 * import { decodeCommand, encodeDelete } from "./commands.ts";
 * const cmd = decodeCommand(encodeDelete("orders-1", { hard: true }));
 * console.assert(cmd.kind === "delete" && cmd.hard);
 * ```
 */
export function encodeDelete(
  stream: string,
  options: { hard?: boolean; expectedRevision?: ExpectedRevision } = {},
): Uint8Array {
  validateStreamName(stream);
  const w = new ByteWriter(64);
  w.u8(DELETE);
  const s = utf8(stream);
  w.u16(s.length);
  w.raw(s);
  w.f64(encodeExpectedRevision(options.expectedRevision ?? "any"));
  w.u8(options.hard ? 1 : 0);
  return w.finish();
}

/**
 * Throws `TypeError`/`RangeError` unless `m` is valid stream metadata.
 *
 * @example
 * ```ts
 * import { validateStreamMetadata } from "./commands.ts";
 * validateStreamMetadata({ maxCount: 10 });
 * let bad = false;
 * try { validateStreamMetadata({ maxCount: 0 }); } catch { bad = true; }
 * console.assert(bad);
 * ```
 */
export function validateStreamMetadata(m: StreamMetadata): void {
  if (m === null || typeof m !== "object") throw new TypeError("Stream metadata must be an object");
  const pos = (v: unknown, name: string, min: number) => {
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      throw new RangeError(`Stream metadata ${name} must be an integer >= ${min}, got ${v}`);
    }
  };
  pos(m.maxCount, "maxCount", 1);
  pos(m.maxAge, "maxAge", 1);
  pos(m.truncateBefore, "truncateBefore", 0);
  if (m.custom !== undefined && (m.custom === null || typeof m.custom !== "object")) {
    throw new TypeError("Stream metadata custom must be an object");
  }
}

/**
 * Encodes a stream metadata write (it replaces the previous metadata).
 *
 * @example
 * ```ts
 * import { decodeCommand, encodeSetMetadata } from "./commands.ts";
 * const cmd = decodeCommand(encodeSetMetadata("orders-1", { maxCount: 3 }));
 * console.assert(cmd.kind === "metadata" && cmd.metadata.maxCount === 3);
 * ```
 */
export function encodeSetMetadata(stream: string, metadata: StreamMetadata): Uint8Array {
  validateStreamName(stream);
  validateStreamMetadata(metadata);
  const w = new ByteWriter(128);
  w.u8(SET_METADATA);
  const s = utf8(stream);
  w.u16(s.length);
  w.raw(s);
  const clean: Record<string, unknown> = {};
  if (metadata.maxCount !== undefined) clean.maxCount = metadata.maxCount;
  if (metadata.maxAge !== undefined) clean.maxAge = metadata.maxAge;
  if (metadata.truncateBefore !== undefined) clean.truncateBefore = metadata.truncateBefore;
  if (metadata.custom !== undefined) clean.custom = metadata.custom;
  w.string(JSON.stringify(clean));
  return w.finish();
}

/**
 * One event record inside an append, located by byte offsets (no copies).
 * Reused by {@link EventRecordCursor} for allocation-free walks.
 *
 * @example
 * ```ts
 * import { EventRecordCursor, encodeAppend, prepareEvent } from "./commands.ts";
 * const bytes = encodeAppend("s", [prepareEvent({ id: "a", type: "T" })]);
 * const c = new EventRecordCursor(bytes);
 * console.assert(c.read(c.header().firstRecord).idLen === 1);
 * ```
 */
export interface EventRecordView {
  /** Offset of the record (what the index stores). */
  offset: number;
  flags: number;
  idStart: number;
  idLen: number;
  typeStart: number;
  typeLen: number;
  dataStart: number;
  dataLen: number;
  metaStart: number;
  metaLen: number;
  /** Offset just past the record. */
  end: number;
}

/**
 * Walks the event records of an append payload without allocating.
 * Throws `RangeError` when a record runs past the payload.
 *
 * @example
 * ```ts
 * import { EventRecordCursor, encodeAppend, prepareEvent } from "./commands.ts";
 * const bytes = encodeAppend("s", [prepareEvent({ id: "a", type: "T" }), prepareEvent({ id: "b", type: "U" })]);
 * const c = new EventRecordCursor(bytes);
 * const header = c.header();
 * let n = 0;
 * for (let off = header.firstRecord; n < header.count; n++) off = c.read(off).end;
 * console.assert(n === 2 && header.stream === "s");
 * ```
 */
export class EventRecordCursor {
  readonly payload: Uint8Array;
  readonly #view: DataView;
  /** The last record read. */
  readonly rec: EventRecordView = {
    offset: 0,
    flags: 0,
    idStart: 0,
    idLen: 0,
    typeStart: 0,
    typeLen: 0,
    dataStart: 0,
    dataLen: 0,
    metaStart: 0,
    metaLen: 0,
    end: 0,
  };

  constructor(payload: Uint8Array) {
    this.payload = payload;
    this.#view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  }

  /** Decodes the append header. Throws `RangeError` if this is not an append. */
  header(): { stream: string; expected: ExpectedRevision; count: number; firstRecord: number } {
    const b = this.payload;
    if (b.length < 15 || b[0] !== APPEND) throw new RangeError("Not an append command");
    const sl = this.#view.getUint16(1, true);
    if (3 + sl + 12 > b.length) throw new RangeError("Append header is truncated");
    const stream = fromUtf8(b, 3, 3 + sl);
    const expected = decodeExpectedRevision(this.#view.getFloat64(3 + sl, true));
    const count = this.#view.getUint32(3 + sl + 8, true);
    return { stream, expected, count, firstRecord: 3 + sl + 12 };
  }

  /** Reads the record at `offset` into {@link EventRecordCursor.rec} and returns it. */
  read(offset: number): EventRecordView {
    const b = this.payload, v = this.#view, r = this.rec;
    const n = b.length;
    if (offset + 2 > n) throw new RangeError(`Event record at ${offset} is truncated`);
    r.offset = offset;
    r.flags = b[offset]!;
    r.idLen = b[offset + 1]!;
    r.idStart = offset + 2;
    let p = r.idStart + r.idLen;
    if (p + 1 > n) throw new RangeError(`Event record at ${offset} is truncated`);
    r.typeLen = b[p]!;
    r.typeStart = p + 1;
    p = r.typeStart + r.typeLen;
    if (p + 4 > n) throw new RangeError(`Event record at ${offset} is truncated`);
    r.dataLen = v.getUint32(p, true);
    r.dataStart = p + 4;
    p = r.dataStart + r.dataLen;
    if (p + 4 > n) throw new RangeError(`Event record at ${offset} is truncated`);
    r.metaLen = v.getUint32(p, true);
    r.metaStart = p + 4;
    r.end = r.metaStart + r.metaLen;
    if (r.end > n) throw new RangeError(`Event record at ${offset} is truncated`);
    return r;
  }
}

/**
 * Decodes the event record at `offset` of an append payload.
 *
 * @example
 * ```ts
 * import { decodeEventAt, encodeAppend, prepareEvent } from "./commands.ts";
 * const bytes = encodeAppend("s", [prepareEvent({ id: "a", type: "T", data: [1] })]);
 * const e = decodeEventAt(bytes, 1 + 2 + 1 + 8 + 4);
 * console.assert(e.id === "a" && e.type === "T");
 * ```
 */
export function decodeEventAt(payload: Uint8Array, offset: number): PreparedEvent {
  const r = new EventRecordCursor(payload).read(offset);
  return {
    id: fromUtf8(payload, r.idStart, r.idStart + r.idLen),
    type: fromUtf8(payload, r.typeStart, r.typeStart + r.typeLen),
    data: payload.subarray(r.dataStart, r.dataStart + r.dataLen),
    dataIsJson: (r.flags & DATA_JSON) !== 0,
    metadata: payload.subarray(r.metaStart, r.metaStart + r.metaLen),
    metadataIsJson: (r.flags & META_JSON) !== 0,
  };
}

/**
 * Decodes any command. Throws `RangeError` on malformed bytes.
 *
 * @example
 * ```ts
 * import { decodeCommand, encodeDelete } from "./commands.ts";
 * console.assert(decodeCommand(encodeDelete("s")).kind === "delete");
 * ```
 */
export function decodeCommand(payload: Uint8Array): Command {
  switch (payload[0]) {
    case APPEND: {
      const c = new EventRecordCursor(payload);
      const h = c.header();
      const events: PreparedEvent[] = [];
      let off = h.firstRecord;
      for (let i = 0; i < h.count; i++) {
        events.push(decodeEventAt(payload, off));
        off = c.read(off).end;
      }
      return { kind: "append", stream: h.stream, expectedRevision: h.expected, events };
    }
    case DELETE: {
      const r = new ByteReader(payload);
      r.u8();
      const sl = r.u16();
      const sb = r.raw(sl);
      const stream = fromUtf8(sb, 0, sb.length);
      const expectedRevision = decodeExpectedRevision(r.f64());
      const hard = r.u8() === 1;
      return { kind: "delete", stream, expectedRevision, hard };
    }
    case SET_METADATA: {
      const r = new ByteReader(payload);
      r.u8();
      const sl = r.u16();
      const sb = r.raw(sl);
      const stream = fromUtf8(sb, 0, sb.length);
      const metadata = JSON.parse(r.string()) as StreamMetadata;
      return { kind: "metadata", stream, metadata };
    }
    default:
      throw new RangeError(`Unknown event store command kind ${payload[0]}`);
  }
}

/**
 * Decodes event data or metadata bytes: JSON text is parsed (empty is null),
 * opaque bytes are returned as they are.
 *
 * @example
 * ```ts
 * import { decodeBody } from "./commands.ts";
 * console.assert((decodeBody(new TextEncoder().encode("[1]"), true) as number[])[0] === 1);
 * console.assert(decodeBody(new Uint8Array(0), true) === null);
 * ```
 */
export function decodeBody(bytes: Uint8Array, isJson: boolean): unknown {
  if (!isJson) return bytes;
  if (bytes.length === 0) return null;
  return JSON.parse(fromUtf8(bytes, 0, bytes.length));
}
