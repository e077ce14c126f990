/**
 * Whole-file replacement that survives a crash at any point: after a crash
 * the file holds either the old contents or the new, never a mix.
 *
 * @module
 */

import { join } from "node:path";

/**
 * Writes all of `bytes` to `file` at its current position, looping over
 * short writes.
 *
 * @example
 * ```ts
 * import { writeAllSync } from "./atomic_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   using f = Deno.openSync(`${dir}/x`, { write: true, create: true });
 *   writeAllSync(f, new Uint8Array(10));
 *   console.assert(Deno.statSync(`${dir}/x`).size === 10);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += file.writeSync(bytes.subarray(done));
}

/**
 * Flushes a directory's entries (new, renamed and removed files) to disk.
 *
 * @example
 * ```ts
 * import { syncDir } from "./atomic_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   await syncDir(dir);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function syncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

/**
 * Replaces `dir/name` with `bytes` atomically: writes `name.tmp`, fsyncs it,
 * renames it over `name`, then fsyncs the directory so the rename itself is
 * durable.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   await writeFileAtomic(dir, "state", new Uint8Array([1, 2, 3]));
 *   console.assert((await Deno.readFile(`${dir}/state`)).length === 3);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function writeFileAtomic(
  dir: string,
  name: string,
  bytes: Uint8Array | readonly Uint8Array[],
): Promise<void> {
  await writeTempFile(dir, `${name}.tmp`, bytes);
  await renameDurably(dir, `${name}.tmp`, name);
}

/**
 * The first half of {@link writeFileAtomic}: writes `dir/tmp` (a name ending
 * in `.tmp`, which recovery deletes) with `bytes` (or its pieces, in order)
 * and fsyncs it. Large pieces are written off the main thread.
 *
 * @example
 * ```ts
 * import { renameDurably, writeTempFile } from "./atomic_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   await writeTempFile(dir, "state.next.tmp", new Uint8Array([1, 2]));
 *   await renameDurably(dir, "state.next.tmp", "state");
 *   console.assert((await Deno.readFile(`${dir}/state`)).length === 2);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function writeTempFile(
  dir: string,
  tmp: string,
  bytes: Uint8Array | readonly Uint8Array[],
): Promise<void> {
  const f = await Deno.open(join(dir, tmp), { write: true, create: true, truncate: true });
  try {
    for (const piece of bytes instanceof Uint8Array ? [bytes] : bytes) {
      if (piece.byteLength < 1 << 20) writeAllSync(f, piece);
      else {
        let done = 0;
        while (done < piece.byteLength) done += await f.write(piece.subarray(done));
      }
    }
    await f.sync();
  } finally {
    f.close();
  }
}

/** The second half of {@link writeFileAtomic}: renames `dir/tmp` over `dir/name`, then fsyncs `dir`. */
export async function renameDurably(dir: string, tmp: string, name: string): Promise<void> {
  await Deno.rename(join(dir, tmp), join(dir, name));
  await syncDir(dir);
}
