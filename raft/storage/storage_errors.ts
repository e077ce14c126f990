/**
 * Errors raised by file storage. Each one names the directory or file (and
 * byte offset) involved, so an operator can act on the message alone.
 *
 * @module
 */

/**
 * A data file is damaged: a bad checksum that is not a torn tail, a missing
 * segment, an index gap, or files that contradict each other. Storage refuses
 * to open rather than serve a silently shortened log.
 *
 * @example
 * ```ts
 * import { CorruptLogError } from "./storage_errors.ts";
 * const err = new CorruptLogError("data/n1/00000000000000000001.wal", 4096, "checksum mismatch");
 * console.assert(err.offset === 4096 && err.message.includes("byte offset 4096"));
 * ```
 */
export class CorruptLogError extends Error {
  /** Path of the damaged file. */
  readonly file: string;
  /** Byte offset in `file` where the damage starts. */
  readonly offset: number;
  constructor(file: string, offset: number, reason: string) {
    super(`Corrupt data in ${file} at byte offset ${offset}: ${reason}`);
    this.name = "CorruptLogError";
    this.file = file;
    this.offset = offset;
  }
}

/**
 * Another process holds the lock on the data directory.
 *
 * @example
 * ```ts
 * import { DataDirInUseError } from "./storage_errors.ts";
 * const err = new DataDirInUseError("./data/n1");
 * console.assert(err.message === "Data directory ./data/n1 is in use by another process");
 * ```
 */
export class DataDirInUseError extends Error {
  /** The directory, as given to `open`. */
  readonly dir: string;
  constructor(dir: string) {
    super(`Data directory ${dir} is in use by another process`);
    this.name = "DataDirInUseError";
    this.dir = dir;
  }
}

/**
 * The storage was closed; open it again to use it.
 *
 * @example
 * ```ts
 * import { StorageClosedError } from "./storage_errors.ts";
 * console.assert(new StorageClosedError("./data/n1").message.includes("closed"));
 * ```
 */
export class StorageClosedError extends Error {
  /** The data directory. */
  readonly dir: string;
  constructor(dir: string) {
    super(`Storage for data directory ${dir} is closed`);
    this.name = "StorageClosedError";
    this.dir = dir;
  }
}

/**
 * An earlier write or sync failed, so what is on disk is unknown. Every later
 * call fails with this error (a failed fsync cannot be retried safely); close
 * the storage and open it again, which recovers from the files.
 *
 * @example
 * ```ts
 * import { StorageFailedError } from "./storage_errors.ts";
 * const err = new StorageFailedError("./data/n1", new Error("EIO"));
 * console.assert(err.cause instanceof Error);
 * ```
 */
export class StorageFailedError extends Error {
  /** The data directory. */
  readonly dir: string;
  constructor(dir: string, cause: unknown) {
    super(
      `Storage for data directory ${dir} failed earlier and must be reopened: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
    this.name = "StorageFailedError";
    this.dir = dir;
  }
}
