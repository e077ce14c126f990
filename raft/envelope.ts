/**
 * The envelope around every command in the log: a proposal id (so the node
 * that proposed it can resolve its promise when the entry is applied) and a
 * timestamp, followed by the command bytes. The node that proposes stamps its
 * clock's time; a leader restamps proposals a follower forwards to it (see
 * {@link restampEnvelope}), so the log carries the leader's time.
 *
 * Layout: `u8 version (1) | u8 idLength | id (UTF-8) | f64 timestamp (ms, LE) | payload`.
 *
 * @module
 */

const VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Size of the shared buffers small entries are carved from (the slack `pinsLittle` allows). */
const SLAB_BYTES = 8 << 10;
/** Larger entries get a buffer of their own. */
const SLAB_MAX_ENTRY = 1 << 10;
let slab = new ArrayBuffer(0);
let slabUsed = 0;

/**
 * `n` bytes for a new entry. In Deno each new ArrayBuffer costs microseconds,
 * more than everything else a proposal does, so small entries share 8 KiB
 * buffers: consecutive entries, which the caches keep and drop together.
 */
function entryBytes(n: number): Uint8Array {
  if (n > SLAB_MAX_ENTRY) return new Uint8Array(n);
  if (slabUsed + n > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, n);
  slabUsed += n;
  return out;
}

/** A decoded command entry. */
export interface Envelope {
  /** Unique id of the proposal, or "" for none. */
  readonly id: string;
  /** Milliseconds since the epoch, set when the command was proposed. */
  readonly timestamp: number;
  readonly payload: Uint8Array;
}

/**
 * Wraps a command for the log.
 *
 * @example
 * ```ts
 * import { decodeEnvelope, encodeEnvelope } from "./envelope.ts";
 * const e = decodeEnvelope(encodeEnvelope({ id: "n1:1", timestamp: 5, payload: new Uint8Array([9]) }));
 * console.assert(e.id === "n1:1" && e.timestamp === 5 && e.payload[0] === 9);
 * ```
 */
export function encodeEnvelope(e: Envelope): Uint8Array {
  // No allocation for most entries: a new buffer costs microseconds, far more than the copying.
  const id = e.id;
  let idBytes: Uint8Array | undefined;
  let idLen = id.length;
  for (let i = 0; i < id.length; i++) {
    if (id.charCodeAt(i) > 0x7f) {
      idBytes = encoder.encode(id);
      idLen = idBytes.length;
      break;
    }
  }
  if (idLen > 255) throw new RangeError(`Proposal id is longer than 255 bytes: ${id}`);
  const out = entryBytes(2 + idLen + 8 + e.payload.length);
  out[0] = VERSION;
  out[1] = idLen;
  if (idBytes !== undefined) out.set(idBytes, 2);
  else for (let i = 0; i < idLen; i++) out[2 + i] = id.charCodeAt(i);
  if (LITTLE_ENDIAN) {
    f64[0] = e.timestamp;
    out.set(f64Bytes, 2 + idLen);
  } else new DataView(out.buffer, out.byteOffset).setFloat64(2 + idLen, e.timestamp, true);
  out.set(e.payload, 2 + idLen + 8);
  return out;
}

/**
 * Unwraps a command entry; throws `TypeError` on data that is not an envelope.
 *
 * @example
 * ```ts
 * import { decodeEnvelope } from "./envelope.ts";
 * let failed = false;
 * try { decodeEnvelope(new Uint8Array([7])); } catch { failed = true; }
 * console.assert(failed);
 * ```
 */
export function decodeEnvelope(data: Uint8Array): Envelope {
  if (data.length < 10 || data[0] !== VERSION) {
    throw new TypeError(
      `Log entry is not a command envelope (length ${data.length}, version ${data[0]})`,
    );
  }
  const idLen = data[1]!;
  if (data.length < 2 + idLen + 8) throw new TypeError("Log entry envelope is truncated");
  // Ids are mostly short and ASCII: building the string here beats a call into TextDecoder.
  let id = "";
  for (let i = 2; i < 2 + idLen; i++) {
    const c = data[i]!;
    if (c > 0x7f) {
      id = decoder.decode(data.subarray(2, 2 + idLen));
      break;
    }
    id += String.fromCharCode(c);
  }
  let timestamp: number;
  if (LITTLE_ENDIAN) {
    for (let i = 0, o = 2 + idLen; i < 8; i++) f64Bytes[i] = data[o + i]!;
    timestamp = f64[0]!;
  } else timestamp = new DataView(data.buffer, data.byteOffset).getFloat64(2 + idLen, true);
  return { id, timestamp, payload: data.subarray(2 + idLen + 8) };
}

/**
 * A copy of envelope `data` with its timestamp replaced, or `data` itself
 * when it is not an envelope (the state machine answers those as it would
 * have). The id and payload are unchanged.
 *
 * @example
 * ```ts
 * import { decodeEnvelope, encodeEnvelope, restampEnvelope } from "./envelope.ts";
 * const e = encodeEnvelope({ id: "n2:7", timestamp: 5, payload: new Uint8Array([9]) });
 * const r = decodeEnvelope(restampEnvelope(e, 1234));
 * console.assert(r.timestamp === 1234 && r.id === "n2:7" && r.payload[0] === 9);
 * console.assert(decodeEnvelope(e).timestamp === 5);
 * ```
 */
export function restampEnvelope(data: Uint8Array, timestamp: number): Uint8Array {
  if (data.length < 10 || data[0] !== VERSION || data.length < 2 + data[1]! + 8) return data;
  const out = entryBytes(data.length);
  out.set(data);
  new DataView(out.buffer, out.byteOffset).setFloat64(2 + data[1]!, timestamp, true);
  return out;
}

/**
 * How many leading bytes of an envelope {@link envelopeHeaderBytes} needs.
 *
 * @example
 * ```ts
 * import { ENVELOPE_PREFIX_BYTES } from "./envelope.ts";
 * console.assert(ENVELOPE_PREFIX_BYTES === 2);
 * ```
 */
export const ENVELOPE_PREFIX_BYTES = 2;

/**
 * Where the payload starts in an envelope, from its first
 * {@link ENVELOPE_PREFIX_BYTES} bytes (so a reader can fetch part of the
 * payload without the rest). Throws `TypeError` when they are not the start
 * of an envelope.
 *
 * @example
 * ```ts
 * import { encodeEnvelope, envelopeHeaderBytes } from "./envelope.ts";
 * const data = encodeEnvelope({ id: "n1:7", timestamp: 1, payload: new Uint8Array([3]) });
 * console.assert(data[envelopeHeaderBytes(data.subarray(0, 2))] === 3);
 * ```
 */
export function envelopeHeaderBytes(prefix: Uint8Array): number {
  if (prefix.length < ENVELOPE_PREFIX_BYTES || prefix[0] !== VERSION) {
    throw new TypeError(
      `Log entry is not a command envelope (length ${prefix.length}, version ${prefix[0]})`,
    );
  }
  return 2 + prefix[1]! + 8;
}
