/**
 * Backup files and restoring a data directory from one.
 *
 * A backup is a node's state at one applied index ({@link NodeBackup}: the
 * state machine's whole state, the index, its term and the membership). The
 * file is the bytes `RLBACKUP`, a u32 format version, a u32 length and that
 * many bytes of JSON ({@link BackupInfo}: the metadata, and when and where it
 * was taken), then the data, then a trailer: `RLBKEND` and a zero byte, the
 * data's size (u64) and the CRC-32 (u32) of everything before the trailer.
 * The data can so be written as it is made, a chunk at a time. Every field is
 * checked on reading: a truncated or damaged file is refused, never restored.
 *
 * {@link restoreDataDir} makes a fresh data directory whose node starts from
 * the backup, as a node does that installed a snapshot: its log begins after
 * the backup's index and its membership is the one given, so the same file
 * restores every member of a new cluster (the same ids and addresses, or new
 * ones).
 *
 * @module
 */

import { crc32 } from "node:zlib";
import { confStateOf } from "../core/conf_state.ts";
import type { ConfState, NodeId, SnapshotMetadata } from "../core/types.ts";
import type { NodeBackup } from "../node_types.ts";
import { FileStorage } from "./file_storage.ts";

const MAGIC = "RLBACKUP";
const END = "RLBKEND\0";
const VERSION = 1;
const HEAD_BYTES = 16;
const TRAILER_BYTES = 20;
/** Largest JSON header accepted (the membership is in it). */
const MAX_INFO_BYTES = 1 << 20;

/** The JSON header of a backup file. */
export interface BackupInfo {
  /** The applied index the state is as of. */
  readonly index: number;
  /** The term of the entry at `index`. */
  readonly term: number;
  /** The membership at `index` (the restored cluster gets its own). */
  readonly confState: ConfState;
  /** When the backup was taken (ms since the epoch). */
  readonly createdAt: number;
  /** The node it was taken on. */
  readonly nodeId: NodeId;
  /** That node's cluster id. */
  readonly clusterId: string;
}

/** A backup read from a file: its state machine data in one piece. */
export interface BackupFile {
  /** The file's header. */
  readonly info: BackupInfo;
  /** The backup, as `restoreDataDir` takes it. */
  readonly backup: { readonly metadata: SnapshotMetadata; readonly data: Uint8Array };
}

/** A backup file that is not one, or is truncated or damaged. */
export class BackupFormatError extends Error {
  /** @param message What is wrong with the file. */
  constructor(message: string) {
    super(message);
    this.name = "BackupFormatError";
  }
}

/**
 * The backup file of `backup`, taken on `nodeId` of `clusterId`, as a stream:
 * the data's chunks are read as the stream is (a reader that cancels it
 * ends the backup's reading too, and with `idleMs`, so does a reader that
 * reads nothing for that long: the stream then fails).
 *
 * @example
 * ```ts
 * import { backupStream, readBackup } from "./backup_file.ts";
 * const confState = { voters: ["n1"], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
 * const backup = { metadata: { index: 7, term: 2, confState }, data: new Uint8Array([1, 2, 3]) };
 * const file = new Uint8Array(await new Response(backupStream(backup, { nodeId: "n1", clusterId: "c" })).arrayBuffer());
 * const back = readBackup(file);
 * console.assert(back.info.index === 7 && back.backup.data[2] === 3);
 * ```
 */
export function backupStream(
  backup: NodeBackup,
  from: { readonly nodeId: NodeId; readonly clusterId: string; readonly createdAt?: number },
  opts: { readonly idleMs?: number } = {},
): ReadableStream<Uint8Array> {
  const info: BackupInfo = {
    index: backup.metadata.index,
    term: backup.metadata.term,
    confState: backup.metadata.confState,
    createdAt: from.createdAt ?? Date.now(),
    nodeId: from.nodeId,
    clusterId: from.clusterId,
  };
  const json = new TextEncoder().encode(JSON.stringify(info));
  const head = new Uint8Array(HEAD_BYTES + json.length);
  head.set(new TextEncoder().encode(MAGIC), 0);
  const hv = new DataView(head.buffer);
  hv.setUint32(8, VERSION, true);
  hv.setUint32(12, json.length, true);
  head.set(json, HEAD_BYTES);
  const data = backup.data;
  const chunks: AsyncIterator<Uint8Array> = data instanceof Uint8Array
    ? (async function* () {
      yield data;
    })()
    : data;
  // The CRC covers the header too: a changed digit there would restore another index.
  let size = 0, crc = crc32(head), started = false, ended = false;
  let idle: ReturnType<typeof setTimeout> | undefined;
  // A reader that stops reading must not keep what the chunks hold (the log's entries) for ever.
  const watch = (ctl: ReadableStreamDefaultController<Uint8Array>) => {
    if (opts.idleMs === undefined) return;
    idle = setTimeout(() => {
      ended = true;
      chunks.return?.();
      ctl.error(new Error(`the backup's reader read nothing for ${opts.idleMs} ms`));
    }, opts.idleMs);
  };
  return new ReadableStream<Uint8Array>({
    start(ctl) {
      watch(ctl);
    },
    async pull(ctl) {
      clearTimeout(idle);
      if (!started) {
        started = true;
        ctl.enqueue(head);
        watch(ctl);
        return;
      }
      if (ended) return;
      const r = await chunks.next();
      if (!r.done) {
        size += r.value.length;
        crc = crc32(r.value, crc);
        ctl.enqueue(r.value);
        watch(ctl);
        return;
      }
      ended = true;
      const trailer = new Uint8Array(TRAILER_BYTES);
      trailer.set(new TextEncoder().encode(END), 0);
      const tv = new DataView(trailer.buffer);
      tv.setBigUint64(8, BigInt(size), true);
      tv.setUint32(16, crc >>> 0, true);
      ctl.enqueue(trailer);
      ctl.close();
    },
    async cancel() {
      clearTimeout(idle);
      await chunks.return?.();
    },
  }, { highWaterMark: 0 });
}

