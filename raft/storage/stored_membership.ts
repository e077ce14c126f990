/**
 * The membership a data directory has committed, read without starting a
 * node or changing a file: what `deno task cluster` looks at before it
 * restarts the nodes of a cluster.
 *
 * @module
 */

import { applyConfChange, decodeConfChange } from "../core/confchange.ts";
import { confStateOf } from "../core/conf_state.ts";
import { RaftInvariantError } from "../core/errors.ts";
import { configFromConfState, confStateFromConfig } from "../core/tracker/tracker.ts";
import type { ConfState } from "../core/types.ts";
import { DirLock } from "./dir_lock.ts";
import { ReadBuffer } from "./read_buffer.ts";
import { recoverDataDir } from "./recovery.ts";

/** The result of {@link readStoredMembership}. */
export interface StoredMembership {
  /** The commit index of the directory's hard state: the membership is as of this entry. */
  readonly commit: number;
  /** Voters, learners (and the halves of a joint configuration) as of `commit`. */
  readonly confState: ConfState;
}

// Entries read at a time while looking for membership changes.
const BATCH = 256;

/**
 * The membership committed in the data directory `dir`: the snapshot's
 * membership with the membership changes of the committed entries after it
 * applied, as the node would have them once it applied its log again. Entries
 * past the commit index do not count: a later leader may replace them.
 * Undefined when `dir` does not exist or holds nothing yet.
 *
 * Changes nothing on disk (a torn tail is read as it will be once repaired).
 * Throws `DataDirInUseError` while a node runs on `dir`, and
 * `CorruptLogError` when a file is damaged.
 *
 * @example
 * ```ts
 * import { readStoredMembership } from "./stored_membership.ts";
 * import { FileStorage } from "./file_storage.ts";
 * import { confStateOf } from "../core/conf_state.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   console.assert((await readStoredMembership(`${dir}/none`)) === undefined);
 *   const s = await FileStorage.open(dir, { bootstrap: confStateOf(["n1", "n2"]) });
 *   await s.close();
 *   const m = await readStoredMembership(dir);
 *   console.assert(m?.commit === 0 && m.confState.voters.join() === "n1,n2");
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function readStoredMembership(dir: string): Promise<StoredMembership | undefined> {
  if (typeof dir !== "string" || dir === "") {
    throw new TypeError("readStoredMembership: dir must be a non-empty path");
  }
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new TypeError(`${dir} is not a directory`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const lock = DirLock.acquire(dir, { shared: true });
  try {
    const rec = await recoverDataDir(dir);
    if (rec.fresh) return undefined;
    const snapIndex = rec.snapshot?.metadata.index ?? 0;
    // A member that joined has no snapshot until it gets one: its membership starts empty.
    let cfg = configFromConfState(rec.snapshot?.metadata.confState ?? confStateOf([]));
    const commit = rec.hardState.commit;
    const rb = new ReadBuffer();
    try {
      for (let lo = snapIndex + 1; lo <= commit;) {
        const seg = rec.segments.findLast((s) => s.firstIndex <= lo);
        if (seg === undefined || lo > seg.lastIndex) {
          // recoverDataDir checked that the log reaches the commit index.
          throw new RaftInvariantError(`${dir}: committed entry ${lo} is in no segment`);
        }
        const hi = Math.min(commit, seg.lastIndex, lo + BATCH - 1) + 1;
        for (const e of seg.read(lo, hi, rb)) {
          if (e.type !== "confChange") continue;
          try {
            cfg = applyConfChange(cfg, decodeConfChange(e.data));
          } catch (err) {
            // The node would stop on it too: the leader validated the change when proposing it.
            throw new RaftInvariantError(
              `${seg.path}: the committed membership change at index ${e.index} does not apply: ${
                err instanceof Error ? err.message : err
              }`,
            );
          }
        }
        lo = hi;
      }
    } finally {
      for (const s of rec.segments) s.closeReader();
    }
    return { commit, confState: confStateFromConfig(cfg) };
  } finally {
    lock.release();
  }
}
