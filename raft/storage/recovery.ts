/**
 * Reading a data directory back after a restart or a crash. {@link recoverDataDir}
 * only reads: it verifies every record, rebuilds the in-memory index and lists
 * the repairs a crash calls for (a torn tail to cut, half-done snapshot
 * installs to finish). `FileStorage.open` applies them; the checker reports them.
 *
 * What counts as a crash and what as corruption:
 * - A torn tail: the last segment ends in a record that is cut short, or a
 *   damaged record with nothing valid after it. Only the final write can be
 *   torn, and it was never acknowledged (acknowledgement waits for fsync), so
 *   it is dropped.
 * - Zeros after a segment's last record are not a tear: the storage writes
 *   zeros ahead of the log, and the next save overwrites them.
 * - Everything else is corruption and raises {@link CorruptLogError} naming
 *   file and byte offset: a bad checksum in an earlier segment or with valid
 *   records after it, a missing segment, an index gap, a snapshot that does
 *   not reach the log, or a commit index beyond the last entry.
 *
 * Segments are read in the order they were created (their sequence
 * number). A segment that starts at an index older segments hold replaces
 * them from there on: the log was truncated there (a new leader's entries
 * replaced a conflicting suffix). Older segments it replaces wholly are
 * removed on open.
 *
 * @module
 */

import { join } from "node:path";
import type { HardState, Snapshot } from "../core/types.ts";
import { EMPTY_HARD_STATE } from "../core/types.ts";
import { readHardStateFile } from "./hard_state_file.ts";
import {
  BATCH_HEADER_BYTES,
  checkFrame,
  decodeBatch,
  decodeSegmentHeader,
  FRAME_HEADER_BYTES,
  FrameStatus,
  readU64,
  RecordKind,
  type SequencedHardState,
} from "./record.ts";
import { parseSegmentFileName, Segment } from "./segment.ts";
import { readSnapshotFile } from "./snapshot_file.ts";
import { CorruptLogError } from "./storage_errors.ts";

/**
 * A change recovery needs before the directory can be written again.
 *
 * - `truncateTail`: cut the last segment at `offset`, dropping a torn record.
 * - `removeSegment`: delete a last segment whose header never made it to disk.
 * - `discardLog`: a snapshot was being installed over a log it does not match;
 *   delete all `files` and start a fresh segment after the snapshot.
 * - `removeTemp`: delete an unfinished temp file of an atomic replace.
 */
export type Repair =
  | {
    readonly kind: "truncateTail";
    readonly file: string;
    readonly offset: number;
    readonly droppedBytes: number;
    readonly reason: string;
  }
  | { readonly kind: "removeSegment"; readonly file: string; readonly reason: string }
  | { readonly kind: "discardLog"; readonly files: readonly string[]; readonly reason: string }
  | { readonly kind: "removeTemp"; readonly file: string };

/** What {@link recoverDataDir} found, as it will be once the repairs are applied. */
export interface RecoveredDir {
  /** Nothing was ever stored here: no segments, no snapshot, no hard state. */
  readonly fresh: boolean;
  /** The snapshot file's contents, if there is one. */
  readonly snapshot: Snapshot | undefined;
  /** The newest hard state (by sequence number), with its commit raised to the snapshot index. */
  readonly hardState: HardState;
  /** Sequence number of that hard state (0 when none was ever written). */
  readonly hardStateSeq: number;
  /** Sequence number of the hard-state file (0 when there is none). */
  readonly hardStateFileSeq: number;
  /** Where the newest hard state was found: a file path, or "none". */
  readonly hardStateSource: string;
  /** Segments that remain, in order, with their indexes loaded. */
  readonly segments: Segment[];
  /** Highest segment sequence number seen (0 when there are none). */
  readonly maxSeq: number;
  /** First readable index and the term of the index before it. */
  readonly firstIndex: number;
  readonly prevTerm: number;
  readonly lastIndex: number;
  /** Bytes per segment file as found on disk (before repairs), by path. */
  readonly fileSizes: ReadonlyMap<string, number>;
  /** Repairs to apply, in order. */
  readonly repairs: readonly Repair[];
}

const CHUNK_BYTES = 8 << 20;