/**
 * Checks a backup file as it streams by, a chunk at a time, keeping only
 * its header and last bytes: {@link BackupChecker.finish} answers its header
 * once the whole file proved intact, and throws {@link BackupFormatError}
 * otherwise (as soon as the header is wrong, or at the end).
 *
 * @example
 * ```ts
 * import { BackupChecker, backupStream } from "./backup_file.ts";
 * const confState = { voters: ["n1"], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
 * const backup = { metadata: { index: 7, term: 2, confState }, data: new Uint8Array(1000) };
 * const check = new BackupChecker();
 * for await (const chunk of backupStream(backup, { nodeId: "n1", clusterId: "c" })) check.push(chunk);
 * console.assert(check.finish().index === 7 && check.dataStart > 16);
 * ```
 */
export class BackupChecker {
  /** Bytes of the header so far, until it is read. */
  #head: Uint8Array | undefined = new Uint8Array(0);
  #info: BackupInfo | undefined;
  #dataStart = 0;
  /** The last bytes seen (the end marker, once all arrived), not yet counted as data. */
  #tail = new Uint8Array(0);
  #size = 0;
  #crc = 0;

  /** Offset of the data in the file (known once the header was read). */
  get dataStart(): number {
    return this.#dataStart;
  }

  /** Takes the file's next bytes. */
  push(chunk: Uint8Array): void {
    if (this.#head !== undefined) {
      const head = this.#head.length === 0 ? chunk : concat(this.#head, chunk);
      const read = readHead(head);
      if (read === undefined) {
        this.#head = head;
        return;
      }
      this.#head = undefined;
      this.#info = read.info;
      this.#dataStart = read.start;
      this.#crc = crc32(head.subarray(0, read.start));
      chunk = head.subarray(read.start);
    }
    // All but the last TRAILER_BYTES bytes seen are data.
    if (chunk.length >= TRAILER_BYTES) {
      this.#count(this.#tail);
      this.#count(chunk.subarray(0, chunk.length - TRAILER_BYTES));
      this.#tail = chunk.slice(chunk.length - TRAILER_BYTES);
    } else {
      const joined = concat(this.#tail, chunk);
      const data = Math.max(0, joined.length - TRAILER_BYTES);
      this.#count(joined.subarray(0, data));
      this.#tail = joined.slice(data);
    }
  }

  #count(data: Uint8Array): void {
    if (data.length === 0) return;
    this.#crc = crc32(data, this.#crc);
    this.#size += data.length;
  }

