/**
 * Carrying out the repairs {@link recoverDataDir} lists for a data directory
 * after a crash (a torn tail to cut, segments to remove, a half-done
 * snapshot install to finish), logging each one.
 *
 * @module
 */

import { writeHardStateFile } from "./hard_state_file.ts";
import type { RecoveredDir } from "./recovery.ts";
import type { StorageLogger } from "./file_storage_options.ts";

/** Where the repairs are made and logged. */
export interface RepairOptions {
  /** The data directory. */
  readonly dir: string;
  readonly logger: StorageLogger;
}

/** What the repairs left to the caller. */
export interface Repaired {
  /** Files were removed: the directory needs an fsync. */
  readonly dirDirty: boolean;
  /** Sequence number of the hard state now in the checkpoint file. */
  readonly hsFileSeq: number;
}

/**
 * Makes the repairs `rec` lists. The newest hard state is first written to
 * the checkpoint file when it lives only in a segment about to go.
 */
export async function applyRepairs(rec: RecoveredDir, options: RepairOptions): Promise<Repaired> {
  const { dir, logger } = options;
  let dirDirty = false;
  let hsFileSeq = rec.hardStateFileSeq;
  // The newest hard state may live in a segment about to go.
  const removed = rec.repairs.flatMap((r) =>
    r.kind === "removeSegment" ? [r.file] : r.kind === "discardLog" ? r.files : []
  );
  if (rec.hardStateSeq > hsFileSeq && removed.includes(rec.hardStateSource)) {
    await writeHardStateFile(dir, { seq: rec.hardStateSeq, hardState: rec.hardState });
    hsFileSeq = rec.hardStateSeq;
  }
  for (const r of rec.repairs) {
    switch (r.kind) {
      case "removeTemp":
        // Writing the hard state file above may have used (and renamed away) this one.
        await Deno.remove(r.file).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
        break;
      case "truncateTail": {
        const f = await Deno.open(r.file, { write: true });
        try {
          await f.truncate(r.offset);
          await f.sync();
        } finally {
          f.close();
        }
        logger({
          level: "warn",
          event: "torn_tail_truncated",
          message:
            `Dropped a torn write at the end of ${r.file}: ${r.droppedBytes} bytes from byte offset ${r.offset} (${r.reason}); the log now ends at index ${rec.lastIndex}`,
          file: r.file,
          offset: r.offset,
          droppedBytes: r.droppedBytes,
          lastIndex: rec.lastIndex,
        });
        break;
      }
      case "removeSegment":
        await Deno.remove(r.file);
        dirDirty = true;
        logger({
          level: "warn",
          event: "torn_segment_removed",
          message: `Removed ${r.file}: ${r.reason}; the log now ends at index ${rec.lastIndex}`,
          file: r.file,
          lastIndex: rec.lastIndex,
        });
        break;
      case "discardLog":
        for (const file of [...r.files].reverse()) await Deno.remove(file);
        dirDirty = true;
        logger({
          level: "warn",
          event: "log_discarded_for_snapshot",
          message:
            `Finished an interrupted snapshot install: removed ${r.files.length} segment(s) because ${r.reason}`,
          files: r.files,
        });
        break;
    }
  }
  return { dirDirty, hsFileSeq };
}