interface SegmentScan {
  /** Undefined when the segment's header itself is torn (the file holds nothing). */
  readonly segment: Segment | undefined;
  readonly size: number;
  readonly torn: { offset: number; reason: string } | undefined;
  readonly hardState: SequencedHardState | undefined;
  /** Valid records after the segment header. */
  readonly records: number;
}

/** Whether buf[from..end) holds a complete valid frame at any offset; returns it or -1. */
function findValidFrame(buf: Uint8Array, from: number, end: number): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let p = from; p + FRAME_HEADER_BYTES < end; p++) {
    const length = view.getUint32(p, true);
    if (length === 0 || length > end - p - FRAME_HEADER_BYTES) continue;
    if (checkFrame(buf, view, p, end) >= 0) return p;
  }
  return -1;
}

function corrupt(path: string, offset: number, reason: string): never {
  throw new CorruptLogError(path, offset, reason);
}

function allZero(buf: Uint8Array, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

function readAt(file: Deno.FsFile, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  file.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = file.readSync(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * Reads one segment in large chunks, verifying every frame. Avoids per-entry
 * allocation: the index goes into typed arrays, and the newest hard state is
 * only located during the scan and decoded at the end.
 */
function scanSegment(
  dir: string,
  name: string,
  seq: number,
  nameIndex: number,
  isLast: boolean,
  scratch: { buf: Uint8Array },
): SegmentScan {
  const path = join(dir, name);
  const file = Deno.openSync(path, { read: true });
  try {
    const size = file.statSync().size;
    let buf = scratch.buf;
    let view = new DataView(buf.buffer);
    let base = 0; // file offset of buf[0]
    let filled = 0; // valid bytes in buf
    let pos = 0; // parse position in buf
    let segment: Segment | undefined;
    let expected = nameIndex;
    let lastTerm = 0;
    let bestSeq = -1;
    let bestOffset = 0;
    let bestLength = 0;
    let records = 0;

    const refill = (need: number): void => {
      // Keep the unparsed tail, then read more behind it.
      if (pos > 0) {
        buf.copyWithin(0, pos, filled);
        base += pos;
        filled -= pos;
        pos = 0;
      }
      if (need > buf.length) {
        const bigger = new Uint8Array(Math.max(need, buf.length * 2));
        bigger.set(buf.subarray(0, filled));
        buf = bigger;
        view = new DataView(buf.buffer);
        scratch.buf = bigger;
      }
      file.seekSync(base + filled, Deno.SeekMode.Start);
      while (filled < buf.length && base + filled < size) {
        const n = file.readSync(buf.subarray(filled));
        if (n === null) break;
        filled += n;
      }
    };

    const decodeBest = (): SequencedHardState | undefined => {
      if (bestSeq < 0) return undefined;
      const frame = readAt(file, bestOffset, bestLength);
      const v = new DataView(frame.buffer);
      const hs = decodeBatch(frame, v, FRAME_HEADER_BYTES, frame.length - FRAME_HEADER_BYTES)
        ?.hardState;
      if (hs === undefined) corrupt(path, bestOffset, "malformed hard state in batch record");
      return hs;
    };

    // A damaged record at `offset`. In the last segment it is a torn tail
    // unless something valid follows it; anywhere else it is corruption.
    const damaged = (offset: number, status: number, length: number): SegmentScan => {
      // Only zeros from here on: zeros written ahead of the log
      // (FileStorageOptions.preallocateBytes; a crash while a new segment
      // started may leave them on what is no longer the last one), or a write
      // that had extended the file but not reached the disk. Either way the
      // segment's records end here; a gap this hid would fail the index
      // checks across segments.
      if (segment !== undefined && allZero(readAt(file, offset, size - offset), 0)) {
        segment.trim();
        return { segment, size, torn: undefined, hardState: decodeBest(), records };
      }
      const reason = status === FrameStatus.headerIncomplete
        ? "record header is cut short"
        : status === FrameStatus.payloadIncomplete
        ? `record is cut short (${length} payload bytes announced, ${
          size - offset - FRAME_HEADER_BYTES
        } present)`
        : status === FrameStatus.badHeader
        ? "record header checksum mismatch"
        : "record checksum mismatch";
      if (!isLast) {
        corrupt(
          path,
          offset,
          `${reason} in a segment that is not the last: damage, not a torn write`,
        );
      }
      if (status === FrameStatus.badHeader || status === FrameStatus.badPayload) {
        const tail = readAt(file, offset, size - offset);
        // A sound header gives a reliable length: look after the record. A
        // damaged header gives none: look at every later offset.
        const from = status === FrameStatus.badPayload ? FRAME_HEADER_BYTES + length : 1;
        const zeroTail = status === FrameStatus.badHeader && allZero(tail, 0);
        const next = zeroTail ? -1 : findValidFrame(tail, from, tail.length);
        if (next >= 0) {
          corrupt(
            path,
            offset,
            `${reason}, and a valid record follows at byte offset ${
              offset + next
            }: this is damage, not a torn write`,
          );
        }
      }
      segment?.trim();
      return { segment, size, torn: { offset, reason }, hardState: decodeBest(), records };
    };

    refill(FRAME_HEADER_BYTES);
    while (base + pos < size) {
      let length = checkFrame(buf, view, pos, filled);
      while (
        (length === FrameStatus.headerIncomplete || length === FrameStatus.payloadIncomplete) &&
        base + filled < size
      ) {
        const need = length === FrameStatus.headerIncomplete
          ? FRAME_HEADER_BYTES
          : FRAME_HEADER_BYTES + view.getUint32(pos, true);
        if (base + pos + need > size) break; // cut short by the end of the file
        refill(need);
        length = checkFrame(buf, view, pos, filled);
      }
      const offset = base + pos;
      if (length < 0) {
        return damaged(
          offset,
          length,
          length === FrameStatus.headerIncomplete ? 0 : view.getUint32(pos, true),
        );
      }
      const p = pos + FRAME_HEADER_BYTES;
      const end = p + length;
      const kind = buf[p];
      if (segment === undefined) {
        const header = offset === 0 ? decodeSegmentHeader(buf, view, p, length) : undefined;
        if (header === undefined) {
          return corrupt(path, offset, "the file does not start with a segment header");
        }
        if (header.firstIndex !== nameIndex) {
          corrupt(
            path,
            offset,
            `segment header says first index ${header.firstIndex}, file name says ${nameIndex}`,
          );
        }
        segment = new Segment(dir, nameIndex, {
          seq,
          prevTerm: header.prevTerm,
          headerBytes: FRAME_HEADER_BYTES + length,
          capacity: Math.ceil(size / 100),
        });
        lastTerm = header.prevTerm;
      } else if (kind === RecordKind.batch && length >= BATCH_HEADER_BYTES) {
        records++;
        // Parsed inline, without objects per entry: this loop is most of a reopen.
        const flags = buf[p + 1];
        const first = readU64(view, p + 2);
        const count = view.getUint32(p + 10, true);
        let q = p + BATCH_HEADER_BYTES;
        if (flags !== 0 && flags !== 1) corrupt(path, offset, "malformed batch record");
        if (flags === 1) {
          if (end - q < 26 || end - q < 26 + view.getUint16(q + 24, true)) {
            corrupt(path, offset, "malformed hard state in batch record");
          }
          const seq = readU64(view, q);
          if (seq > bestSeq) {
            bestSeq = seq;
            bestOffset = offset;
            bestLength = FRAME_HEADER_BYTES + length;
          }
          if (seq > segment.hardStateSeq) segment.hardStateSeq = seq;
          q += 26 + view.getUint16(q + 24, true);
        }
        if (count > 0 && first !== expected) {
          corrupt(
            path,
            offset,
            `expected entry ${expected}, found entry ${first}: the log has a gap`,
          );
        }
        const frameEnd = offset + FRAME_HEADER_BYTES + length;
        for (let k = 0; k < count; k++) {
          if (end - q < 13 || buf[q]! > 1) corrupt(path, offset, "malformed entry in batch record");
          const term = readU64(view, q + 1);
          const dataSize = view.getUint32(q + 9, true);
          const at = base + q;
          q += 13 + dataSize;
          if (q > end) corrupt(path, offset, "entry runs past its batch record");
          if (term < lastTerm) {
            corrupt(
              path,
              offset,
              `entry ${expected} has term ${term} below the previous ${lastTerm}`,
            );
          }
          segment.push(offset, frameEnd, at, dataSize, term);
          lastTerm = term;
          expected++;
        }
        if (q !== end) corrupt(path, offset, "batch record has bytes after its last entry");
      } else {
        corrupt(path, offset, `unknown or malformed record (kind ${kind})`);
      }
      pos = end;
      segment.bytes = base + pos;
    }
    const hardState = decodeBest();
    if (segment === undefined) {
      // An empty file: the segment was created but its first write never landed.
      if (!isLast) corrupt(path, 0, "segment file is empty");
      return {
        segment,
        size,
        torn: { offset: 0, reason: "segment file is empty" },
        hardState,
        records,
      };
    }
    // The index was sized for 100-byte entries; larger ones leave it mostly empty.
    segment.trim();
    return { segment, size, torn: undefined, hardState, records };
  } finally {
    file.close();
  }
}

/**
 * Reads and verifies everything in `dir` without changing it. Throws
 * {@link CorruptLogError} on corruption; returns the recovered state plus the
 * repairs a crash left to do.
 *
 * @example
 * ```ts
 * import { recoverDataDir } from "./recovery.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   const r = await recoverDataDir(dir);
 *   console.assert(r.fresh && r.lastIndex === 0 && r.repairs.length === 0);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function recoverDataDir(dir: string): Promise<RecoveredDir> {
  const repairs: Repair[] = [];
  const segmentNames: { name: string; seq: number; first: number }[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (!e.isFile) continue;
    const parsed = parseSegmentFileName(e.name);
    if (parsed !== undefined) {
      segmentNames.push({ name: e.name, seq: parsed.seq, first: parsed.firstIndex });
    } else if (e.name.endsWith(".tmp")) {
      repairs.push({ kind: "removeTemp", file: join(dir, e.name) });
    }
  }
  segmentNames.sort((a, b) => a.seq - b.seq);
  for (let i = 1; i < segmentNames.length; i++) {
    if (segmentNames[i]!.seq === segmentNames[i - 1]!.seq) {
      throw new CorruptLogError(
        join(dir, segmentNames[i]!.name),
        0,
        `two segments have sequence number ${segmentNames[i]!.seq}`,
      );
    }
  }

  const snapshot = await readSnapshotFile(dir);
  const hsFile = await readHardStateFile(dir);
  const snapIndex = snapshot?.metadata.index ?? 0;
  const snapTerm = snapshot?.metadata.term ?? 0;

  let best: SequencedHardState | undefined = hsFile;
  let bestSource = hsFile === undefined ? "none" : join(dir, "hardstate");
  // The live segments, oldest first; a newer segment may replace the tail of older ones.
  const segments: Segment[] = [];
  const fileSizes = new Map<string, number>();
  const scratch = { buf: new Uint8Array(CHUNK_BYTES) };
  for (let i = 0; i < segmentNames.length; i++) {
    const { name, seq, first } = segmentNames[i]!;
    const path = join(dir, name);
    const isLast = i === segmentNames.length - 1;
    const scan = scanSegment(dir, name, seq, first, isLast, scratch);
    fileSizes.set(path, scan.size);
    if (scan.hardState !== undefined && (best === undefined || scan.hardState.seq > best.seq)) {
      best = scan.hardState;
      bestSource = path;
    }
    const seg = scan.segment;
    if (seg === undefined) {
      repairs.push({
        kind: "removeSegment",
        file: path,
        reason: `its header was never fully written (${scan.size} bytes)`,
      });
      continue;
    }
    const prev = segments[segments.length - 1];
    if (prev !== undefined && seg.firstIndex <= prev.lastIndex && scan.records === 0 && isLast) {
      // A suffix replacement writes the new segment's header and first batch
      // in one write; with the batch torn away, the replacement never
      // happened and the old entries stand.
      repairs.push({
        kind: "removeSegment",
        file: path,
        reason:
          `it would replace entries from ${seg.firstIndex} on, but its first batch never landed`,
      });
      continue;
    }
    if (prev !== undefined) {
      if (seg.firstIndex > prev.lastIndex + 1) {
        throw new CorruptLogError(
          path,
          0,
          `segment starts at index ${seg.firstIndex} but the log before it (${prev.name}) ends at index ${prev.lastIndex}: a segment is missing`,
        );
      }
      const holder = [...segments].reverse().find((s) =>
        seg.firstIndex - 1 >= s.firstIndex - 1 && seg.firstIndex - 1 <= s.lastIndex
      );
      if (holder === undefined) {
        throw new CorruptLogError(
          path,
          0,
          `segment starts at index ${seg.firstIndex}, before the log it would replace`,
        );
      }
      const before = holder.term(seg.firstIndex - 1);
      if (seg.prevTerm !== before) {
        throw new CorruptLogError(
          path,
          0,
          `segment header says entry ${
            seg.firstIndex - 1
          } has term ${seg.prevTerm}, but ${holder.name} has term ${before}`,
        );
      }
      // The log was truncated at this segment's first index: older segments
      // that start there or later are wholly replaced, the one holding the
      // entry before it keeps only what precedes it.
      while (segments.length > 0 && segments[segments.length - 1]!.firstIndex >= seg.firstIndex) {
        const dead = segments.pop()!;
        repairs.push({
          kind: "removeSegment",
          file: dead.path,
          reason: `${seg.name} replaced all of its entries`,
        });
      }
      const keep = segments[segments.length - 1];
      if (keep !== undefined && keep.lastIndex >= seg.firstIndex) keep.shadowFrom(seg.firstIndex);
    }
    if (scan.torn !== undefined) {
      repairs.push({
        kind: "truncateTail",
        file: path,
        offset: scan.torn.offset,
        droppedBytes: scan.size - scan.torn.offset,
        reason: scan.torn.reason,
      });
    }
    segments.push(seg);
  }

  let firstIndex = snapIndex + 1;
  let prevTerm = snapTerm;
  let lastIndex = snapIndex;
  const head = segments[0];
  const tail = segments[segments.length - 1];
  if (head !== undefined && tail !== undefined) {
    if (head.firstIndex - 1 > snapIndex) {
      throw new CorruptLogError(
        head.path,
        0,
        `the log starts at index ${head.firstIndex} but the snapshot covers only up to index ${snapIndex}: entries ${
          snapIndex + 1
        }..${head.firstIndex - 1} are missing`,
      );
    }
    const termAtSnap = tail.lastIndex < snapIndex
      ? undefined
      : segments.find((s) => s.lastIndex >= snapIndex)?.term(snapIndex);
    if (snapshot === undefined || termAtSnap === snapTerm) {
      firstIndex = head.firstIndex;
      prevTerm = head.prevTerm;
      lastIndex = tail.lastIndex;
    } else {
      // Only an interrupted snapshot install leaves a snapshot the log does
      // not match; finishing it means dropping the old log.
      repairs.push({
        kind: "discardLog",
        files: segments.map((s) => s.path),
        reason: termAtSnap === undefined
          ? `the log ends at index ${tail.lastIndex}, before the snapshot at index ${snapIndex}`
          : `entry ${snapIndex} has term ${termAtSnap} but the snapshot has term ${snapTerm}`,
      });
      segments.length = 0;
    }
  }

  const found = best?.hardState ?? EMPTY_HARD_STATE;
  // A snapshot holds only committed entries.
  const hardState = found.commit < snapIndex ? { ...found, commit: snapIndex } : found;
  if (hardState.commit > lastIndex) {
    const last = segments[segments.length - 1];
    throw new CorruptLogError(
      last?.path ?? bestSource,
      last?.bytes ?? 0,
      `the hard state (${bestSource}) says entries up to index ${hardState.commit} are committed, but the log ends at index ${lastIndex}: committed entries are missing`,
    );
  }
  return {
    fresh: segmentNames.length === 0 && snapshot === undefined && hsFile === undefined,
    snapshot,
    hardState,
    hardStateSeq: best?.seq ?? 0,
    hardStateFileSeq: hsFile?.seq ?? 0,
    hardStateSource: bestSource,
    segments,
    maxSeq: segmentNames.reduce((m, n) => Math.max(m, n.seq), 0),
    firstIndex,
    prevTerm,
    lastIndex,
    fileSizes,
    repairs,
  };
}
