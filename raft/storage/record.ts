/**
 * Record framing and the binary encodings of what goes into data files.
 *
 * Every record is a frame:
 *
 * ```
 * offset 0   u32 LE  payload length (>= 1)
 * offset 4   u32 LE  CRC-32 of the payload (IEEE, as zlib)
 * offset 8   u32 LE  CRC-32 of bytes 0..7 (so a damaged length is caught before it is trusted)
 * offset 12  payload: kind byte, then the kind's fields
 * ```
 *
 * Payloads by kind (integers little endian, u64 as two u32 halves, values up
 * to 2^53):
 *
 * ```
 * segment header  1 | version u8 | "RLOG" | firstIndex u64 | prevTerm u64
 * hard state      3 | seq u64 | term u64 | commit u64 | vote length u16 | vote UTF-8
 * snapshot        4 | index u64 | term u64 | confState length u32 | confState JSON | data
 * batch           5 | flags u8 (1: has hard state) | firstIndex u64 | count u32
 *                   | [seq u64 | term u64 | commit u64 | vote length u16 | vote UTF-8]
 *                   | count x (type u8 (0 normal, 1 confChange) | term u64 | size u32 | data)
 * partial snapshot 6 | index u64 | term u64 | size u64 | crc u32 | offset u64 | offset crc u32
 *                   | leader term u64
 * ```
 *
 * A batch is what one `save` writes: its entries (index `firstIndex + i`)
 * and, optionally, the hard state that follows them. One checksum covers the
 * batch, so a save is all or nothing on disk. Large saves are split into
 * several batches of at most {@link MAX_BATCH_PAYLOAD_BYTES}, still in one write.
 *
 * @module
 */

import { crc32 } from "node:zlib";
import type { Entry, HardState } from "../core/types.ts";

/** Bytes of the frame header before each payload. */
export const FRAME_HEADER_BYTES = 12;

/** Bytes of a segment header record. */
export const SEGMENT_HEADER_BYTES = FRAME_HEADER_BYTES + 22;

/** Largest payload a frame may carry. */
export const MAX_PAYLOAD_BYTES = 0x7fff_ffff;

/**
 * The kind byte that starts every payload.
 *
 * @example
 * ```ts
 * import { RecordKind } from "./record.ts";
 * console.assert(RecordKind.batch === 5);
 * ```
 */
export const RecordKind = {
  segmentHeader: 1,
  hardState: 3,
  snapshot: 4,
  batch: 5,
  partialSnapshot: 6,
} as const;

/**
 * What {@link checkFrame} found when there is no valid frame at a position.
 * Non-negative results are payload lengths.
 *
 * @example
 * ```ts
 * import { FrameStatus } from "./record.ts";
 * console.assert(FrameStatus.headerIncomplete < 0);
 * ```
 */
export const FrameStatus = {
  /** Fewer than {@link FRAME_HEADER_BYTES} bytes left. */
  headerIncomplete: -1,
  /** The header's own checksum does not match (or the length is zero or too large). */
  badHeader: -2,
  /** The header is sound but the payload runs past the end of the data. */
  payloadIncomplete: -3,
  /** The header is sound but the payload checksum does not match. */
  badPayload: -4,
} as const;

const SEGMENT_MAGIC = 0x474f4c52; // "RLOG" read as u32 LE
const SEGMENT_VERSION = 1;
const TWO_32 = 4294967296;

// Table for the 8-byte header checksum. Computing it in JS avoids a native
// call per record; the payload checksum goes through zlib, which is fast on
// longer inputs. Both are the standard CRC-32 (IEEE) polynomial.
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

