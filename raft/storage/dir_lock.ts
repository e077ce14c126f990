/**
 * An advisory lock on a data directory, so two processes never write the
 * same log. The lock is an `flock` on the file `LOCK` inside the directory;
 * the kernel drops it when the process dies, so a crash never leaves a stale lock.
 *
 * @module
 */

import { join } from "node:path";
import { DataDirInUseError } from "./storage_errors.ts";

/** Name of the lock file inside a data directory. */
export const LOCK_FILE = "LOCK";

/**
 * A held directory lock.
 *
 * @example
 * ```ts
 * import { DirLock } from "./dir_lock.ts";
 * import { DataDirInUseError } from "./storage_errors.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   const lock = DirLock.acquire(dir);
 *   try {
 *     DirLock.acquire(dir);
 *   } catch (err) {
 *     console.assert(err instanceof DataDirInUseError);
 *   }
 *   lock.release();
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export class DirLock {
  #file: Deno.FsFile | undefined;

  private constructor(file: Deno.FsFile | undefined) {
    this.#file = file;
  }

  /**
   * Takes the lock on `dir` without waiting. An exclusive lock (the default)
   * is for a writer; a shared one (`shared: true`) is for a reader such as the
   * checker, which then neither creates the lock file nor blocks other readers.
   * Throws {@link DataDirInUseError} when another holder conflicts.
   */
  static acquire(dir: string, options?: { shared?: boolean }): DirLock {
    const shared = options?.shared ?? false;
    let file: Deno.FsFile;
    try {
      file = shared
        ? Deno.openSync(join(dir, LOCK_FILE), { read: true })
        : Deno.openSync(join(dir, LOCK_FILE), { read: true, write: true, create: true });
    } catch (err) {
      // No lock file: nobody ever wrote here, so a reader has nothing to wait for.
      if (shared && err instanceof Deno.errors.NotFound) return new DirLock(undefined);
      throw err;
    }
    let locked: boolean;
    try {
      locked = file.tryLockSync(!shared);
    } catch (err) {
      file.close();
      throw err;
    }
    if (!locked) {
      file.close();
      throw new DataDirInUseError(dir);
    }
    return new DirLock(file);
  }

  /** Releases the lock. Safe to call twice. */
  release(): void {
    const f = this.#file;
    this.#file = undefined;
    if (f === undefined) return;
    try {
      f.unlockSync();
    } finally {
      f.close();
    }
  }
}
