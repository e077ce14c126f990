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
export async function writeFileAtomic(dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    writeAllSync(f, bytes);
    await f.sync();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, join(dir, name));
  await syncDir(dir);
}
