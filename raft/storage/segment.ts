/**
 * One log segment file and its in-memory index. A segment is named after its
 * sequence number (segments are created in that order) and the index of its
 * first entry (`0000000003-00000000000000000101.wal`), starts with a segment
 * header record and then holds batch records (entries and hard state), with
 * consecutive indexes. The next segment starts right after the last entry
 * of this one, or earlier: a newer segment that starts at an index older ones
 * hold replaces them from there on (that is how a conflicting suffix is
 * replaced without overwriting anything).
 *
 * @module
 */

import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Entry } from "../core/types.ts";
import { type ReadBuffer, readFully } from "./read_buffer.ts";
import {
  BATCH_ENTRY_OVERHEAD_BYTES as ENTRY_HEADER_BYTES,
  BATCH_HEADER_BYTES,
  checkFrame,
  FRAME_HEADER_BYTES,
  FrameStatus,
  readU64,
  RecordKind,
} from "./record.ts";
import { CorruptLogError } from "./storage_errors.ts";

// Consecutive entries up to PACK_ENTRY_BYTES each, read together, share one
// copy of at most PACK_BYTES (their bytes as on disk): one allocation per
// run instead of one per entry, and a held entry keeps at most PACK_BYTES
// alive.
const PACK_ENTRY_BYTES = 1024;
const PACK_BYTES = 16 << 10;
// A slice this close to its entry's start is read with the entry header in
// one read; a farther one reads the header and the slice apart.
const SLICE_SPAN_BYTES = 64 << 10;

const NAME_PATTERN = /^(\d{10})-(\d{20})\.wal$/;

/**
 * The file name of segment number `seq` whose first entry is `firstIndex`.
 *
 * @example
 * ```ts
 * import { segmentFileName } from "./segment.ts";
 * console.assert(segmentFileName(3, 101) === "0000000003-00000000000000000101.wal");
 * ```
 */
export function segmentFileName(seq: number, firstIndex: number): string {
  return `${String(seq).padStart(10, "0")}-${String(firstIndex).padStart(20, "0")}.wal`;
}

/**
 * The sequence number and first index in a segment file name, or undefined
 * when `name` is not a segment file name.
 *
 * @example
 * ```ts
 * import { parseSegmentFileName } from "./segment.ts";
 * console.assert(parseSegmentFileName("0000000003-00000000000000000101.wal")?.firstIndex === 101);
 * console.assert(parseSegmentFileName("LOCK") === undefined);
 * ```
 */
export function parseSegmentFileName(
  name: string,
): { seq: number; firstIndex: number } | undefined {
  const m = NAME_PATTERN.exec(name);
  if (m === null) return undefined;
  const seq = Number(m[1]);
  const firstIndex = Number(m[2]);
  return Number.isSafeInteger(firstIndex) && firstIndex >= 1 && seq >= 1
    ? { seq, firstIndex }
    : undefined;
}

/**
 * A segment's entries as positions in its file, and the synchronous reads
 * that serve them.
 *
 * The index keeps, per entry, where its 13-byte entry header starts in the
 * file, its data size and its term (16 bytes an entry); per batch record
 * holding live entries, where the record starts and ends, and one bit: has
 * its checksum been verified since the segment was opened.
 *
 * Reads: the first read of any entry of a record reads the whole record and
 * verifies its checksum (so damage is reported, as `CorruptLogError` naming
 * file and offset, before any of its bytes are served); later reads fetch
 * only the requested entries' bytes, checking each entry's header against
 * the index. Consecutive entries of verified records are read in chunks of
 * up to the read buffer's capacity. Entry data are copied out of the shared
 * {@link ReadBuffer}, so what a read returns pins no large buffer (small
 * entries read together share a copy of at most 16 KiB).
 *
 * Invariants: the entries are `firstIndex .. firstIndex + count - 1` (the
 * live ones; a shadowed tail is forgotten), their offsets strictly increase;
 * the records are exactly those holding live entries, in file order; entry
 * `i` lies inside one record (`recStart < offset < recEnd`); everything lies
 * below `bytes`.
 *
 * @example
 * ```ts
 * import { Segment } from "./segment.ts";
 * const seg = new Segment("/tmp", 11, { seq: 1, prevTerm: 2, headerBytes: 34 });
 * seg.push(34, 160, 60, 100, 3);
 * console.assert(seg.lastIndex === 11 && seg.term(11) === 3 && seg.term(10) === 2);
 * ```
 */
