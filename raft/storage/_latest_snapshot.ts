/**
 * The latest snapshot of a data directory, as {@link FileStorage} keeps it:
 * held strongly when its data are small, else weakly, so a large snapshot
 * costs no memory once nobody uses it (it is read back from the snapshot
 * file when asked for again).
 *
 * @module
 */

import { join } from "node:path";
import type { Snapshot, SnapshotMetadata } from "../core/types.ts";
import {
  commitSnapshotFile,
  readSnapshotFileSync,
  SNAPSHOT_FILE,
  writeSnapshotFile,
} from "./snapshot_file.ts";
import { CorruptLogError } from "./storage_errors.ts";

// Snapshots with at most this much data stay in memory; larger ones are
// read back from their file when needed.
const SNAPSHOT_HELD_BYTES = 64 << 10;

/**
 * What to keep of a snapshot: small ones whole, large ones weakly when read
 * from the file here, not at all when given (its buffer is the giver's to
 * reuse: `WritableStorage.releasesSnapshotData`).
 */
function hold(snap: Snapshot, given: boolean): Snapshot | WeakRef<Snapshot> | undefined {
  if (snap.data.byteLength <= SNAPSHOT_HELD_BYTES) {
    return given ? { metadata: snap.metadata, data: snap.data.slice() } : snap;
  }
  return given ? undefined : new WeakRef(snap);
}

/** The latest snapshot in a data directory's snapshot file. */
export class LatestSnapshot {
  readonly #dir: string;
  /** Metadata of the latest snapshot. */
  #meta: SnapshotMetadata;
  /** The latest snapshot, strongly or weakly, or nothing (read from the file when asked for). */
  #held: Snapshot | WeakRef<Snapshot> | undefined;
  /** Metadata of a snapshot whose file is being written, until it is the latest. */
  #pending: SnapshotMetadata | undefined = undefined;

  /** `snap` is the latest snapshot of data directory `dir`, already in its file. */
  constructor(dir: string, snap: Snapshot) {
    this.#dir = dir;
    this.#meta = snap.metadata;
    this.#held = hold(snap, false);
  }

  /** Metadata of the latest snapshot. */
  get metadata(): SnapshotMetadata {
    return this.#meta;
  }

  /**
   * The latest snapshot. A large snapshot nobody holds any more is read back
   * from its file (synchronously) and checked; damage throws `CorruptLogError`.
   */
  load(): Snapshot {
    const held = this.#held;
    const snap = held instanceof WeakRef ? held.deref() : held;
    if (snap !== undefined) return snap;
    const meta = this.#meta;
    const file = readSnapshotFileSync(this.#dir);
    const same = (m: SnapshotMetadata) =>
      file !== undefined && file.metadata.index === m.index && file.metadata.term === m.term;
    if (same(meta)) {
      const loaded: Snapshot = { metadata: meta, data: file!.data };
      this.#held = new WeakRef(loaded);
      return loaded;
    }
    // The file was just replaced by a snapshot being written: that one is
    // already durable and as valid (it covers committed entries only). Its
    // data are taken from the file: the given buffer is not handed out.
    const pending = this.#pending;
    if (pending !== undefined && same(pending)) {
      return { metadata: pending, data: file!.data };
    }
    throw new CorruptLogError(
      join(this.#dir, SNAPSHOT_FILE),
      0,
      `the snapshot file no longer holds the snapshot at index ${meta.index} (term ${meta.term})`,
    );
  }

  /** Writes `snap` to the snapshot file (or commits the one prepared) and makes it the latest. */
  async replace(snap: Snapshot, prepared = false): Promise<void> {
    this.#pending = snap.metadata;
    try {
      if (prepared) await commitSnapshotFile(this.#dir);
      else await writeSnapshotFile(this.#dir, snap);
      this.#meta = snap.metadata;
      this.#held = hold(snap, true);
    } finally {
      this.#pending = undefined;
    }
  }
}
