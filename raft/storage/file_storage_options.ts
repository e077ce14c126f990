/**
 * How a {@link FileStorage} is opened: its options and where its warnings go.
 *
 * @module
 */

import type { ConfState } from "../core/types.ts";

/**
 * Receives one structured log line (for example a torn tail that recovery
 * dropped).
 */
export type StorageLogger = (line: Record<string, unknown>) => void;

/**
 * Options of {@link FileStorage.open}.
 *
 * @example
 * ```ts
 * import type { FileStorageOptions } from "./file_storage.ts";
 * const o: FileStorageOptions = { segmentBytes: 16 << 20, logger: (line) => console.log(line) };
 * ```
 */
export interface FileStorageOptions {
  /** A segment is closed and a new one started once it reaches this size. Default 64 MiB. */
  readonly segmentBytes?: number;
  /** Bytes of recent entries kept in memory (counted as by `entrySize`). Default 16 MiB. */
  readonly cacheBytes?: number;
  /** Membership of a brand-new directory. Ignored when the directory holds data. */
  readonly bootstrap?: ConfState;
  /** Where warnings go (one object per line). Default: JSON on stderr. */
  readonly logger?: StorageLogger;
  /**
   * The last segment is zero-filled this many bytes ahead of the writes
   * (default 1 MiB; 0 turns it off). A save that overwrites zeros already on
   * disk leaves the file's size and block map unchanged, so its `syncData`
   * has no file-system metadata to commit: on ext4 here, 230 us per sync
   * instead of 340-375 us, and about a third less CPU. A segment is cut back
   * to its last record when the next one starts; recovery reads zeros after
   * a segment's last record as where its records end (not as a torn write).
   * A full disk shows up that much earlier, as a failed save.
   */
  readonly preallocateBytes?: number;
}
