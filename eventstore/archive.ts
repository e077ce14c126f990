/**
 * The side archive: log entries holding retained events that this node's
 * Raft log no longer has, because it installed a snapshot from the leader
 * (InstallSnapshot replaces the log). The snapshot carries those entries;
 * the state machine keeps them here and reads events from here for indexes
 * below the log's first index. See `state_machine.ts` for the whole design.
 *
 * @module
 */

import { writeAllSync } from "../raft/storage/atomic_file.ts";
import { crc32 } from "node:zlib";
import { checkSliceRange } from "../raft/storage/entry_slice.ts";

/**
 * A log entry's data (the command envelope) at its index.
 *
 * @example
 * ```ts
 * import type { ArchivedEntry } from "./archive.ts";
 * const e: ArchivedEntry = { index: 12, data: new Uint8Array([1]) };
 * ```
 */
export interface ArchivedEntry {
  /** The entry's log index. */
  readonly index: number;
  /** The entry's data, as in the log. */
  readonly data: Uint8Array;
}

/**
 * Where archived entries live. Reads are synchronous, like the log's.
 *
 * @example
 * ```ts
 * import { type EntryArchive, MemoryArchive } from "./archive.ts";
 * const a: EntryArchive = new MemoryArchive();
 * a.replace([{ index: 3, data: new Uint8Array([7]) }]);
 * console.assert(a.get(3)?.[0] === 7 && a.get(4) === undefined);
 * ```
 */
export interface EntryArchive {
  /** The entry data at `index`, if archived. */
  get(index: number): Uint8Array | undefined;
  /** Whether the entry at `index` is archived (without reading it). */
  has(index: number): boolean;
  /**
   * Bytes `[start, end)` of the entry data at `index` (`end` defaults to its
   * length), if archived: a copy. Optional; readers fall back to
   * {@link EntryArchive.get}. Throws `RangeError` for a range outside the entry.
   */
  slice?(index: number, start: number, end?: number): Uint8Array | undefined;
  /** Replaces the whole archive with `entries` (durably, for file archives). */
  replace(entries: readonly ArchivedEntry[]): void;
  /** Number of archived entries. */
  readonly size: number;
  /** Releases resources. */
  close(): void;
}

/**
 * An archive in memory (tests, and nodes whose storage is in memory too).
 *
 * @example
 * ```ts
 * import { MemoryArchive } from "./archive.ts";
 * const a = new MemoryArchive();
 * a.replace([{ index: 1, data: new Uint8Array(2) }]);
 * console.assert(a.size === 1);
 * ```
 */
export class MemoryArchive implements EntryArchive {
  #entries = new Map<number, Uint8Array>();

  get size(): number {
    return this.#entries.size;
  }

  get(index: number): Uint8Array | undefined {
    return this.#entries.get(index);
  }

  has(index: number): boolean {
    return this.#entries.has(index);
  }

  slice(index: number, start: number, end?: number): Uint8Array | undefined {
    const d = this.#entries.get(index);
    return d?.slice(start, checkSliceRange(index, start, end, d.byteLength));
  }

  replace(entries: readonly ArchivedEntry[]): void {
    this.#entries = new Map(entries.map((e) => [e.index, e.data.slice()]));
  }

  close(): void {}
}

const MAGIC = [0x52, 0x4c, 0x41, 0x52]; // "RLAR"
const HEADER = 8; // magic + u32 version
const RECORD_HEADER = 16; // f64 index | u32 length | u32 crc32
/** Bytes gathered before a write when an archive is replaced. */
const STAGE_BYTES = 1 << 20;