export class Segment {
  /** Path of the segment file. */
  readonly path: string;
  /** File name (`<seq, 10 digits>-<firstIndex, 20 digits>.wal`). */
  readonly name: string;
  /** Sequence number: segments are created in this order. */
  readonly seq: number;
  /** Index of the first entry this segment holds (or would hold, while empty). */
  readonly firstIndex: number;
  /** Term of entry `firstIndex - 1`, from the segment header. */
  readonly prevTerm: number;
  /** Where the first record after the segment header starts. */
  readonly headerBytes: number;
  /** Length of the valid part of the file: the end of the last record (shadowed ones included). */
  bytes: number;
  /** Highest hard-state sequence number written to this segment (0: none). */
  hardStateSeq = 0;
  #count = 0;
  /** Per entry: file offset of its entry header (type, term, size), then its data. */
  #offsets: Uint32Array;
  #sizes: Uint32Array;
  #terms: Float64Array;
  #records = 0;
  #recStarts: Uint32Array;
  #recEnds: Uint32Array;
  /** Bit r: record r's checksum matched when it was last read. */
  #verified: Uint32Array;
  #reader: Deno.FsFile | undefined;

  constructor(
    dir: string,
    firstIndex: number,
    options: { seq: number; prevTerm: number; headerBytes: number; capacity?: number },
  ) {
    this.seq = options.seq;
    this.name = segmentFileName(options.seq, firstIndex);
    this.path = join(dir, this.name);
    this.firstIndex = firstIndex;
    this.prevTerm = options.prevTerm;
    this.headerBytes = options.headerBytes;
    this.bytes = options.headerBytes;
    const capacity = Math.max(16, options.capacity ?? 1024);
    this.#offsets = new Uint32Array(capacity);
    this.#sizes = new Uint32Array(capacity);
    this.#terms = new Float64Array(capacity);
    this.#recStarts = new Uint32Array(16);
    this.#recEnds = new Uint32Array(16);
    this.#verified = new Uint32Array(1);
  }

  /** Number of entries. */
  get count(): number {
    return this.#count;
  }

  /** Index of the last entry (`firstIndex - 1` when empty). */
  get lastIndex(): number {
    return this.firstIndex + this.#count - 1;
  }

  /** Term of the last entry (`prevTerm` when empty). */
  get lastTerm(): number {
    return this.#count === 0 ? this.prevTerm : this.#terms[this.#count - 1]!;
  }

  /** Number of batch records holding live entries. */
  get records(): number {
    return this.#records;
  }