  /** The header of the file pushed, if it was intact to its end. */
  finish(): BackupInfo {
    if (this.#info === undefined) {
      const have = this.#head?.length ?? 0;
      throw new BackupFormatError(
        have < HEAD_BYTES ? "too short to be a raftlog backup" : "the backup's header is truncated",
      );
    }
    const t = this.#tail;
    if (t.length < TRAILER_BYTES || new TextDecoder().decode(t.subarray(0, 8)) !== END) {
      throw new BackupFormatError("the backup is truncated (no end marker): it was cut short");
    }
    const view = new DataView(t.buffer, t.byteOffset, t.byteLength);
    const size = Number(view.getBigUint64(8, true));
    if (this.#size !== size) {
      throw new BackupFormatError(
        `the backup holds ${this.#size} bytes of data where its end says ${size}: it is damaged`,
      );
    }
    if ((this.#crc >>> 0) !== view.getUint32(16, true)) {
      throw new BackupFormatError("the backup is damaged (CRC-32 mismatch)");
    }
    return this.#info;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The header at the start of `bytes` and where the data begins; undefined
 * while more bytes are needed; throws {@link BackupFormatError} once it is
 * wrong.
 */
function readHead(bytes: Uint8Array): { info: BackupInfo; start: number } | undefined {
  if (bytes.length >= 8 && new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new BackupFormatError("not a raftlog backup (no RLBACKUP header)");
  }
  if (bytes.length < HEAD_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== VERSION) {
    throw new BackupFormatError(`backup format version ${version} is not known (this reads 1)`);
  }
  const infoBytes = view.getUint32(12, true);
  if (infoBytes > MAX_INFO_BYTES) throw new BackupFormatError("the backup's header is damaged");
  if (HEAD_BYTES + infoBytes > bytes.length) return undefined;
  try {
    const info = checkInfo(
      JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(
        bytes.subarray(HEAD_BYTES, HEAD_BYTES + infoBytes),
      )),
    );
    return { info, start: HEAD_BYTES + infoBytes };
  } catch (e) {
    if (e instanceof BackupFormatError) throw e;
    throw new BackupFormatError(`the backup's header is damaged (${(e as Error).message})`);
  }
}

/**
 * Reads a whole backup file's bytes. Throws {@link BackupFormatError} for
 * anything but an intact backup. The data is a view into `file`.
 */
export function readBackup(file: Uint8Array): BackupFile {
  const check = new BackupChecker();
  check.push(file);
  const info = check.finish();
  const data = file.subarray(check.dataStart, file.length - TRAILER_BYTES);
  return {
    info,
    backup: { metadata: { index: info.index, term: info.term, confState: info.confState }, data },
  };
}

function checkInfo(v: unknown): BackupInfo {
  if (typeof v !== "object" || v === null) {
    throw new BackupFormatError("the header is not an object");
  }
  const o = v as Record<string, unknown>;
  const count = (k: string) => {
    const x = o[k];
    if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) {
      throw new BackupFormatError(`the header's ${k} is not a count`);
    }
    return x;
  };
  const text = (k: string) => {
    const x = o[k];
    if (typeof x !== "string") throw new BackupFormatError(`the header's ${k} is not a string`);
    return x;
  };
  const cs = o.confState as Record<string, unknown> | null | undefined;
  const ids = (k: string) => {
    const x = cs?.[k];
    if (!Array.isArray(x) || x.some((id) => typeof id !== "string")) {
      throw new BackupFormatError(`the header's confState.${k} is not a list of ids`);
    }
    return x as string[];
  };
  return {
    index: count("index"),
    term: count("term"),
    confState: {
      voters: ids("voters"),
      learners: ids("learners"),
      votersOutgoing: ids("votersOutgoing"),
      learnersNext: ids("learnersNext"),
      autoLeave: cs?.autoLeave === true,
    },
    createdAt: count("createdAt"),
    nodeId: text("nodeId"),
    clusterId: text("clusterId"),
  };
}

/** A data directory that already holds something: restoring would mix two histories. */
export class DataDirNotEmptyError extends Error {
  /** @param dir The directory. */
  constructor(readonly dir: string) {
    super(`Data directory ${dir} is not empty: restore into a new one`);
    this.name = "DataDirNotEmptyError";
  }
}

/**
 * Makes `dir` (which must not exist, or be empty) a data directory whose node
 * starts from `backup` with `voters` as its membership: the backup is its
 * snapshot and its log begins after the backup's index. Restore every member
 * of the new cluster from the same backup with the same `voters`.
 *
 * @example
 * ```ts
 * import { restoreDataDir } from "./backup_file.ts";
 * import { FileStorage } from "./file_storage.ts";
 * const confState = { voters: ["old"], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
 * const dir = (await Deno.makeTempDir()) + "/n1";
 * await restoreDataDir(dir, { metadata: { index: 9, term: 3, confState }, data: new Uint8Array([5]) }, ["n1"]);
 * const s = await FileStorage.open(dir);
 * console.assert(s.firstIndex() === 10 && s.initialState().confState.voters[0] === "n1");
 * console.assert(s.initialState().hardState.commit === 9 && s.snapshot().data[0] === 5);
 * await s.close();
 * ```
 */
export async function restoreDataDir(
  dir: string,
  backup: BackupFile["backup"],
  voters: readonly NodeId[],
): Promise<void> {
  if (voters.length === 0) throw new RangeError("restoreDataDir: give at least one voter");
  if (backup.metadata.index < 1) {
    throw new RangeError("restoreDataDir: the backup holds no entries (index 0)");
  }
  try {
    for await (const _ of Deno.readDir(dir)) throw new DataDirNotEmptyError(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const { index, term } = backup.metadata;
  const storage = await FileStorage.open(dir);
  try {
    await storage.save({
      entries: [],
      snapshot: {
        metadata: { index, term, confState: confStateOf([...voters]) },
        data: backup.data,
      },
      hardState: { term, vote: "", commit: index },
    }, { sync: true });
  } finally {
    await storage.close();
  }
}
