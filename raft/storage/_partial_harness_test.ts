/**
 * Shared pieces of the partial snapshot tests (storage and transport):
 * patterned bytes, a temporary directory per test, its file names.
 *
 * @module
 */

/** `n` bytes of a pattern that depends on `seed`. */
export function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Runs `run` in a new temporary directory, removed afterwards. */
export async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The names in `dir`, sorted. */
export function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}