  /**
   * Records the next entry: it is in the batch record at bytes
   * [recordStart, recordEnd), its entry header starts at byte `offset`, and
   * it has `size` data bytes and term `term`.
   */
  push(recordStart: number, recordEnd: number, offset: number, size: number, term: number): void {
    if (this.#count === this.#offsets.length) this.#growEntries();
    const i = this.#count++;
    this.#offsets[i] = offset;
    this.#sizes[i] = size;
    this.#terms[i] = term;
    const r = this.#records;
    if (r === 0 || this.#recStarts[r - 1] !== recordStart) {
      if (r === this.#recStarts.length) this.#growRecords();
      this.#recStarts[r] = recordStart;
      this.#recEnds[r] = recordEnd;
      this.#verified[r >>> 5]! &= ~(1 << (r & 31));
      this.#records = r + 1;
    }
  }

  /** Shrinks the index arrays to what they hold (they grow again on push). */
  trim(): void {
    const n = Math.max(16, this.#count);
    if (this.#offsets.length > n) {
      this.#offsets = this.#offsets.slice(0, n);
      this.#sizes = this.#sizes.slice(0, n);
      this.#terms = this.#terms.slice(0, n);
    }
    const r = Math.max(32, this.#records);
    if (this.#recStarts.length > r) {
      this.#recStarts = this.#recStarts.slice(0, r);
      this.#recEnds = this.#recEnds.slice(0, r);
      this.#verified = this.#verified.slice(0, Math.ceil(r / 32));
    }
  }

  #growEntries(): void {
    const n = this.#offsets.length * 2;
    const offsets = new Uint32Array(n);
    offsets.set(this.#offsets);
    const sizes = new Uint32Array(n);
    sizes.set(this.#sizes);
    const terms = new Float64Array(n);
    terms.set(this.#terms);
    this.#offsets = offsets;
    this.#sizes = sizes;
    this.#terms = terms;
  }

  #growRecords(): void {
    const n = this.#recStarts.length * 2;
    const starts = new Uint32Array(n);
    starts.set(this.#recStarts);
    const ends = new Uint32Array(n);
    ends.set(this.#recEnds);
    const verified = new Uint32Array(Math.ceil(n / 32));
    verified.set(this.#verified);
    this.#recStarts = starts;
    this.#recEnds = ends;
    this.#verified = verified;
  }

  /**
   * Forgets entries from `index` on: a later segment shadows them. The file
   * is not changed.
   */
  shadowFrom(index: number): void {
    const i = index - this.firstIndex;
    if (i < 0 || i > this.#count) {
      throw new RangeError(`Index ${index} is outside segment ${this.name}`);
    }
    this.#count = i;
    this.#records = i === 0 ? 0 : this.#recordOf(i - 1) + 1;
  }

  /** Term of entry `index`, for `index` in [firstIndex - 1, lastIndex]. */
  term(index: number): number {
    const i = index - this.firstIndex;
    if (i === -1) return this.prevTerm;
    return this.#terms[i]!;
  }

  /** Data bytes of entry `index`. */
  size(index: number): number {
    return this.#sizes[index - this.firstIndex]!;
  }

  /** Whether the record holding entry `index` has been verified since the segment was opened. */
  verified(index: number): boolean {
    return this.#isVerified(this.#recordOf(index - this.firstIndex));
  }

  /**
   * Reads entries [lo, hi) (all inside this segment) through `rb`. Records
   * not yet verified are read whole and checked first; the entries' data are
   * copies (see the class comment). Throws `CorruptLogError` naming the file
   * and offset when a checksum or an entry header does not match.
   */
  read(lo: number, hi: number, rb: ReadBuffer): Entry[] {
    if (lo >= hi) return [];
    const file = this.#reader ??= Deno.openSync(this.path, { read: true });
    const offsets = this.#offsets;
    const sizes = this.#sizes;
    const ends = this.#recEnds;
    const out: Entry[] = new Array(hi - lo);
    const base = lo - this.firstIndex;
    const end = hi - this.firstIndex;
    let i = base;
    let r = this.#recordOf(i);
    const lastRecord = this.#recordOf(end - 1);
    while (i < end) {
      while (offsets[i]! >= ends[r]!) r++;
      if (!this.#isVerified(r)) this.#verify(r, lastRecord, rb, file);
      // One read serves entries i..j-1: consecutive, in verified records,
      // and within the buffer (within its window, when that holds entry i:
      // then no read is needed at all).
      const start = offsets[i]!;
      let stop = start + ENTRY_HEADER_BYTES + sizes[i]!;
      const window = rb.windowEndAt(file, start);
      const limit = window >= stop ? window : start + rb.capacity;
      let j = i + 1;
      let rj = r;
      while (j < end) {
        const e = offsets[j]! + ENTRY_HEADER_BYTES + sizes[j]!;
        if (e > limit) break;
        while (offsets[j]! >= ends[rj]!) rj++;
        if (!this.#isVerified(rj)) break;
        stop = e;
        j++;
      }
      if (stop - start > rb.capacity) {
        out[i - base] = this.#readLarge(i, rb, file);
      } else {
        const p = rb.load(file, this.path, start, stop) - start;
        const bytes = rb.bytes;
        for (let k = i; k < j;) {
          // A run of small entries shares one copy of its bytes (a copy
          // each would cost an allocation each); other entries get their own.
          let m = k + 1;
          const from = offsets[k]!;
          while (
            m < j && sizes[m - 1]! <= PACK_ENTRY_BYTES && sizes[m]! <= PACK_ENTRY_BYTES &&
            offsets[m]! + ENTRY_HEADER_BYTES + sizes[m]! - from <= PACK_BYTES
          ) {
            m++;
          }
          if (m === k + 1) {
            const q = p + from;
            const type = this.#checkEntryHeader(k, rb, q);
            const data = bytes.slice(q + ENTRY_HEADER_BYTES, q + ENTRY_HEADER_BYTES + sizes[k]!);
            out[k - base] = { index: this.firstIndex + k, term: this.#terms[k]!, type, data };
            k++;
            continue;
          }
          const to = offsets[m - 1]! + ENTRY_HEADER_BYTES + sizes[m - 1]!;
          const pack = bytes.slice(p + from, p + to);
          for (; k < m; k++) {
            const at = offsets[k]! - from;
            const type = this.#checkEntryHeader(k, rb, p + offsets[k]!);
            const data = pack.subarray(
              at + ENTRY_HEADER_BYTES,
              at + ENTRY_HEADER_BYTES + sizes[k]!,
            );
            out[k - base] = { index: this.firstIndex + k, term: this.#terms[k]!, type, data };
          }
        }
      }
      i = j;
    }
    return out;
  }

  /**
   * A copy of bytes [start, end) of entry `index`'s data (the caller checks
   * `0 <= start <= end <= size(index)`), read through `rb`. The record
   * holding it is verified first when it was not since the segment was
   * opened, and the entry header is checked against the index; a mismatch
   * throws `CorruptLogError` naming file and offset. Only the slice is
   * allocated: the bytes around it stay in the reusable buffer.
   */
  slice(index: number, start: number, end: number, rb: ReadBuffer): Uint8Array {
    const file = this.#reader ??= Deno.openSync(this.path, { read: true });
    const k = index - this.firstIndex;
    const r = this.#recordOf(k);
    if (!this.#isVerified(r)) this.#verify(r, r, rb, file);
    const at = this.#offsets[k]!;
    const from = at + ENTRY_HEADER_BYTES + start;
    const to = at + ENTRY_HEADER_BYTES + end;
    if (to - at <= SLICE_SPAN_BYTES || rb.holds(file, at, to)) {
      const p = rb.load(file, this.path, at, to) - at;
      this.#checkEntryHeader(k, rb, p + at);
      return rb.bytes.slice(p + from, p + to);
    }
    this.#checkEntryHeader(k, rb, rb.load(file, this.path, at, at + ENTRY_HEADER_BYTES));
    if (to - from > rb.capacity) {
      const out = new Uint8Array(to - from);
      readFully(file, this.path, from, out);
      return out;
    }
    const p = rb.load(file, this.path, from, to);
    return rb.bytes.slice(p, p + to - from);
  }

  /** Closes the read handle, if open. */
  closeReader(): void {
    this.#reader?.close();
    this.#reader = undefined;
  }

  #isVerified(r: number): boolean {
    return (this.#verified[r >>> 5]! & (1 << (r & 31))) !== 0;
  }

  /** The record holding entry slot `i`: the last one starting before it. */
  #recordOf(i: number): number {
    const at = this.#offsets[i]!;
    const starts = this.#recStarts;
    let lo = 0;
    let hi = this.#records - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid]! < at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The first entry slot of record `r`. */
  #firstSlotOf(r: number): number {
    const at = this.#recStarts[r]!;
    const offsets = this.#offsets;
    let lo = 0;
    let hi = this.#count - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (offsets[mid]! > at) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /**
   * Verifies record `r` and, in the same read, the records after it up to
   * record `last` that fit in the buffer (a range of small records costs one
   * read, not one per record). Each is checked by {@link Segment.#checkRecord}.
   * A record larger than the buffer is checksummed piece by piece.
   */
  #verify(r: number, last: number, rb: ReadBuffer, file: Deno.FsFile): void {
    const start = this.#recStarts[r]!;
    const ends = this.#recEnds;
    if (ends[r]! - start > rb.capacity) {
      this.#verifyLarge(r, rb, file);
      return;
    }
    let k = r;
    while (k < last && ends[k + 1]! - start <= rb.capacity) k++;
    const p = rb.load(file, this.path, start, ends[k]!) - start;
    for (let x = r; x <= k; x++) {
      if (!this.#isVerified(x)) this.#checkRecord(x, rb, p + this.#recStarts[x]!);
    }
  }

  /**
   * Checks record `x`, whole in the buffer at `pos`: both checksums, that
   * its length is the one the index has, and that it is the batch of the
   * entries the index places in it. Then marks it verified.
   */
  #checkRecord(x: number, rb: ReadBuffer, pos: number): void {
    const start = this.#recStarts[x]!;
    const size = this.#recEnds[x]! - start;
    const length = checkFrame(rb.bytes, rb.view, pos, pos + size);
    if (length !== size - FRAME_HEADER_BYTES) this.#corruptRecord(start, length);
    this.#checkBatchHead(x, rb, pos);
    this.#verified[x >>> 5]! |= 1 << (x & 31);
  }

  /** {@link Segment.#checkRecord} for a record larger than the buffer. */
  #verifyLarge(x: number, rb: ReadBuffer, file: Deno.FsFile): void {
    const start = this.#recStarts[x]!;
    const end = this.#recEnds[x]!;
    const head = FRAME_HEADER_BYTES + BATCH_HEADER_BYTES;
    const p = rb.load(file, this.path, start, start + head);
    const status = checkFrame(rb.bytes, rb.view, p, p + head);
    if (status !== FrameStatus.payloadIncomplete) this.#corruptRecord(start, status);
    if (rb.view.getUint32(p, true) !== end - start - FRAME_HEADER_BYTES) {
      this.#corruptRecord(start, 0);
    }
    const want = rb.view.getUint32(p + 4, true);
    // Checked before the payload checksum, while the head is in the buffer:
    // either way nothing of the record is served unless both pass.
    this.#checkBatchHead(x, rb, p);
    let crc = 0;
    for (let a = start + FRAME_HEADER_BYTES; a < end;) {
      const b = Math.min(end, a + rb.capacity);
      const q = rb.load(file, this.path, a, b);
      crc = crc32(rb.bytes.subarray(q, q + b - a), crc);
      a = b;
    }
    if (crc !== want) this.#corruptRecord(start, FrameStatus.badPayload);
    this.#verified[x >>> 5]! |= 1 << (x & 31);
  }

  /** Checks that the frame at `rb.bytes[pos]` is the batch record `x` the index describes. */
  #checkBatchHead(x: number, rb: ReadBuffer, pos: number): void {
    const p = pos + FRAME_HEADER_BYTES;
    const expected = this.firstIndex + this.#firstSlotOf(x);
    if (
      rb.bytes[p] !== RecordKind.batch || readU64(rb.view, p + 2) !== expected ||
      rb.view.getUint32(p + 10, true) === 0
    ) {
      throw new CorruptLogError(
        this.path,
        this.#recStarts[x]!,
        `record is not the batch holding entry ${expected} that the index places here`,
      );
    }
  }

  #corruptRecord(start: number, status: number): never {
    throw new CorruptLogError(
      this.path,
      start,
      status === FrameStatus.badHeader
        ? "record header checksum mismatch on read"
        : status === FrameStatus.badPayload
        ? "record checksum mismatch on read"
        : "record length does not match the index on read",
    );
  }

  /** Checks the entry header at `rb.bytes[q]` against the index; returns the entry type. */
  #checkEntryHeader(k: number, rb: ReadBuffer, q: number): Entry["type"] {
    const type = rb.bytes[q]!;
    if (
      type > 1 || rb.view.getUint32(q + 9, true) !== this.#sizes[k] ||
      readU64(rb.view, q + 1) !== this.#terms[k]
    ) {
      throw new CorruptLogError(
        this.path,
        this.#offsets[k]!,
        `entry ${this.firstIndex + k} is not where the index says`,
      );
    }
    return type === 0 ? "normal" : "confChange";
  }

  /** Reads entry slot `k`, larger than the buffer, straight into its own array. */
  #readLarge(k: number, rb: ReadBuffer, file: Deno.FsFile): Entry {
    const at = this.#offsets[k]!;
    const q = rb.load(file, this.path, at, at + ENTRY_HEADER_BYTES);
    const type = this.#checkEntryHeader(k, rb, q);
    const data = new Uint8Array(this.#sizes[k]!);
    readFully(file, this.path, at + ENTRY_HEADER_BYTES, data);
    return { index: this.firstIndex + k, term: this.#terms[k]!, type, data };
  }
}
