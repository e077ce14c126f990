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
import type { Entry } from "../core/types.ts";
import { checkFrame, decodeBatch, FRAME_HEADER_BYTES, readU64 } from "./record.ts";
import { CorruptLogError } from "./storage_errors.ts";

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
 * A segment's entries as positions in its file: for each entry, where the
 * batch record holding it starts and ends, how many data bytes it has and
 * its term. Reads use positioned synchronous reads on a handle kept open
 * per segment.
 *
 * Invariant: the entries are `firstIndex .. firstIndex + count - 1` (the live
 * ones; a shadowed tail is forgotten), their batches' offsets do not
 * decrease, and every batch lies below `bytes`.
 *
 * @example
 * ```ts
 * import { Segment } from "./segment.ts";
 * const seg = new Segment("/tmp", 11, { seq: 1, prevTerm: 2, headerBytes: 34 });
 * seg.push(34, 160, 100, 3);
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
  #starts: Uint32Array;
  #ends: Uint32Array;
  #sizes: Uint32Array;
  #terms: Float64Array;
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
    this.#starts = new Uint32Array(capacity);
    this.#ends = new Uint32Array(capacity);
    this.#sizes = new Uint32Array(capacity);
    this.#terms = new Float64Array(capacity);
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

  /**
   * Records the next entry: it is in the batch at bytes [start, end) and has
   * `size` data bytes and term `term`.
   */
  push(start: number, end: number, size: number, term: number): void {
    if (this.#count === this.#starts.length) this.#grow();
    const i = this.#count++;
    this.#starts[i] = start;
    this.#ends[i] = end;
    this.#sizes[i] = size;
    this.#terms[i] = term;
  }

  #grow(): void {
    const n = this.#starts.length * 2;
    const starts = new Uint32Array(n);
    starts.set(this.#starts);
    const ends = new Uint32Array(n);
    ends.set(this.#ends);
    const sizes = new Uint32Array(n);
    sizes.set(this.#sizes);
    const terms = new Float64Array(n);
    terms.set(this.#terms);
    this.#starts = starts;
    this.#ends = ends;
    this.#sizes = sizes;
    this.#terms = terms;
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

  /**
   * Reads entries [lo, hi) (all inside this segment) with one positioned
   * read of the batches holding them, verifying their checksums. Entry data
   * are views into one buffer.
   */
  read(lo: number, hi: number): Entry[] {
    if (lo >= hi) return [];
    const start = this.#starts[lo - this.firstIndex]!;
    const end = this.#ends[hi - 1 - this.firstIndex]!;
    const buf = new Uint8Array(end - start);
    const reader = this.#reader ??= Deno.openSync(this.path, { read: true });
    reader.seekSync(start, Deno.SeekMode.Start);
    let got = 0;
    while (got < buf.length) {
      const n = reader.readSync(buf.subarray(got));
      if (n === null) {
        throw new CorruptLogError(
          this.path,
          start + got,
          `file ends before the records it held when opened (expected ${end} bytes)`,
        );
      }
      got += n;
    }
    const view = new DataView(buf.buffer);
    const out: Entry[] = new Array(hi - lo);
    let pos = 0;
    let next = lo;
    while (next < hi) {
      const length = checkFrame(buf, view, pos, buf.length);
      if (length < 0) {
        throw new CorruptLogError(this.path, start + pos, "record checksum mismatch on read");
      }
      const p = pos + FRAME_HEADER_BYTES;
      const batch = decodeBatch(buf, view, p, length);
      if (batch !== undefined) {
        let q = batch.entriesPos;
        for (let k = 0; k < batch.count; k++) {
          const index = batch.firstIndex + k;
          const size = view.getUint32(q + 9, true);
          if (index >= lo && index < hi) {
            if (index !== next) {
              throw new CorruptLogError(this.path, start + pos, `expected entry ${next} here`);
            }
            out[index - lo] = {
              index,
              term: readU64(view, q + 1),
              type: buf[q] === 0 ? "normal" : "confChange",
              data: buf.subarray(q + 13, q + 13 + size),
            };
            next++;
          }
          q += 13 + size;
        }
      }
      pos = p + length;
      if (pos >= buf.length && next < hi) {
        throw new CorruptLogError(
          this.path,
          start + pos,
          `entry ${next} is not where the index says`,
        );
      }
    }
    return out;
  }

  /** Closes the read handle, if open. */
  closeReader(): void {
    this.#reader?.close();
    this.#reader = undefined;
  }
}
