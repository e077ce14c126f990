/**
 * A snapshot still arriving from the leader (InstallSnapshot in chunks),
 * kept in the data directory so that a follower that restarts mid-transfer
 * goes on from the bytes it has instead of from byte 0.
 *
 * Two files:
 *
 * ```
 * snapshot.partial          the snapshot's first bytes, raw
 * snapshot.partial.header   one record (see record.ts): which snapshot (index, term,
 *                           size, CRC-32 of the whole), how many leading bytes of
 *                           snapshot.partial are durable (the offset) and their CRC-32
 * ```
 *
 * Bytes are written to `snapshot.partial` as they arrive; a checkpoint syncs
 * them, then replaces the header atomically (temp file, fsync, rename, fsync
 * the directory). So the header never names more bytes than are on disk, and
 * after a crash at any point the header holds the old offset or the new one.
 * Opening checks it all again: a damaged header, a data file shorter than
 * the header's offset or whose first `offset` bytes do not have the header's
 * CRC-32 are discarded (both files deleted), and bytes after the offset (written
 * but never checkpointed) are cut off. None of this makes a partial snapshot
 * trusted: the whole snapshot's CRC-32 is checked once it is complete.
 *
 * @module
 */

import { join } from "node:path";
import { crc32 } from "node:zlib";
import { writeFileAtomic } from "./atomic_file.ts";
import {
  checkFrame,
  FRAME_HEADER_BYTES,
  readU64,
  RecordKind,
  sealFrame,
  writeU64,
} from "./record.ts";

/** Name of the file with a partial snapshot's bytes inside a data directory. */
export const PARTIAL_SNAPSHOT_FILE = "snapshot.partial";
/** Name of the file describing {@link PARTIAL_SNAPSHOT_FILE}. */
export const PARTIAL_SNAPSHOT_HEADER_FILE = "snapshot.partial.header";

/** Payload bytes of the header record. */
const HEADER_PAYLOAD_BYTES = 49;
/** Bytes read at a time when checking a partial snapshot on open. */
const VERIFY_CHUNK_BYTES = 8 << 20;

/** Which snapshot a partial file holds the beginning of. */
export interface PartialSnapshotId {
  /** Index of the last entry the snapshot covers. */
  readonly index: number;
  /** Term of that entry. */
  readonly term: number;
  /** Size of the whole snapshot's data, in bytes. */
  readonly size: number;
  /** CRC-32 (IEEE, as zlib) of the whole snapshot's data. */
  readonly crc: number;
}

/** What {@link PartialSnapshotFile.open} found. */
export interface OpenedPartialSnapshot {
  /** The partial snapshot, checked; undefined when there is none (or it was discarded). */
  readonly partial: PartialSnapshotFile | undefined;
  /** Why files found were deleted (damaged, torn, incomplete); undefined when none were. */
  readonly discarded: string | undefined;
}

function checkId(id: PartialSnapshotId): void {
  const nat = (v: number) => Number.isSafeInteger(v) && v >= 0;
  if (!nat(id.index) || !nat(id.term) || !nat(id.size) || !nat(id.crc) || id.crc > 0xffff_ffff) {
    throw new RangeError(
      `A partial snapshot needs a non-negative index, term and size and a 32-bit CRC, got ${
        JSON.stringify(id)
      }`,
    );
  }
}

function encodeHeader(
  id: PartialSnapshotId,
  offset: number,
  offsetCrc: number,
  leaderTerm: number,
): Uint8Array {
  const buf = new Uint8Array(FRAME_HEADER_BYTES + HEADER_PAYLOAD_BYTES);
  const view = new DataView(buf.buffer);
  const p = FRAME_HEADER_BYTES;
  buf[p] = RecordKind.partialSnapshot;
  writeU64(view, p + 1, id.index);
  writeU64(view, p + 9, id.term);
  writeU64(view, p + 17, id.size);
  view.setUint32(p + 25, id.crc, true);
  writeU64(view, p + 29, offset);
  view.setUint32(p + 37, offsetCrc, true);
  writeU64(view, p + 41, leaderTerm);
  sealFrame(buf, view, 0, HEADER_PAYLOAD_BYTES);
  return buf;
}

