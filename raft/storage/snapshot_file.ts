/**
 * The snapshot file: the latest state machine snapshot with its metadata,
 * replaced atomically (temp file, fsync, rename, fsync dir).
 *
 * @module
 */

import { join } from "node:path";
import type { ConfState, Snapshot } from "../core/types.ts";
import { renameDurably, writeFileAtomic, writeTempFile } from "./atomic_file.ts";
import {
  checkFrame,
  FRAME_HEADER_BYTES,
  MAX_PAYLOAD_BYTES,
  readU64,
  RecordKind,
  sealFrameHeader,
  writeU64,
} from "./record.ts";
import { crc32 } from "node:zlib";
import { CorruptLogError } from "./storage_errors.ts";

/** Name of the snapshot file inside a data directory. */
export const SNAPSHOT_FILE = "snapshot";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Replaces the snapshot file with `snap`, atomically.
 *
 * @example
 * ```ts
 * import { readSnapshotFile, writeSnapshotFile } from "./snapshot_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   const confState = { voters: ["n1"], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
 *   await writeSnapshotFile(dir, { metadata: { index: 4, term: 2, confState }, data: new Uint8Array([1]) });
 *   console.assert((await readSnapshotFile(dir))?.metadata.confState.voters[0] === "n1");
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function writeSnapshotFile(dir: string, snap: Snapshot): Promise<void> {
  await writeFileAtomic(dir, SNAPSHOT_FILE, encodeSnapshotFile(snap));
}

/** Name of the temp file {@link prepareSnapshotFile} writes. */
const NEXT_SNAPSHOT_TMP = `${SNAPSHOT_FILE}.next.tmp`;

/**
 * Writes `snap` durably beside the snapshot file, without replacing it yet:
 * {@link commitSnapshotFile} does that. Lets the slow part (writing and
 * syncing a large file) overlap other writes to the directory.
 *
 * @example
 * ```ts
 * import { commitSnapshotFile, prepareSnapshotFile, readSnapshotFile } from "./snapshot_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   const confState = { voters: ["n1"], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
 *   await prepareSnapshotFile(dir, { metadata: { index: 4, term: 2, confState }, data: new Uint8Array([1]) });
 *   console.assert((await readSnapshotFile(dir)) === undefined);
 *   await commitSnapshotFile(dir);
 *   console.assert((await readSnapshotFile(dir))?.metadata.index === 4);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function prepareSnapshotFile(dir: string, snap: Snapshot): Promise<void> {
  await writeTempFile(dir, NEXT_SNAPSHOT_TMP, encodeSnapshotFile(snap));
}

/** Makes the snapshot {@link prepareSnapshotFile} wrote the snapshot file, atomically. */
export async function commitSnapshotFile(dir: string): Promise<void> {
  await renameDurably(dir, NEXT_SNAPSHOT_TMP, SNAPSHOT_FILE);
}

/** Deletes what {@link prepareSnapshotFile} wrote, if anything. */
export async function discardPreparedSnapshot(dir: string): Promise<void> {
  await Deno.remove(join(dir, NEXT_SNAPSHOT_TMP)).catch(() => {});
}

/** The snapshot file's bytes: a frame header with the metadata, then the data (not copied). */
function encodeSnapshotFile(snap: Snapshot): Uint8Array[] {
  const conf = encoder.encode(JSON.stringify(snap.metadata.confState));
  const payloadLength = 21 + conf.byteLength + snap.data.byteLength;
  if (payloadLength > MAX_PAYLOAD_BYTES) {
    throw new RangeError(
      `Snapshot at index ${snap.metadata.index} is too large: ${snap.data.byteLength} bytes of data`,
    );
  }
  const head = new Uint8Array(FRAME_HEADER_BYTES + 21 + conf.byteLength);
  const view = new DataView(head.buffer);
  const p = FRAME_HEADER_BYTES;
  head[p] = RecordKind.snapshot;
  writeU64(view, p + 1, snap.metadata.index);
  writeU64(view, p + 9, snap.metadata.term);
  view.setUint32(p + 17, conf.byteLength, true);
  head.set(conf, p + 21);
  const crc = crc32(snap.data, crc32(head.subarray(p)));
  sealFrameHeader(head, view, 0, payloadLength, crc);
  return [head, snap.data];
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function parseConfState(json: string): ConfState | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (
    !isStringArray(o.voters) || !isStringArray(o.learners) || !isStringArray(o.votersOutgoing) ||
    !isStringArray(o.learnersNext) || typeof o.autoLeave !== "boolean"
  ) {
    return undefined;
  }
  return {
    voters: o.voters,
    learners: o.learners,
    votersOutgoing: o.votersOutgoing,
    learnersNext: o.learnersNext,
    autoLeave: o.autoLeave,
  };
}

/**
 * Reads the snapshot file; undefined when there is none. Throws
 * {@link CorruptLogError} when it is damaged.
 *
 * @example
 * ```ts
 * import { readSnapshotFile } from "./snapshot_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   console.assert((await readSnapshotFile(dir)) === undefined);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function readSnapshotFile(dir: string): Promise<Snapshot | undefined> {
  const path = join(dir, SNAPSHOT_FILE);
  let buf: Uint8Array;
  try {
    buf = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  return decodeSnapshotFile(path, buf);
}

/**
 * Reads the snapshot file synchronously, as {@link readSnapshotFile} does.
 *
 * @example
 * ```ts
 * import { readSnapshotFileSync } from "./snapshot_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   console.assert(readSnapshotFileSync(dir) === undefined);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export function readSnapshotFileSync(dir: string): Snapshot | undefined {
  const path = join(dir, SNAPSHOT_FILE);
  let buf: Uint8Array;
  try {
    buf = Deno.readFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  return decodeSnapshotFile(path, buf);
}

function decodeSnapshotFile(path: string, buf: Uint8Array): Snapshot {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = checkFrame(buf, view, 0, buf.byteLength);
  if (length < 0 || FRAME_HEADER_BYTES + length !== buf.byteLength) {
    throw new CorruptLogError(path, 0, "snapshot record is damaged (checksum or length)");
  }
  const p = FRAME_HEADER_BYTES;
  const confLength = length >= 21 ? view.getUint32(p + 17, true) : -1;
  if (buf[p] !== RecordKind.snapshot || confLength < 0 || 21 + confLength > length) {
    throw new CorruptLogError(path, p, "not a snapshot record");
  }
  let confState: ConfState | undefined;
  try {
    confState = parseConfState(decoder.decode(buf.subarray(p + 21, p + 21 + confLength)));
  } catch {
    confState = undefined;
  }
  if (confState === undefined) {
    throw new CorruptLogError(path, p + 21, "snapshot membership (confState) is malformed");
  }
  return {
    metadata: { index: readU64(view, p + 1), term: readU64(view, p + 9), confState },
    data: buf.subarray(p + 21 + confLength, p + length),
  };
}
