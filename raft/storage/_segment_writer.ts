/**
 * Writing the log's last segment file: a save's batch records encoded into
 * one buffer and written with one `write`, zeros written ahead of the
 * records, and the switch to the next segment's file.
 *
 * @module
 */

import type { Entry, HardState } from "../core/types.ts";
import { writeAllSync } from "./atomic_file.ts";
import {
  BATCH_ENTRY_OVERHEAD_BYTES,
  BATCH_HEADER_BYTES,
  encodeBatch,
  encodeSegmentHeader,
  FRAME_HEADER_BYTES,
  MAX_BATCH_PAYLOAD_BYTES,
  SEGMENT_HEADER_BYTES,
} from "./record.ts";
import type { Segment } from "./segment.ts";

/** Zeros written ahead of the log come from here, a chunk at a time. */
let zeros = new Uint8Array(0);
// Saves up to this size reuse one buffer; larger ones get their own.
const SCRATCH_MAX_BYTES = 8 << 20;

const encoder = new TextEncoder();

/** Creates a segment file holding only its header, durably (the caller fsyncs the directory). */
export async function createSegmentFile(seg: Segment): Promise<Deno.FsFile> {
  const header = new Uint8Array(SEGMENT_HEADER_BYTES);
  encodeSegmentHeader(header, new DataView(header.buffer), 0, {
    firstIndex: seg.firstIndex,
    prevTerm: seg.prevTerm,
  });
  const f = await Deno.open(seg.path, { write: true, createNew: true });
  try {
    writeAllSync(f, header);
    await f.syncData();
  } catch (err) {
    f.close();
    throw err;
  }
  seg.bytes = SEGMENT_HEADER_BYTES;
  return f;
}

/** Options of {@link SegmentWriter}. */
export interface SegmentWriterOptions {
  /** The last segment's file, positioned at the end of its records. */
  readonly file: Deno.FsFile;
  /** Size of that file (records, then zeros written ahead). */
  readonly fileEnd: number;
  /** Size a segment is closed at; zeros are never written past it. */
  readonly segmentBytes: number;
  /** Zeros written ahead of the records (`FileStorageOptions.preallocateBytes`). */
  readonly preallocateBytes: number;
}

/** Writes batch records to the last segment's file. */
export class SegmentWriter {
  #file: Deno.FsFile;
  /**
   * Size of the last segment's file: its records, then zeros written ahead
   * (see `FileStorageOptions.preallocateBytes`). The file's position is
   * always the end of the records.
   */
  #fileEnd: number;
  /** Bytes were written to the file since its last syncData. */
  #unsynced = false;
  readonly #segmentBytes: number;
  readonly #preallocateBytes: number;
  #vote = "";
  #voteBytes = new Uint8Array(0);
  #scratch = new Uint8Array(64 << 10);
  #scratchView = new DataView(this.#scratch.buffer);
  /** The batches {@link plan} made: cuts[j] is the entry index where batch j ends. */
  #cuts: number[] = [];

  constructor(options: SegmentWriterOptions) {
    this.#file = options.file;
    this.#fileEnd = options.fileEnd;
    this.#segmentBytes = options.segmentBytes;
    this.#preallocateBytes = options.preallocateBytes;
  }

  /** Whether bytes were written since the last syncData. */
  get unsynced(): boolean {
    return this.#unsynced;
  }

  /**
   * Makes what was written durable (callers check {@link unsynced} first).
   * The flag clears only once the fsync is done: a save that finds nothing
   * unsynced returns at once, claiming durability.
   */
  async syncData(): Promise<void> {
    await this.#file.syncData();
    this.#unsynced = false;
  }

  /**
   * Plans the batch records of a save of `entries` and hard state `hs`:
   * batches of up to MAX_BATCH_PAYLOAD_BYTES, the hard state in the last
   * one. Returns their size in bytes (a new segment's header not counted).
   */
  plan(entries: readonly Entry[], hs: HardState | undefined): number {
    let vote = this.#voteBytes;
    if (hs !== undefined && hs.vote !== this.#vote) {
      vote = encoder.encode(hs.vote);
      this.#vote = hs.vote;
      this.#voteBytes = vote;
    }
    const n = entries.length;
    const cuts = this.#cuts;
    cuts.length = 0;
    let size = 0;
    let payload = BATCH_HEADER_BYTES;
    for (let i = 0; i < n; i++) {
      const add = BATCH_ENTRY_OVERHEAD_BYTES + entries[i]!.data.byteLength;
      if (payload + add > MAX_BATCH_PAYLOAD_BYTES && payload > BATCH_HEADER_BYTES) {
        cuts.push(i);
        size += FRAME_HEADER_BYTES + payload;
        payload = BATCH_HEADER_BYTES;
      }
      payload += add;
    }
    cuts.push(n);
    size += FRAME_HEADER_BYTES + payload + (hs === undefined ? 0 : 26 + vote.byteLength);
    return size;
  }

