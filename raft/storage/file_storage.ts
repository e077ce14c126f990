/**
 * Durable storage in a data directory: the {@link WritableStorage} a node
 * runs on in production.
 *
 * Layout of a data directory:
 *
 * ```
 * LOCK                        flock held by the process that has it open
 * 00000000000000000001.wal    log segments, named by their first index
 * 00000000000000524289.wal
 * hardstate                   hard-state checkpoint (replaced atomically)
 * snapshot                    latest snapshot (replaced atomically)
 * ```
 *
 * Beside them, not opened here: `snapshot.partial` and
 * `snapshot.partial.header`, a snapshot still arriving from the leader
 * (partial_snapshot_file.ts); recovery deletes a leftover `*.tmp` of its
 * header as of any atomic replace.
 *
 * Each `save` appends one batch record (entries, then hard state, under one
 * CRC) with one `write`, then one `syncData`. A conflicting suffix is
 * replaced by starting a new segment named after the first replaced index:
 * it shadows the rest of the older segment, so nothing acknowledged is ever
 * overwritten in place.
 *
 * Reads are synchronous, as the core needs: an in-memory index maps every
 * log index to its segment, the batch record holding it, its byte offset,
 * size and term; recent entries are served from a cache bounded in bytes,
 * older ones from disk through one reusable buffer. A record's checksum is
 * verified the first time one of its entries is read (damage surfaces as
 * `CorruptLogError` before any of its bytes are served); later reads fetch
 * only the requested entries' bytes, and a range of entries in large
 * contiguous chunks. What reads return are copies that pin no larger buffer.
 * `entrySlice` reads a byte range of one entry, so a reader that wants a
 * few hundred bytes of a large entry copies only those.
 *
 * @module
 */

import { Histogram } from "../histogram.ts";
import { CompactedError, RaftInvariantError, UnavailableError } from "../core/errors.ts";
import type { InitialState } from "../core/storage.ts";
import type { ConfState, Entry, HardState, Snapshot } from "../core/types.ts";
import { confStateOf } from "../core/conf_state.ts";
import {
  checkConfState,
  checkEntries,
  checkHardState,
  checkIndex,
  checkSnapshot,
} from "./_arg_checks.ts";
import { LatestSnapshot } from "./_latest_snapshot.ts";
import { applyRepairs } from "./_repairs.ts";
import { createSegmentFile, SegmentWriter } from "./_segment_writer.ts";
import { syncDir } from "./atomic_file.ts";
import { DirLock } from "./dir_lock.ts";
import { EntryCache } from "./entry_cache.ts";
import { checkSliceRange, type EntrySliceReader } from "./entry_slice.ts";
import type { FileStorageOptions, StorageLogger } from "./file_storage_options.ts";
import { writeHardStateFile } from "./hard_state_file.ts";
import { SEGMENT_HEADER_BYTES } from "./record.ts";
import { ReadBuffer } from "./read_buffer.ts";
import { recoverDataDir } from "./recovery.ts";
import { Segment } from "./segment.ts";
import {
  discardPreparedSnapshot,
  prepareSnapshotFile,
  writeSnapshotFile,
} from "./snapshot_file.ts";
import { StorageClosedError, StorageFailedError } from "./storage_errors.ts";
import type { SaveOptions, StorageUpdate, WritableStorage } from "./writable_storage.ts";

export type { FileStorageOptions, StorageLogger } from "./file_storage_options.ts";

const DEFAULT_SEGMENT_BYTES = 64 << 20;
const DEFAULT_CACHE_BYTES = 16 << 20;
const DEFAULT_PREALLOCATE_BYTES = 1 << 20;
// Record offsets are kept as u32.
const MAX_SEGMENT_BYTES = 0xffff_ffff;
const EMPTY_CONF: ConfState = confStateOf([]);