/**
 * An archive in one file, replaced atomically (write a temp file, fsync,
 * rename). Every record carries a CRC32; a bad one fails `open` naming the
 * file and offset. An in-memory map finds records; reads are positioned reads.
 *
 * @example
 * ```ts
 * import { FileArchive } from "./archive.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   const a = FileArchive.open(`${dir}/archive`);
 *   a.replace([{ index: 5, data: new Uint8Array([1, 2]) }]);
 *   a.close();
 *   const b = FileArchive.open(`${dir}/archive`);
 *   console.assert(b.get(5)?.[1] === 2);
 *   b.close();
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export class FileArchive implements EntryArchive {
  /** The archive file. */
  readonly path: string;
  #file: Deno.FsFile | undefined;
  #where = new Map<number, { offset: number; length: number }>();
  #bytes = 0;

  private constructor(path: string) {
    this.path = path;
  }

  /** Opens (or creates empty) the archive at `path`. */
  static open(path: string): FileArchive {
    const a = new FileArchive(path);
    a.#load();
    return a;
  }

  get size(): number {
    return this.#where.size;
  }

  /** Bytes of the archive file. */
  get bytes(): number {
    return this.#bytes;
  }

  #load(): void {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(this.path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        this.replace([]);
        return;
      }
      throw e;
    }
    const size = file.statSync().size;
    const where = new Map<number, { offset: number; length: number }>();
    const head = new Uint8Array(HEADER);
    this.#readAt(file, 0, head);
    if (size < HEADER || MAGIC.some((b, i) => head[i] !== b)) {
      file.close();
      throw new Error(`${this.path} is not an event store archive`);
    }
    let off = HEADER;
    const rh = new Uint8Array(RECORD_HEADER);
    let scratch = new Uint8Array(1 << 16);
    const view = new DataView(rh.buffer);
    while (off < size) {
      if (off + RECORD_HEADER > size) {
        file.close();
        throw new Error(`${this.path}: truncated record header at offset ${off}`);
      }
      this.#readAt(file, off, rh);
      const index = view.getFloat64(0, true);
      const length = view.getUint32(8, true);
      const sum = view.getUint32(12, true);
      if (off + RECORD_HEADER + length > size) {
        file.close();
        throw new Error(`${this.path}: truncated record at offset ${off}`);
      }
      // One buffer for every record's check: the archive may hold all the store's events.
      if (scratch.length < length) scratch = new Uint8Array(Math.max(length, 2 * scratch.length));
      const data = scratch.subarray(0, length);
      this.#readAt(file, off + RECORD_HEADER, data);
      if (crc32(data) >>> 0 !== sum) {
        file.close();
        throw new Error(`${this.path}: checksum mismatch in record at offset ${off}`);
      }
      where.set(index, { offset: off + RECORD_HEADER, length });
      off += RECORD_HEADER + length;
    }
    this.#file = file;
    this.#where = where;
    this.#bytes = size;
  }

  #readAt(file: Deno.FsFile, offset: number, into: Uint8Array): void {
    file.seekSync(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < into.length) {
      const n = file.readSync(into.subarray(got));
      if (n === null || n === 0) throw new Error(`${this.path}: unexpected end at ${offset + got}`);
      got += n;
    }
  }

  has(index: number): boolean {
    return this.#where.has(index);
  }

  get(index: number): Uint8Array | undefined {
    const w = this.#where.get(index);
    if (w === undefined || this.#file === undefined) return undefined;
    const out = new Uint8Array(w.length);
    this.#readAt(this.#file, w.offset, out);
    return out;
  }

  /** Reads only the requested bytes (records were checksummed when the archive was opened). */
  slice(index: number, start: number, end?: number): Uint8Array | undefined {
    const w = this.#where.get(index);
    if (w === undefined || this.#file === undefined) return undefined;
    const stop = checkSliceRange(index, start, end, w.length);
    const out = new Uint8Array(stop - start);
    this.#readAt(this.#file, w.offset + start, out);
    return out;
  }

  replace(entries: readonly ArchivedEntry[]): void {
    const tmp = `${this.path}.tmp`;
    const f = Deno.openSync(tmp, { write: true, create: true, truncate: true });
    const where = new Map<number, { offset: number; length: number }>();
    let total = HEADER;
    try {
      // Written a mebibyte or so at a time: the archive can be as large as the store's events.
      const buf = new Uint8Array(STAGE_BYTES);
      const view = new DataView(buf.buffer);
      let used = 0;
      const flush = () => {
        writeAllSync(f, buf.subarray(0, used));
        used = 0;
      };
      buf.set(MAGIC, 0);
      view.setUint32(4, 1, true);
      used = HEADER;
      for (const e of entries) {
        if (used + RECORD_HEADER > buf.length) flush();
        view.setFloat64(used, e.index, true);
        view.setUint32(used + 8, e.data.length, true);
        view.setUint32(used + 12, crc32(e.data) >>> 0, true);
        used += RECORD_HEADER;
        where.set(e.index, { offset: total + RECORD_HEADER, length: e.data.length });
        total += RECORD_HEADER + e.data.length;
        if (used + e.data.length > buf.length) {
          flush();
          writeAllSync(f, e.data);
        } else {
          buf.set(e.data, used);
          used += e.data.length;
        }
      }
      flush();
      f.syncSync();
    } finally {
      f.close();
    }
    Deno.renameSync(tmp, this.path);
    const slash = this.path.lastIndexOf("/");
    if (slash > 0) {
      try {
        const d = Deno.openSync(this.path.slice(0, slash), { read: true });
        try {
          d.syncSync();
        } finally {
          d.close();
        }
      } catch {
        // Directory fsync is not supported everywhere (e.g. Windows); the rename still happened.
      }
    }
    this.#file?.close();
    this.#file = Deno.openSync(this.path, { read: true });
    this.#where = where;
    this.#bytes = total;
  }

  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}