  /**
   * Writes the records {@link plan} planned for the same `entries` and `hs`
   * to segment `seg` (after its header, when it has none yet) with one write,
   * and indexes the entries in `seg`. `size` is their size with the header;
   * `seq` the hard state's sequence number.
   */
  write(
    seg: Segment,
    entries: readonly Entry[],
    size: number,
    seq: number,
    hs: HardState | undefined,
  ): void {
    const header = seg.bytes === 0;
    const cuts = this.#cuts;
    const vote = this.#voteBytes;
    let buf = this.#scratch;
    let view = this.#scratchView;
    if (size > buf.length) {
      buf = new Uint8Array(Math.max(size, buf.length * 2));
      view = new DataView(buf.buffer);
      if (buf.length <= SCRATCH_MAX_BYTES) {
        this.#scratch = buf;
        this.#scratchView = view;
      }
    }
    const base = seg.bytes;
    let pos = 0;
    if (header) {
      pos = encodeSegmentHeader(buf, view, 0, {
        firstIndex: seg.firstIndex,
        prevTerm: seg.prevTerm,
      });
    }
    let from = 0;
    for (let j = 0; j < cuts.length; j++) {
      const to = cuts[j]!;
      const start = base + pos;
      pos = encodeBatch(
        buf,
        view,
        pos,
        entries,
        from,
        to,
        hs !== undefined && j === cuts.length - 1
          ? { shs: { seq, hardState: hs }, vote }
          : undefined,
      );
      const end = base + pos;
      // Entry offsets as encodeBatch lays them out: after the batch header
      // and the hard state (carried by the last batch only).
      let at = start + FRAME_HEADER_BYTES + BATCH_HEADER_BYTES +
        (hs !== undefined && j === cuts.length - 1 ? 26 + vote.byteLength : 0);
      for (let i = from; i < to; i++) {
        const e = entries[i]!;
        const size = e.data.byteLength;
        seg.push(start, end, at, size, e.term);
        at += BATCH_ENTRY_OVERHEAD_BYTES + size;
      }
      from = to;
    }
    this.#unsynced = true;
    writeAllSync(this.#file, buf.subarray(0, size));
    seg.bytes = base + size;
    if (seg.bytes > this.#fileEnd) this.#fileEnd = seg.bytes;
    if (this.#fileEnd - seg.bytes < this.#preallocateBytes / 2) this.#writeAhead(seg.bytes);
  }

  /**
   * Zero-fills the file from `end` (the file's position, the end of the
   * records) up to `preallocateBytes` past it, no further than the segment
   * size, and puts the position back at `end`. The save's syncData makes the
   * zeros durable with its records.
   */
  #writeAhead(end: number): void {
    const target = Math.min(end + this.#preallocateBytes, this.#segmentBytes);
    if (target <= this.#fileEnd) return;
    if (zeros.length === 0) zeros = new Uint8Array(1 << 20);
    this.#file.seekSync(this.#fileEnd, Deno.SeekMode.Start);
    for (let at = this.#fileEnd; at < target; at += zeros.length) {
      writeAllSync(this.#file, zeros.subarray(0, Math.min(zeros.length, target - at)));
    }
    this.#file.seekSync(end, Deno.SeekMode.Start);
    this.#fileEnd = target;
  }

  /** Cuts the zeros written ahead off the file and makes it durable: no more goes into it. */
  async endSegment(): Promise<void> {
    // Only the last segment may end in zeros: cut them off this one.
    const end = this.#file.seekSync(0, Deno.SeekMode.Current);
    if (this.#fileEnd > end) {
      await this.#file.truncate(end);
      this.#unsynced = true;
    }
    if (this.#unsynced) {
      await this.#file.syncData();
      this.#unsynced = false;
    }
  }

  /** Creates the empty file `path` of the next segment and writes to it from now on. */
  async openSegment(path: string): Promise<void> {
    const f = await Deno.open(path, { write: true, createNew: true });
    try {
      this.#file.close();
    } catch {
      // Already closed (truncation closes it first).
    }
    this.#file = f;
    this.#fileEnd = 0;
  }

  /** Writes to `file` from now on: a new segment's, durable up to `fileEnd`, its end. */
  use(file: Deno.FsFile, fileEnd: number): void {
    this.#file = file;
    this.#fileEnd = fileEnd;
    this.#unsynced = false;
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}