function headerCrc(buf: Uint8Array, pos: number): number {
  let c = -1;
  for (let i = pos; i < pos + 8; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * Writes a u64 (an integer up to 2^53) at `pos`, little endian.
 *
 * @example
 * ```ts
 * import { readU64, writeU64 } from "./record.ts";
 * const v = new DataView(new ArrayBuffer(8));
 * writeU64(v, 0, 2 ** 40 + 5);
 * console.assert(readU64(v, 0) === 2 ** 40 + 5);
 * ```
 */
export function writeU64(view: DataView, pos: number, value: number): void {
  view.setUint32(pos, value >>> 0, true);
  view.setUint32(pos + 4, Math.floor(value / TWO_32), true);
}

/**
 * Reads a u64 written by {@link writeU64}. Values above 2^53 come back inexact;
 * callers validate ranges.
 *
 * @example
 * ```ts
 * import { readU64 } from "./record.ts";
 * console.assert(readU64(new DataView(new ArrayBuffer(8)), 0) === 0);
 * ```
 */
export function readU64(view: DataView, pos: number): number {
  return view.getUint32(pos, true) + view.getUint32(pos + 4, true) * TWO_32;
}

/**
 * Completes the frame whose payload (of `payloadLength` bytes) is already in
 * `buf` at `pos + FRAME_HEADER_BYTES`: fills in length and checksums. Returns
 * the position after the frame.
 *
 * @example
 * ```ts
 * import { checkFrame, FRAME_HEADER_BYTES, sealFrame } from "./record.ts";
 * const buf = new Uint8Array(FRAME_HEADER_BYTES + 3);
 * const view = new DataView(buf.buffer);
 * buf.set([9, 8, 7], FRAME_HEADER_BYTES);
 * const end = sealFrame(buf, view, 0, 3);
 * console.assert(end === buf.length && checkFrame(buf, view, 0, end) === 3);
 * ```
 */
export function sealFrame(
  buf: Uint8Array,
  view: DataView,
  pos: number,
  payloadLength: number,
): number {
  const start = pos + FRAME_HEADER_BYTES;
  const end = start + payloadLength;
  sealFrameHeader(buf, view, pos, payloadLength, crc32(buf.subarray(start, end)));
  return end;
}

/**
 * Fills in the frame header at `pos` for a payload of `payloadLength` bytes
 * whose CRC-32 is `payloadCrc`, for a payload that is not in `buf` (written
 * after the header, in pieces: `crc32(piece2, crc32(piece1))`).
 *
 * @example
 * ```ts
 * import { checkFrame, FRAME_HEADER_BYTES, sealFrameHeader } from "./record.ts";
 * import { crc32 } from "node:zlib";
 * const buf = new Uint8Array(FRAME_HEADER_BYTES + 2);
 * const view = new DataView(buf.buffer);
 * buf.set([1, 2], FRAME_HEADER_BYTES);
 * sealFrameHeader(buf, view, 0, 2, crc32(new Uint8Array([2]), crc32(new Uint8Array([1]))));
 * console.assert(checkFrame(buf, view, 0, buf.length) === 2);
 * ```
 */
export function sealFrameHeader(
  buf: Uint8Array,
  view: DataView,
  pos: number,
  payloadLength: number,
  payloadCrc: number,
): void {
  view.setUint32(pos, payloadLength, true);
  view.setUint32(pos + 4, payloadCrc, true);
  view.setUint32(pos + 8, headerCrc(buf, pos), true);
}

/**
 * Checks the frame at `pos` in `buf[..end]`. Returns its payload length when
 * it is complete and both checksums match, else a negative {@link FrameStatus}.
 *
 * @example
 * ```ts
 * import { checkFrame, FrameStatus } from "./record.ts";
 * const zeros = new Uint8Array(64);
 * console.assert(checkFrame(zeros, new DataView(zeros.buffer), 0, 64) === FrameStatus.badHeader);
 * ```
 */
export function checkFrame(buf: Uint8Array, view: DataView, pos: number, end: number): number {
  if (end - pos < FRAME_HEADER_BYTES) return FrameStatus.headerIncomplete;
  const length = view.getUint32(pos, true);
  if (
    view.getUint32(pos + 8, true) !== headerCrc(buf, pos) || length === 0 ||
    length > MAX_PAYLOAD_BYTES
  ) {
    return FrameStatus.badHeader;
  }
  const start = pos + FRAME_HEADER_BYTES;
  if (end - start < length) return FrameStatus.payloadIncomplete;
  if (crc32(buf.subarray(start, start + length)) !== view.getUint32(pos + 4, true)) {
    return FrameStatus.badPayload;
  }
  return length;
}

/**
 * Size of the record {@link encodeHardState} writes for a vote of `voteBytes` UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { hardStateRecordSize } from "./record.ts";
 * console.assert(hardStateRecordSize(2) === 12 + 27 + 2);
 * ```
 */
export function hardStateRecordSize(voteBytes: number): number {
  return FRAME_HEADER_BYTES + 27 + voteBytes;
}

/**
 * A hard state with the sequence number that orders hard-state writes: the
 * highest `seq` found on disk is the current hard state.
 */
export interface SequencedHardState {
  readonly seq: number;
  readonly hardState: HardState;
}

/**
 * Encodes a hard-state record at `pos` (`vote` is `hs.vote` as UTF-8); returns
 * the position after it.
 *
 * @example
 * ```ts
 * import { decodeHardState, encodeHardState, FRAME_HEADER_BYTES, hardStateRecordSize } from "./record.ts";
 * const vote = new TextEncoder().encode("n1");
 * const buf = new Uint8Array(hardStateRecordSize(vote.length));
 * const view = new DataView(buf.buffer);
 * const end = encodeHardState(buf, view, 0, { seq: 4, hardState: { term: 3, vote: "n1", commit: 9 } }, vote);
 * const back = decodeHardState(buf, view, FRAME_HEADER_BYTES, end - FRAME_HEADER_BYTES);
 * console.assert(back?.seq === 4 && back.hardState.vote === "n1");
 * ```
 */
export function encodeHardState(
  buf: Uint8Array,
  view: DataView,
  pos: number,
  shs: SequencedHardState,
  vote: Uint8Array,
): number {
  const p = pos + FRAME_HEADER_BYTES;
  buf[p] = RecordKind.hardState;
  writeU64(view, p + 1, shs.seq);
  writeU64(view, p + 9, shs.hardState.term);
  writeU64(view, p + 17, shs.hardState.commit);
  view.setUint16(p + 25, vote.byteLength, true);
  buf.set(vote, p + 27);
  return sealFrame(buf, view, pos, 27 + vote.byteLength);
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes a hard-state payload at `payloadPos`; undefined when malformed.
 *
 * @example
 * ```ts
 * import { decodeHardState } from "./record.ts";
 * const buf = new Uint8Array(27);
 * console.assert(decodeHardState(buf, new DataView(buf.buffer), 0, 27) === undefined);
 * ```
 */
export function decodeHardState(
  buf: Uint8Array,
  view: DataView,
  payloadPos: number,
  payloadLength: number,
): SequencedHardState | undefined {
  if (payloadLength < 27 || buf[payloadPos] !== RecordKind.hardState) return undefined;
  const voteLength = view.getUint16(payloadPos + 25, true);
  if (payloadLength !== 27 + voteLength) return undefined;
  let vote: string;
  try {
    vote = decoder.decode(buf.subarray(payloadPos + 27, payloadPos + 27 + voteLength));
  } catch {
    return undefined;
  }
  return {
    seq: readU64(view, payloadPos + 1),
    hardState: {
      term: readU64(view, payloadPos + 9),
      vote,
      commit: readU64(view, payloadPos + 17),
    },
  };
}

/** What a segment file says about itself in its first record. */
export interface SegmentHeader {
  /** Index of the first entry the segment holds (also in its file name). */
  readonly firstIndex: number;
  /** Term of the entry at `firstIndex - 1` (0 when there is none). */
  readonly prevTerm: number;
}

/**
 * Encodes a segment header record at `pos` ({@link SEGMENT_HEADER_BYTES} long).
 *
 * @example
 * ```ts
 * import { decodeSegmentHeader, encodeSegmentHeader, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES } from "./record.ts";
 * const buf = new Uint8Array(SEGMENT_HEADER_BYTES);
 * const view = new DataView(buf.buffer);
 * encodeSegmentHeader(buf, view, 0, { firstIndex: 101, prevTerm: 3 });
 * console.assert(decodeSegmentHeader(buf, view, FRAME_HEADER_BYTES, 22)?.firstIndex === 101);
 * ```
 */
export function encodeSegmentHeader(
  buf: Uint8Array,
  view: DataView,
  pos: number,
  header: SegmentHeader,
): number {
  const p = pos + FRAME_HEADER_BYTES;
  buf[p] = RecordKind.segmentHeader;
  buf[p + 1] = SEGMENT_VERSION;
  view.setUint32(p + 2, SEGMENT_MAGIC, true);
  writeU64(view, p + 6, header.firstIndex);
  writeU64(view, p + 14, header.prevTerm);
  return sealFrame(buf, view, pos, 22);
}

/**
 * Decodes a segment header payload; undefined when it is not one (wrong kind,
 * magic or version).
 *
 * @example
 * ```ts
 * import { decodeSegmentHeader } from "./record.ts";
 * const buf = new Uint8Array(22);
 * console.assert(decodeSegmentHeader(buf, new DataView(buf.buffer), 0, 22) === undefined);
 * ```
 */
export function decodeSegmentHeader(
  buf: Uint8Array,
  view: DataView,
  payloadPos: number,
  payloadLength: number,
): SegmentHeader | undefined {
  if (
    payloadLength !== 22 || buf[payloadPos] !== RecordKind.segmentHeader ||
    buf[payloadPos + 1] !== SEGMENT_VERSION ||
    view.getUint32(payloadPos + 2, true) !== SEGMENT_MAGIC
  ) {
    return undefined;
  }
  return { firstIndex: readU64(view, payloadPos + 6), prevTerm: readU64(view, payloadPos + 14) };
}

/** Bytes of a batch payload before its (optional) hard state and entries. */
export const BATCH_HEADER_BYTES = 14;

/**
 * Bytes a batch adds per entry on top of the entry's data.
 *
 * @example
 * ```ts
 * import { BATCH_ENTRY_OVERHEAD_BYTES } from "./record.ts";
 * console.assert(BATCH_ENTRY_OVERHEAD_BYTES === 13);
 * ```
 */
export const BATCH_ENTRY_OVERHEAD_BYTES = 13;

/** A batch grows up to about this payload size before the next one starts. */
export const MAX_BATCH_PAYLOAD_BYTES = 1 << 20;

/**
 * Payload bytes of a batch of `count` entries with `dataBytes` of data in
 * total, with a hard state whose vote is `voteBytes` long (or none when
 * undefined).
 *
 * @example
 * ```ts
 * import { batchPayloadSize } from "./record.ts";
 * console.assert(batchPayloadSize(2, 200, undefined) === 14 + 2 * 13 + 200);
 * ```
 */
export function batchPayloadSize(
  count: number,
  dataBytes: number,
  voteBytes: number | undefined,
): number {
  return BATCH_HEADER_BYTES + (voteBytes === undefined ? 0 : 26 + voteBytes) +
    count * BATCH_ENTRY_OVERHEAD_BYTES + dataBytes;
}

/**
 * Writes a batch frame at `pos` holding `entries[from..to)` (consecutive
 * indexes) and, when given, a hard state (with `vote` its UTF-8 vote);
 * checksums included. Returns the position after the frame.
 *
 * @example
 * ```ts
 * import { batchPayloadSize, decodeBatch, encodeBatch, FRAME_HEADER_BYTES } from "./record.ts";
 * const entries = [1, 2].map((index) => ({ index, term: 1, type: "normal" as const, data: new Uint8Array([index]) }));
 * const buf = new Uint8Array(FRAME_HEADER_BYTES + batchPayloadSize(2, 2, undefined));
 * const view = new DataView(buf.buffer);
 * encodeBatch(buf, view, 0, entries, 0, 2, undefined);
 * const b = decodeBatch(buf, view, FRAME_HEADER_BYTES, buf.length - FRAME_HEADER_BYTES);
 * console.assert(b?.firstIndex === 1 && b.count === 2);
 * ```
 */
export function encodeBatch(
  buf: Uint8Array,
  view: DataView,
  pos: number,
  entries: readonly Entry[],
  from: number,
  to: number,
  hardState: { readonly shs: SequencedHardState; readonly vote: Uint8Array } | undefined,
): number {
  let p = pos + FRAME_HEADER_BYTES;
  const start = p;
  buf[p] = RecordKind.batch;
  buf[p + 1] = hardState === undefined ? 0 : 1;
  writeU64(view, p + 2, from < to ? entries[from]!.index : 0);
  view.setUint32(p + 10, to - from, true);
  p += BATCH_HEADER_BYTES;
  if (hardState !== undefined) {
    const { shs, vote } = hardState;
    writeU64(view, p, shs.seq);
    writeU64(view, p + 8, shs.hardState.term);
    writeU64(view, p + 16, shs.hardState.commit);
    view.setUint16(p + 24, vote.byteLength, true);
    buf.set(vote, p + 26);
    p += 26 + vote.byteLength;
  }
  for (let i = from; i < to; i++) {
    const e = entries[i]!;
    const data = e.data;
    buf[p] = e.type === "normal" ? 0 : 1;
    writeU64(view, p + 1, e.term);
    view.setUint32(p + 9, data.byteLength, true);
    buf.set(data, p + 13);
    p += 13 + data.byteLength;
  }
  return sealFrame(buf, view, pos, p - start);
}

/** The fixed part of a decoded batch; entries are read from `entriesPos` on. */
export interface BatchHeader {
  readonly firstIndex: number;
  readonly count: number;
  /** The hard state the batch carries, if any. */
  readonly hardState: SequencedHardState | undefined;
  /** Where the first entry starts in the buffer. */
  readonly entriesPos: number;
}

/**
 * Decodes the header of a batch payload at `payloadPos` and checks that its
 * entries exactly fill the payload. Undefined when malformed.
 *
 * @example
 * ```ts
 * import { decodeBatch } from "./record.ts";
 * const buf = new Uint8Array(14);
 * console.assert(decodeBatch(buf, new DataView(buf.buffer), 0, 14) === undefined);
 * ```
 */
export function decodeBatch(
  buf: Uint8Array,
  view: DataView,
  payloadPos: number,
  payloadLength: number,
): BatchHeader | undefined {
  if (payloadLength < BATCH_HEADER_BYTES || buf[payloadPos] !== RecordKind.batch) return undefined;
  const flags = buf[payloadPos + 1]!;
  if (flags > 1) return undefined;
  const firstIndex = readU64(view, payloadPos + 2);
  const count = view.getUint32(payloadPos + 10, true);
  const end = payloadPos + payloadLength;
  let p = payloadPos + BATCH_HEADER_BYTES;
  let hardState: SequencedHardState | undefined;
  if (flags === 1) {
    if (end - p < 26) return undefined;
    const voteLength = view.getUint16(p + 24, true);
    if (end - p < 26 + voteLength) return undefined;
    let vote: string;
    try {
      vote = decoder.decode(buf.subarray(p + 26, p + 26 + voteLength));
    } catch {
      return undefined;
    }
    hardState = {
      seq: readU64(view, p),
      hardState: { term: readU64(view, p + 8), vote, commit: readU64(view, p + 16) },
    };
    p += 26 + voteLength;
  }
  const entriesPos = p;
  for (let i = 0; i < count; i++) {
    if (end - p < 13 || buf[p]! > 1) return undefined;
    p += 13 + view.getUint32(p + 9, true);
  }
  if (p !== end || (count > 0 && firstIndex < 1)) return undefined;
  return { firstIndex, count, hardState, entriesPos };
}