interface Header {
  readonly id: PartialSnapshotId;
  readonly offset: number;
  readonly offsetCrc: number;
  readonly leaderTerm: number;
}

/** The header's fields, or why they cannot be trusted. */
function decodeHeader(buf: Uint8Array): Header | string {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = checkFrame(buf, view, 0, buf.byteLength);
  if (length < 0 || FRAME_HEADER_BYTES + length !== buf.byteLength) {
    return "its record is damaged (checksum or length)";
  }
  const p = FRAME_HEADER_BYTES;
  if (length !== HEADER_PAYLOAD_BYTES || buf[p] !== RecordKind.partialSnapshot) {
    return "it is not a partial snapshot record";
  }
  const id = {
    index: readU64(view, p + 1),
    term: readU64(view, p + 9),
    size: readU64(view, p + 17),
    crc: view.getUint32(p + 25, true),
  };
  const offset = readU64(view, p + 29);
  const leaderTerm = readU64(view, p + 41);
  const safe = [id.index, id.term, id.size, offset, leaderTerm].every(Number.isSafeInteger);
  if (!safe || offset > id.size) return `its offset ${offset} is not within ${id.size} bytes`;
  return { id, offset, offsetCrc: view.getUint32(p + 37, true), leaderTerm };
}

async function removeIfThere(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Deletes a partial snapshot's files from `dir`, if there are any: the
 * header first, so a crash in between leaves data without a header, which
 * {@link PartialSnapshotFile.open} discards.
 *
 * @example
 * ```ts
 * import { removePartialSnapshot } from "./partial_snapshot_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   await Deno.writeFile(`${dir}/snapshot.partial`, new Uint8Array(3));
 *   await removePartialSnapshot(dir);
 *   console.assert([...Deno.readDirSync(dir)].length === 0);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function removePartialSnapshot(dir: string): Promise<void> {
  await removeIfThere(join(dir, PARTIAL_SNAPSHOT_HEADER_FILE));
  await removeIfThere(join(dir, PARTIAL_SNAPSHOT_FILE));
}

async function readFully(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let got = 0;
  while (got < buf.byteLength) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return got;
}

/** What {@link inspectPartialSnapshot} found in a data directory. */
export type PartialSnapshotInspection =
  | { readonly state: "none" }
  | {
    readonly state: "ok";
    readonly header: {
      readonly id: PartialSnapshotId;
      readonly offset: number;
      readonly offsetCrc: number;
      readonly leaderTerm: number;
    };
    /** Bytes after the recorded offset (written, never checkpointed): opening cuts them off. */
    readonly unrecordedBytes: number;
  }
  | { readonly state: "damaged"; readonly reason: string };

/**
 * Checks the partial snapshot in `dir` (see the module doc) without changing
 * anything: none, one that a restart would go on with, or a damaged one that
 * opening would delete. Throws only for I/O errors.
 *
 * @example
 * ```ts
 * import { inspectPartialSnapshot } from "./partial_snapshot_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   console.assert((await inspectPartialSnapshot(dir)).state === "none");
 *   await Deno.writeFile(`${dir}/snapshot.partial`, new Uint8Array(3));
 *   console.assert((await inspectPartialSnapshot(dir)).state === "damaged");
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function inspectPartialSnapshot(dir: string): Promise<PartialSnapshotInspection> {
  const headerPath = join(dir, PARTIAL_SNAPSHOT_HEADER_FILE);
  const dataPath = join(dir, PARTIAL_SNAPSHOT_FILE);
  let buf: Uint8Array;
  try {
    buf = await Deno.readFile(headerPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    // Bytes of a transfer that never reached its first checkpoint.
    try {
      await Deno.stat(dataPath);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return { state: "none" };
      throw e;
    }
    return { state: "damaged", reason: `${dataPath} has no header` };
  }
  const header = decodeHeader(buf);
  if (typeof header === "string") return { state: "damaged", reason: `${headerPath}: ${header}` };
  let file: Deno.FsFile;
  try {
    file = await Deno.open(dataPath, { read: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    return { state: "damaged", reason: `${dataPath} is missing` };
  }
  try {
    const size = (await file.stat()).size;
    if (size < header.offset) {
      return {
        state: "damaged",
        reason: `${dataPath} holds ${size} bytes, its header says ${header.offset} arrived`,
      };
    }
    let crc = 0;
    const chunk = new Uint8Array(Math.min(VERIFY_CHUNK_BYTES, Math.max(1, header.offset)));
    for (let at = 0; at < header.offset;) {
      const want = chunk.subarray(0, Math.min(chunk.length, header.offset - at));
      const n = await readFully(file, want);
      if (n < want.length) break;
      crc = crc32(want, crc);
      at += n;
    }
    if (crc !== header.offsetCrc) {
      return {
        state: "damaged",
        reason: `${dataPath}: its first ${header.offset} bytes do not match the header's checksum`,
      };
    }
    return { state: "ok", header, unrecordedBytes: size - header.offset };
  } finally {
    file.close();
  }
}

/**
 * A partial snapshot in a data directory, open for writing. One operation
 * at a time: callers do not start one before the previous one settled.
 *
 * @example
 * ```ts
 * import { PartialSnapshotFile } from "./partial_snapshot_file.ts";
 * import { crc32 } from "node:zlib";
 * const dir = await Deno.makeTempDir();
 * try {
 *   const data = new Uint8Array([1, 2, 3, 4, 5]);
 *   const id = { index: 9, term: 2, size: data.length, crc: crc32(data) };
 *   const p = await PartialSnapshotFile.create(dir, id, 2);
 *   await p.write(0, data.subarray(0, 3));
 *   await p.checkpoint();
 *   p.close();
 *   // After a restart: the transfer goes on at byte 3.
 *   const { partial } = await PartialSnapshotFile.open(dir);
 *   console.assert(partial?.offset === 3 && partial.id.index === 9);
 *   await partial!.write(3, data.subarray(3));
 *   console.assert((await partial!.readAll()).join() === data.join());
 *   await partial!.remove();
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export class PartialSnapshotFile {
  /** The data directory. */
  readonly dir: string;
  /** The snapshot this is the beginning of. */
  readonly id: PartialSnapshotId;
  /** Term of the leader sending the snapshot, as last recorded. */
  leaderTerm: number;
  #file: Deno.FsFile | undefined;
  #offset: number;
  #offsetCrc: number;
  /** The offset and leader term the header on disk names. */
  #recorded: { offset: number; leaderTerm: number };

  private constructor(
    dir: string,
    file: Deno.FsFile,
    header: Header,
    recorded: { offset: number; leaderTerm: number },
  ) {
    this.dir = dir;
    this.id = header.id;
    this.leaderTerm = header.leaderTerm;
    this.#file = file;
    this.#offset = header.offset;
    this.#offsetCrc = header.offsetCrc;
    this.#recorded = recorded;
  }

  /**
   * Starts a partial snapshot in `dir`, replacing any there. Throws a
   * RangeError for an id that is not made of non-negative integers.
   */
  static async create(
    dir: string,
    id: PartialSnapshotId,
    leaderTerm: number,
  ): Promise<PartialSnapshotFile> {
    checkId(id);
    // The old header goes first: until the first checkpoint there is none, and data without
    // a header is discarded on open.
    await removeIfThere(join(dir, PARTIAL_SNAPSHOT_HEADER_FILE));
    const file = await Deno.open(join(dir, PARTIAL_SNAPSHOT_FILE), {
      read: true,
      write: true,
      create: true,
      truncate: true,
    });
    const header = { id: { ...id }, offset: 0, offsetCrc: 0, leaderTerm };
    return new PartialSnapshotFile(dir, file, header, { offset: -1, leaderTerm });
  }

  /**
   * Opens the partial snapshot in `dir` after a restart and checks it (see
   * the module doc); files that fail the checks are deleted and the reason
   * returned. Throws only for I/O errors.
   */
  static async open(dir: string): Promise<OpenedPartialSnapshot> {
    const found = await inspectPartialSnapshot(dir);
    if (found.state === "none") return { partial: undefined, discarded: undefined };
    if (found.state === "damaged") {
      await removePartialSnapshot(dir);
      return { partial: undefined, discarded: found.reason };
    }
    const file = await Deno.open(join(dir, PARTIAL_SNAPSHOT_FILE), { read: true, write: true });
    try {
      // Bytes written after the last checkpoint were never vouched for.
      if (found.unrecordedBytes > 0) await file.truncate(found.header.offset);
    } catch (e) {
      file.close();
      throw e;
    }
    const h = found.header;
    const recorded = { offset: h.offset, leaderTerm: h.leaderTerm };
    return { partial: new PartialSnapshotFile(dir, file, h, recorded), discarded: undefined };
  }

  /** How many leading bytes of the snapshot are here. */
  get offset(): number {
    return this.#offset;
  }

  /**
   * Appends `bytes`, the snapshot's bytes from `offset`. Returns false (and
   * writes nothing) when `offset` is not where the partial snapshot ends.
   * Throws a RangeError for bytes past the snapshot's size.
   */
  async write(offset: number, bytes: Uint8Array): Promise<boolean> {
    const file = this.#open();
    if (offset !== this.#offset) return false;
    if (offset + bytes.byteLength > this.id.size) {
      throw new RangeError(
        `Bytes ${offset}..${offset + bytes.byteLength} run past the snapshot's ${this.id.size}`,
      );
    }
    await file.seek(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < bytes.byteLength) done += await file.write(bytes.subarray(done));
    this.#offset += bytes.byteLength;
    this.#offsetCrc = crc32(bytes, this.#offsetCrc);
    return true;
  }

  /**
   * Makes the bytes written so far (and {@link leaderTerm}) survive a crash:
   * syncs them, then replaces the header atomically. Does nothing when the
   * header already says so.
   */
  async checkpoint(): Promise<void> {
    const file = this.#open();
    const r = this.#recorded;
    if (r.offset === this.#offset && r.leaderTerm === this.leaderTerm) return;
    const offset = this.#offset, leaderTerm = this.leaderTerm;
    if (offset !== r.offset) await file.syncData();
    await writeFileAtomic(
      this.dir,
      PARTIAL_SNAPSHOT_HEADER_FILE,
      encodeHeader(this.id, offset, this.#offsetCrc, leaderTerm),
    );
    this.#recorded = { offset, leaderTerm };
  }

  /** Reads the bytes that are here (the whole snapshot once the offset reaches its size). */
  async readAll(): Promise<Uint8Array> {
    const file = this.#open();
    const buf = new Uint8Array(this.#offset);
    await file.seek(0, Deno.SeekMode.Start);
    const n = await readFully(file, buf);
    if (n < buf.length) {
      throw new Error(
        `${join(this.dir, PARTIAL_SNAPSHOT_FILE)} ends at byte ${n}, ${buf.length} were written`,
      );
    }
    return buf;
  }

  /** Closes the file; what was checkpointed stays for {@link PartialSnapshotFile.open}. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  /** Closes and deletes the partial snapshot. */
  async remove(): Promise<void> {
    this.close();
    await removePartialSnapshot(this.dir);
  }

  #open(): Deno.FsFile {
    if (this.#file === undefined) {
      throw new Error(`The partial snapshot in ${this.dir} is closed`);
    }
    return this.#file;
  }
}