function defaultLogger(line: Record<string, unknown>): void {
  console.warn(JSON.stringify(line));
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * A Raft log, hard state and snapshot kept in plain files in one directory.
 *
 * Guarantees: once `save(update, { sync: true })` resolves, `update` survives
 * a crash of the process or the machine. A save is one `write` of one record
 * (several for saves over 1 MiB) and one `syncData` (group commit), and is
 * all or nothing on disk. After a crash, `open` drops at most a torn,
 * never-acknowledged final write (and logs it); any other damage makes
 * `open` fail with `CorruptLogError` naming file and byte offset.
 *
 * Invariants: the segments' live entries are the consecutive
 * `segments[0].firstIndex .. lastIndex`, with `segments[0].firstIndex <=
 * firstIndex`; the last segment is the one written to; the entry cache, when
 * not empty, ends at `lastIndex`.
 *
 * @example
 * ```ts
 * import { FileStorage } from "./file_storage.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   const voters = ["n1", "n2", "n3"];
 *   const bootstrap = { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
 *   const s = await FileStorage.open(dir, { bootstrap });
 *   await s.save({
 *     hardState: { term: 1, vote: "n1", commit: 0 },
 *     entries: [{ term: 1, index: 1, type: "normal", data: new TextEncoder().encode("hello") }],
 *   });
 *   await s.close();
 *
 *   const again = await FileStorage.open(dir);
 *   console.assert(again.lastIndex() === 1 && again.initialState().hardState.vote === "n1");
 *   console.assert(new TextDecoder().decode(again.entries(1, 2)[0]!.data) === "hello");
 *   await again.close();
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export class FileStorage implements WritableStorage, EntrySliceReader {
  /** The data directory, as given to {@link FileStorage.open}. */
  readonly dir: string;
  /** Snapshots it is given are read back from their file, never kept: see {@link WritableStorage.releasesSnapshotData}. */
  readonly releasesSnapshotData = true;
  /** How long each sync of the log took (`raftlog_disk_sync_duration_seconds` in `/metrics`). */
  readonly syncSeconds: Histogram = new Histogram();
  /** How long each snapshot given to {@link createSnapshot} took to be written and synced. */
  readonly snapshotSeconds: Histogram = new Histogram();
  /** Bytes of data of the latest snapshot. */
  #snapshotBytes: number;
  #lock: DirLock;
  #segmentBytes: number;
  #logger: StorageLogger;
  #segments: Segment[];
  /** Writes the last segment's file. */
  readonly #writer: SegmentWriter;
  /** The latest snapshot, and the one whose file is being written. */
  readonly #snap: LatestSnapshot;
  /** Settles when the last createSnapshot call has. */
  #snapChain: Promise<void> = Promise.resolve();
  #hardState: HardState;
  /** Sequence number of the newest hard state written (in a segment or the file). */
  #hsSeq: number;
  /** Sequence number of the hard state in the checkpoint file. Invariant: <= #hsSeq. */
  #hsFileSeq: number;
  #firstIndex: number;
  /** Term of entry #firstIndex - 1. */
  #prevTerm: number;
  #lastIndex: number;
  #cache: EntryCache;
  /** Every disk read goes through this one buffer (entries are copied out of it). */
  #readBuffer = new ReadBuffer();
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #failed: unknown = undefined;
  /** A segment was created or removed and the directory not yet fsynced. */
  #dirDirty = false;
  /** Sequence number of the next segment to create. */
  #nextSeq: number;
  /**
   * Segments a suffix replacement made dead, deleted once the replacing
   * batch is durable (until then, a crash must find them).
   */
  #doomed: Segment[] = [];

  private constructor(init: {
    dir: string;
    lock: DirLock;
    segmentBytes: number;
    preallocateBytes: number;
    fileEnd: number;
    cacheBytes: number;
    logger: StorageLogger;
    segments: Segment[];
    writer: Deno.FsFile;
    snapshot: Snapshot;
    hardState: HardState;
    hsSeq: number;
    hsFileSeq: number;
    firstIndex: number;
    prevTerm: number;
    lastIndex: number;
    nextSeq: number;
  }) {
    this.dir = init.dir;
    this.#lock = init.lock;
    this.#segmentBytes = init.segmentBytes;
    this.#logger = init.logger;
    this.#segments = init.segments;
    this.#writer = new SegmentWriter({
      file: init.writer,
      fileEnd: init.fileEnd,
      segmentBytes: init.segmentBytes,
      preallocateBytes: init.preallocateBytes,
    });
    this.#snap = new LatestSnapshot(init.dir, init.snapshot);
    this.#snapshotBytes = init.snapshot.data.length;
    this.#hardState = init.hardState;
    this.#hsSeq = init.hsSeq;
    this.#hsFileSeq = init.hsFileSeq;
    this.#firstIndex = init.firstIndex;
    this.#prevTerm = init.prevTerm;
    this.#lastIndex = init.lastIndex;
    this.#nextSeq = init.nextSeq;
    this.#cache = new EntryCache(init.cacheBytes);
  }

  /**
   * Opens (creating it if needed) the data directory `dir`: takes its lock,
   * verifies every file and recovers from a crash. Throws `DataDirInUseError`
   * when another process has it open and `CorruptLogError` when a file is
   * damaged beyond a torn final write.
   */
  static async open(dir: string, options: FileStorageOptions = {}): Promise<FileStorage> {
    if (typeof dir !== "string" || dir === "") {
      throw new TypeError("FileStorage.open: dir must be a non-empty path");
    }
    if (typeof options !== "object" || options === null) {
      throw new TypeError("FileStorage.open: options must be an object");
    }
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    checkIndex(segmentBytes, "options.segmentBytes");
    if (segmentBytes < 1 || segmentBytes > MAX_SEGMENT_BYTES / 2) {
      throw new RangeError(
        `options.segmentBytes must be between 1 and ${MAX_SEGMENT_BYTES / 2}, got ${segmentBytes}`,
      );
    }
    const cacheBytes = checkIndex(options.cacheBytes ?? DEFAULT_CACHE_BYTES, "options.cacheBytes");
    const preallocateBytes = checkIndex(
      options.preallocateBytes ?? DEFAULT_PREALLOCATE_BYTES,
      "options.preallocateBytes",
    );
    const bootstrap = options.bootstrap === undefined
      ? undefined
      : checkConfState(options.bootstrap, "options.bootstrap");
    if (options.logger !== undefined && typeof options.logger !== "function") {
      throw new TypeError("options.logger must be a function");
    }
    const logger = options.logger ?? defaultLogger;

    await Deno.mkdir(dir, { recursive: true });
    const lock = DirLock.acquire(dir);
    const opened: Segment[] = [];
    try {
      const rec = await recoverDataDir(dir);
      opened.push(...rec.segments);
      const repaired = await applyRepairs(rec, { dir, logger });
      let dirDirty = repaired.dirDirty;
      const hsFileSeq = repaired.hsFileSeq;
      let snapshot = rec.snapshot;
      if (rec.fresh && bootstrap !== undefined) {
        snapshot = {
          metadata: { index: 0, term: 0, confState: bootstrap },
          data: new Uint8Array(),
        };
        await writeSnapshotFile(dir, snapshot);
      }
      const segments = rec.segments;
      let writer: Deno.FsFile;
      let fileEnd: number;
      const last = segments[segments.length - 1];
      if (last === undefined) {
        const seg = new Segment(dir, rec.lastIndex + 1, {
          seq: rec.maxSeq + 1,
          prevTerm: rec.prevTerm,
          headerBytes: SEGMENT_HEADER_BYTES,
        });
        writer = await createSegmentFile(seg);
        fileEnd = seg.bytes;
        segments.push(seg);
        opened.push(seg);
        dirDirty = true;
      } else {
        writer = await Deno.open(last.path, { write: true });
        // Zeros may follow the last record (written ahead): the next save overwrites them.
        fileEnd = writer.statSync().size;
        writer.seekSync(last.bytes, Deno.SeekMode.Start);
      }
      if (dirDirty) await syncDir(dir);
      return new FileStorage({
        dir,
        lock,
        segmentBytes,
        preallocateBytes,
        fileEnd,
        cacheBytes,
        logger,
        segments,
        writer,
        snapshot: snapshot ??
          { metadata: { index: 0, term: 0, confState: EMPTY_CONF }, data: new Uint8Array() },
        hardState: rec.hardState,
        hsSeq: rec.hardStateSeq,
        hsFileSeq,
        firstIndex: rec.firstIndex,
        prevTerm: rec.prevTerm,
        lastIndex: rec.lastIndex,
        nextSeq: Math.max(rec.maxSeq, segments[segments.length - 1]!.seq) + 1,
      });
    } catch (err) {
      for (const s of opened) s.closeReader();
      lock.release();
      throw err;
    }
  }

  // ---- Storage (synchronous reads) ----

  #checkReadable(): void {
    if (this.#closed) throw new StorageClosedError(this.dir);
    if (this.#failed !== undefined) throw new StorageFailedError(this.dir, this.#failed);
  }

  /** Hard state and membership (from the snapshot) recovered from disk. */
  initialState(): InitialState {
    this.#checkReadable();
    return { hardState: this.#hardState, confState: this.#snap.metadata.confState };
  }

  /**
   * Entries in [lo, hi), at most `maxBytes` in total (by `entrySize`) but at
   * least one. Throws `CompactedError` below `firstIndex()` and
   * `UnavailableError` past `lastIndex() + 1`.
   */
  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    this.#checkReadable();
    checkIndex(lo, "lo");
    checkIndex(hi, "hi");
    if (maxBytes !== undefined && (typeof maxBytes !== "number" || Number.isNaN(maxBytes))) {
      throw new TypeError(`maxBytes must be a number, got ${String(maxBytes)}`);
    }
    if (lo < this.#firstIndex) throw new CompactedError(lo, this.#firstIndex);
    if (hi > this.#lastIndex + 1) throw new UnavailableError(hi - 1, this.#lastIndex);
    if (lo > hi) throw new RangeError(`entries: lo (${lo}) must not be above hi (${hi})`);
    if (lo === hi) return [];
    let end = hi;
    if (maxBytes !== undefined) {
      // Sizes are in the index, so the range to read is known before reading.
      let seg = this.#segmentFor(lo);
      let size = 0;
      for (let i = lo; i < hi; i++) {
        if (i > seg.lastIndex) seg = this.#segmentFor(i);
        size += seg.size(i) + 16;
        if (size > maxBytes && i > lo) {
          end = i;
          break;
        }
      }
    }
    const cache = this.#cache;
    if (cache.has(lo)) return cache.slice(lo, end);
    const diskEnd = cache.count > 0 && cache.first < end ? cache.first : end;
    const out: Entry[] = [];
    for (let i = lo; i < diskEnd;) {
      const seg = this.#segmentFor(i);
      const stop = Math.min(diskEnd, seg.lastIndex + 1);
      const part = seg.read(i, stop, this.#readBuffer);
      for (const e of part) out.push(e);
      i = stop;
    }
    if (diskEnd < end) { for (const e of cache.slice(diskEnd, end)) out.push(e); }
    return out;
  }

  /**
   * A copy of bytes `[start, end)` of entry `index`'s data (`end` defaults
   * to its length): {@link EntrySliceReader.entrySlice}. Reads only those
   * bytes (and the entry's header, checked against the index) unless the
   * record holding the entry was not verified since open: then the whole
   * record is read once and its checksum checked, so damage throws
   * `CorruptLogError` before any byte is served. Adds nothing to the entry
   * cache. Throws `CompactedError` below `firstIndex()` and
   * `UnavailableError` past `lastIndex()`.
   */
  entrySlice(index: number, start: number, end?: number): Uint8Array {
    this.#checkReadable();
    checkIndex(index, "index");
    if (index < this.#firstIndex) throw new CompactedError(index, this.#firstIndex);
    if (index > this.#lastIndex) throw new UnavailableError(index, this.#lastIndex);
    const seg = this.#segmentFor(index);
    const stop = checkSliceRange(index, start, end, seg.size(index));
    if (this.#cache.has(index)) {
      return this.#cache.slice(index, index + 1)[0]!.data.slice(start, stop);
    }
    return seg.slice(index, start, stop, this.#readBuffer);
  }

  /** Term of entry `index`, for `index` in [firstIndex() - 1, lastIndex()]. */
  term(index: number): number {
    this.#checkReadable();
    checkIndex(index, "index");
    if (index < this.#firstIndex - 1) throw new CompactedError(index, this.#firstIndex);
    if (index > this.#lastIndex) throw new UnavailableError(index, this.#lastIndex);
    return this.#termAt(index);
  }

  /** Index of the first readable entry. */
  firstIndex(): number {
    this.#checkReadable();
    return this.#firstIndex;
  }

  /** Bytes of data of the latest snapshot (`raftlog_disk_snapshot_bytes` in `/metrics`). */
  snapshotBytes(): number {
    return this.#snapshotBytes;
  }

  /** Bytes of log segments written (their records and headers, not zeros written ahead). */
  logBytes(): number {
    this.#checkReadable();
    let n = 0;
    for (const seg of this.#segments) n += seg.bytes;
    return n;
  }

  /** Index of the last entry (the snapshot index when the log is empty). */
  lastIndex(): number {
    this.#checkReadable();
    return this.#lastIndex;
  }

  /**
   * The latest snapshot (index 0 with the bootstrap membership before any).
   * A large snapshot nobody holds any more is read back from its file
   * (synchronously) and checked; damage throws `CorruptLogError`.
   */
  snapshot(): Snapshot {
    this.#checkReadable();
    return this.#snap.load();
  }

  /** The term of `index` if a snapshot can be taken there (it is in the log and committed). */
  #creatableTerm(index: number): number {
    if (index > this.#lastIndex) throw new UnavailableError(index, this.#lastIndex);
    if (index > this.#hardState.commit) {
      throw new RangeError(
        `Cannot create a snapshot at index ${index}: the commit index is ${this.#hardState.commit}`,
      );
    }
    return this.#termAt(index);
  }

  /** Throws when the storage is closed or failed (as queued operations do). */
  #checkUsable(): void {
    if (this.#closed) throw new StorageClosedError(this.dir);
    if (this.#failed !== undefined) throw new StorageFailedError(this.dir, this.#failed);
  }

  #termAt(index: number): number {
    if (index === this.#firstIndex - 1) return this.#prevTerm;
    return this.#segmentFor(index).term(index);
  }

  /** The segment holding `index` (the last segment whose first index is <= it). */
  #segmentFor(index: number): Segment {
    const segs = this.#segments;
    const last = segs[segs.length - 1]!;
    if (index >= last.firstIndex) return last;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (segs[mid]!.firstIndex <= index) lo = mid;
      else hi = mid - 1;
    }
    return segs[lo]!;
  }

  // ---- WritableStorage ----

  /**
   * Persists a `Ready`: snapshot, then entries (replacing a conflicting
   * suffix), then hard state, in one write and one `syncData` (when
   * `options.sync`, the default). Entries already in the log with the same
   * term are skipped; entries at or below a compacted index are ignored.
   * Entry data must not be changed after the call (recent entries are cached
   * by reference; data that are views into a larger buffer are copied).
   */
  save(update: StorageUpdate, options?: SaveOptions): Promise<void> {
    try {
      if (typeof update !== "object" || update === null) {
        throw new TypeError("save: update must be an object");
      }
      const entries = checkEntries(update.entries);
      const hardState = update.hardState === undefined
        ? undefined
        : checkHardState(update.hardState);
      const snapshot = update.snapshot === undefined ? undefined : checkSnapshot(update.snapshot);
      const sync = options?.sync ?? true;
      if (typeof sync !== "boolean") throw new TypeError("save: options.sync must be a boolean");
      return this.#enqueue(() => this.#save(entries, hardState, snapshot, sync));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Records a snapshot the state machine took at applied index `index`,
   * atomically, and returns it. `index` must be committed (at most the hard
   * state's commit index). Returns the current snapshot when `index` is not
   * above it.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    try {
      checkIndex(index, "index");
      checkConfState(confState, "confState");
      if (!(data instanceof Uint8Array)) throw new TypeError("data must be a Uint8Array");
      // The file is written and synced outside the queue, so appends go on meanwhile; only
      // the rename waits its turn. Snapshots are created one at a time.
      const created = this.#snapChain.then(async () => {
        // Checked in turn, after the writes queued before this call.
        const snap = await this.#enqueue(() => {
          if (index <= this.#snap.metadata.index) return Promise.resolve(undefined);
          const metadata = { index, term: this.#creatableTerm(index), confState };
          return Promise.resolve<Snapshot>({ metadata, data });
        });
        if (snap === undefined) return this.#snap.load();
        this.#checkUsable();
        const start = performance.now();
        await this.#io(() => prepareSnapshotFile(this.dir, snap));
        return this.#enqueue(async () => {
          if (index <= this.#snap.metadata.index) {
            // A snapshot from the leader was installed meanwhile.
            await discardPreparedSnapshot(this.dir);
            return this.#snap.load();
          }
          await this.#io(() => this.#snap.replace(snap, true));
          this.#snapshotBytes = data.length;
          this.snapshotSeconds.observe((performance.now() - start) / 1000);
          return snap;
        });
      });
      this.#snapChain = created.then(() => {}, () => {});
      return created;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Drops entries up to and including `index`, which must not be above the
   * snapshot's index (what is dropped must be covered by a snapshot). Whole
   * segments at or below `index` are deleted; entries of a partly covered
   * segment stay on disk, so after a reopen `firstIndex()` can be lower than
   * `index + 1`, never higher.
   */
  compact(index: number): Promise<void> {
    try {
      checkIndex(index, "index");
      return this.#enqueue(async () => {
        if (index < this.#firstIndex) return;
        if (index > this.#lastIndex) throw new UnavailableError(index, this.#lastIndex);
        const snapIndex = this.#snap.metadata.index;
        if (index > snapIndex) {
          throw new RangeError(
            `Cannot compact the log to index ${index}: the snapshot covers only up to index ${snapIndex}`,
          );
        }
        await this.#io(() => this.#compactTo(index));
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Waits for pending writes, syncs what is not yet durable, closes all files
   * and releases the directory lock. Later calls fail with
   * `StorageClosedError`; closing twice is harmless.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const done = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        if (this.#failed === undefined) await this.#sync();
      } finally {
        this.#closed = true;
        try {
          this.#writer.close();
        } catch {
          // Already closed by a failed write; nothing left to release.
        }
        for (const s of this.#segments) s.closeReader();
        this.#cache.clear();
        this.#readBuffer.release();
        this.#lock.release();
      }
    });
    this.#queue = done.then(() => {}, () => {});
    return done;
  }

  /** Runs `fn` after every earlier call, so writes apply in call order. */
  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    // Run inside then(): what #checkUsable throws rejects the returned promise.
    const run = (): Promise<T> => {
      this.#checkUsable();
      return fn();
    };
    const p = this.#queue.then(run);
    this.#queue = p.then(() => {}, () => {});
    return p;
  }

  /**
   * Runs I/O that changes files. If it throws, what is on disk no longer
   * matches memory, so the storage refuses further use until reopened.
   */
  async #io<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.#failed ??= err;
      throw err;
    }
  }

  async #save(
    entries: readonly Entry[],
    hardState: HardState | undefined,
    snapshot: Snapshot | undefined,
    sync: boolean,
  ): Promise<void> {
    if (snapshot !== undefined && snapshot.metadata.index > this.#snap.metadata.index) {
      // A snapshot from a leader of a new term comes with that term (and maybe a vote): they
      // are made durable first, so a crash in between never leaves a log whose last term is
      // above the node's term (the commit index waits for the snapshot).
      if (
        hardState !== undefined &&
        (hardState.term !== this.#hardState.term || hardState.vote !== this.#hardState.vote)
      ) {
        this.#hardState = {
          term: hardState.term,
          vote: hardState.vote,
          commit: this.#hardState.commit,
        };
        this.#hsSeq++;
        await this.#io(() => this.#checkpointHardState());
      }
      await this.#io(() => this.#installSnapshot(snapshot));
    }
    let ents = entries;
    if (ents.length > 0) {
      const first = ents[0]!.index;
      if (first < this.#firstIndex) {
        ents = ents.slice(Math.min(ents.length, this.#firstIndex - first));
      }
      // Skip what the log already holds: same index and term means same entry (Raft §5.3).
      let k = 0;
      while (
        k < ents.length && ents[k]!.index <= this.#lastIndex &&
        this.#termAt(ents[k]!.index) === ents[k]!.term
      ) {
        k++;
      }
      if (k > 0) ents = ents.slice(k);
    }
    if (ents.length > 0) {
      const first = ents[0]!.index;
      if (first > this.#lastIndex + 1) {
        throw new RaftInvariantError(
          `append leaves a gap: last index ${this.#lastIndex}, appending at ${first}`,
        );
      }
      const prevTerm = this.#termAt(first - 1);
      if (ents[0]!.term < prevTerm) {
        throw new RaftInvariantError(
          `entry ${first} has term ${ents[0]!.term}, below the term ${prevTerm} of entry ${
            first - 1
          }`,
        );
      }
      if (first <= this.#lastIndex) {
        if (first <= this.#hardState.commit) {
          throw new RaftInvariantError(
            `cannot replace entry ${first}: entries up to ${this.#hardState.commit} are committed`,
          );
        }
        await this.#io(() => this.#truncateFrom(first));
      }
    }
    const hs = hardState !== undefined && !sameHardState(hardState, this.#hardState)
      ? hardState
      : undefined;
    if (ents.length === 0 && hs === undefined) {
      if (sync && (this.#writer.unsynced || this.#dirDirty || this.#doomed.length > 0)) {
        await this.#io(() => this.#sync());
      }
      return;
    }
    await this.#io(() => this.#append(ents, hs, sync));
  }

  /** Makes everything written durable, then deletes segments a replacement made dead. */
  async #sync(): Promise<void> {
    if (this.#writer.unsynced) {
      const start = performance.now();
      await this.#writer.syncData();
      this.syncSeconds.observe((performance.now() - start) / 1000);
    }
    if (this.#dirDirty) {
      await syncDir(this.dir);
      this.#dirDirty = false;
    }
    if (this.#doomed.length > 0) {
      const doomed = this.#doomed;
      if (doomed.some((s) => s.hardStateSeq === this.#hsSeq)) await this.#checkpointHardState();
      // Newest first: a crash in between leaves files recovery reads consistently.
      for (const s of [...doomed].reverse()) await Deno.remove(s.path);
      this.#doomed = [];
      await syncDir(this.dir);
    }
  }

  /**
   * One write of all records, then (if `sync`) one syncData. The entries go
   * into batch records of up to MAX_BATCH_PAYLOAD_BYTES; the hard state rides
   * in the last one, so a save of ordinary size is a single record, all or
   * nothing on disk.
   */
  async #append(
    entries: readonly Entry[],
    hs: HardState | undefined,
    sync: boolean,
  ): Promise<void> {
    const n = entries.length;
    let size = this.#writer.plan(entries, hs);
    let seg = this.#segments[this.#segments.length - 1]!;
    if (
      n > 0 && seg.count > 0 &&
      (seg.bytes >= this.#segmentBytes ||
        seg.bytes + size + SEGMENT_HEADER_BYTES > MAX_SEGMENT_BYTES)
    ) {
      seg = await this.#startSegment(this.#lastIndex + 1);
    }
    // A new segment's header goes out with its first batch.
    if (seg.bytes === 0) size += SEGMENT_HEADER_BYTES;
    if (seg.bytes + size > MAX_SEGMENT_BYTES) {
      throw new RangeError(`A single save of ${size} bytes does not fit in a segment`);
    }
    let seq = 0;
    if (hs !== undefined) {
      seq = ++this.#hsSeq;
      seg.hardStateSeq = seq;
      this.#hardState = hs;
    }
    this.#writer.write(seg, entries, size, seq, hs);
    if (n > 0) {
      this.#lastIndex = entries[n - 1]!.index;
      this.#cache.append(entries);
    }
    if (sync) await this.#sync();
  }

  /**
   * Makes what was written durable, then starts a new, empty segment whose
   * first entry will be `firstIndex` (its header goes out with the first
   * batch; until then the file is empty, which recovery treats as a segment
   * that never got written).
   */
  async #startSegment(firstIndex: number): Promise<Segment> {
    await this.#writer.endSegment();
    const seg = new Segment(this.dir, firstIndex, {
      seq: this.#nextSeq++,
      prevTerm: this.#termAt(firstIndex - 1),
      headerBytes: SEGMENT_HEADER_BYTES,
    });
    await this.#writer.openSegment(seg.path);
    seg.bytes = 0;
    this.#segments.push(seg);
    this.#dirDirty = true;
    return seg;
  }

  /** Makes the newest hard state durable in the checkpoint file. */
  async #checkpointHardState(): Promise<void> {
    if (this.#hsSeq <= this.#hsFileSeq) return;
    // The checkpoint's commit index must never run ahead of durable entries.
    if (this.#writer.unsynced) await this.#writer.syncData();
    await writeHardStateFile(this.dir, { seq: this.#hsSeq, hardState: this.#hardState });
    this.#hsFileSeq = this.#hsSeq;
  }

  /**
   * Removes entries from `index` on, without overwriting anything: a new
   * segment starting at `index` replaces them (recovery reads segments in
   * creation order, and a newer segment that starts at an index older ones
   * hold replaces them from there on). The save's batch goes into it in the
   * same write as its header, so the replacement lands whole or not at all;
   * segments it makes dead are deleted only once that batch is durable.
   */
  async #truncateFrom(index: number): Promise<void> {
    if (this.#writer.unsynced) await this.#writer.syncData();
    let k = this.#segments.length - 1;
    while (this.#segments[k]!.firstIndex > index) k--;
    const keep = this.#segments[k]!.firstIndex < index ? k + 1 : k;
    for (const s of this.#segments.slice(keep)) {
      s.closeReader();
      this.#doomed.push(s);
    }
    this.#segments.length = keep;
    if (keep === k + 1) this.#segments[k]!.shadowFrom(index);
    this.#lastIndex = index - 1;
    this.#cache.truncateFrom(index);
    await this.#startSegment(index);
  }

  /** Drops entries up to `index` and deletes segments wholly at or below it, oldest first. */
  async #compactTo(index: number): Promise<void> {
    // Segments a replacement made dead must go first: with the older ones
    // they followed deleted, recovery could not place them.
    if (this.#doomed.length > 0) await this.#sync();
    this.#prevTerm = this.#termAt(index);
    this.#firstIndex = index + 1;
    this.#cache.dropBefore(index + 1);
    let n = 0;
    while (n < this.#segments.length - 1 && this.#segments[n]!.lastIndex <= index) n++;
    if (n === 0) return;
    const victims = this.#segments.slice(0, n);
    // A victim may hold the newest durable hard state while a newer one sits unsynced in
    // the last segment (commit-only saves do not sync): the checkpoint file must have it
    // first, or a power loss after the delete would leave no copy of the term and vote.
    if (victims.some((s) => s.hardStateSeq > this.#hsFileSeq)) await this.#checkpointHardState();
    for (const s of victims) {
      s.closeReader();
      await Deno.remove(s.path);
      this.#segments.shift();
    }
    await syncDir(this.dir);
  }

  /**
   * Installs a snapshot from the leader. The snapshot file is written first;
   * then, if the log holds the snapshot's last entry, the log is compacted to
   * it, else the whole log is replaced by an empty one after the snapshot.
   * Recovery finishes the second case if a crash interrupts it.
   */
  async #installSnapshot(snap: Snapshot): Promise<void> {
    const { index, term } = snap.metadata;
    if (this.#doomed.length > 0) await this.#sync();
    await this.#snap.replace(snap);
    this.#snapshotBytes = snap.data.length;
    if (
      index >= this.#firstIndex - 1 && index <= this.#lastIndex && this.#termAt(index) === term
    ) {
      if (index >= this.#firstIndex) await this.#compactTo(index);
      return;
    }
    await this.#checkpointHardState();
    this.#writer.close();
    const old = this.#segments;
    const seg = new Segment(this.dir, index + 1, {
      seq: this.#nextSeq++,
      prevTerm: term,
      headerBytes: SEGMENT_HEADER_BYTES,
    });
    // Readers see the new log at once, in one step, before any file goes: the old range is
    // compacted from here on, and no read can reopen a segment that is being deleted.
    for (const s of old) s.closeReader();
    this.#segments = [seg];
    this.#firstIndex = index + 1;
    this.#prevTerm = term;
    this.#lastIndex = index;
    this.#cache.clear();
    for (const s of [...old].reverse()) await Deno.remove(s.path);
    this.#writer.use(await createSegmentFile(seg), seg.bytes);
    await syncDir(this.dir);
    this.#dirDirty = false;
  }
}
