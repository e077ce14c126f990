/**
 * The hard-state checkpoint file. Hard state normally travels in log
 * segments, in the same batch record as the entries it follows (one write
 * and one sync per `Ready`); this file keeps the newest hard state safe
 * before the segment that holds it is deleted (compaction, suffix
 * truncation, snapshot install). On open, the hard state with the highest
 * sequence number, here or in a segment, wins.
 *
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "./atomic_file.ts";
import {
  checkFrame,
  decodeHardState,
  encodeHardState,
  FRAME_HEADER_BYTES,
  hardStateRecordSize,
  type SequencedHardState,
} from "./record.ts";
import { CorruptLogError } from "./storage_errors.ts";

/** Name of the hard-state file inside a data directory. */
export const HARD_STATE_FILE = "hardstate";

const encoder = new TextEncoder();

/**
 * Replaces the hard-state file atomically (temp file, fsync, rename, fsync dir).
 *
 * @example
 * ```ts
 * import { readHardStateFile, writeHardStateFile } from "./hard_state_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   await writeHardStateFile(dir, { seq: 1, hardState: { term: 2, vote: "n3", commit: 5 } });
 *   console.assert((await readHardStateFile(dir))?.hardState.vote === "n3");
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function writeHardStateFile(dir: string, shs: SequencedHardState): Promise<void> {
  const vote = encoder.encode(shs.hardState.vote);
  const buf = new Uint8Array(hardStateRecordSize(vote.byteLength));
  encodeHardState(buf, new DataView(buf.buffer), 0, shs, vote);
  await writeFileAtomic(dir, HARD_STATE_FILE, buf);
}

/**
 * Reads the hard-state file; undefined when there is none. Throws
 * {@link CorruptLogError} when it is damaged (it is replaced atomically, so
 * damage is never a torn write).
 *
 * @example
 * ```ts
 * import { readHardStateFile } from "./hard_state_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   console.assert((await readHardStateFile(dir)) === undefined);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function readHardStateFile(dir: string): Promise<SequencedHardState | undefined> {
  const path = join(dir, HARD_STATE_FILE);
  let buf: Uint8Array;
  try {
    buf = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = checkFrame(buf, view, 0, buf.byteLength);
  if (length < 0 || FRAME_HEADER_BYTES + length !== buf.byteLength) {
    throw new CorruptLogError(path, 0, "hard state record is damaged (checksum or length)");
  }
  const shs = decodeHardState(buf, view, FRAME_HEADER_BYTES, length);
  if (shs === undefined) {
    throw new CorruptLogError(path, FRAME_HEADER_BYTES, "not a hard state record");
  }
  return shs;
}
