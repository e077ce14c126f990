/**
 * `deno task check-data <dir> [--json]`: verifies a data directory and
 * prints what it holds. Exits 1 with the error when it is damaged.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { checkDataDir, formatDataDirReport } from "./check_data_dir.ts";

export { checkDataDir };

/**
 * Runs the checker on command-line `args`; returns the exit code (0 ok,
 * 1 damaged or unreadable, 2 usage). `command` names it in messages
 * (`raftlog check` when the CLI runs it).
 *
 * @example
 * ```ts
 * import { runCheckCli } from "./check_cli.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   console.assert((await runCheckCli([dir])) === 0);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function runCheckCli(
  args: readonly string[],
  command = "deno task check-data",
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { json: { type: "boolean", default: false } },
      allowPositionals: true,
    });
  } catch (err) {
    console.error(`${command}: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  const dir = parsed.positionals[0];
  if (dir === undefined || parsed.positionals.length > 1) {
    console.error(`usage: ${command} <data-dir> [--json]`);
    return 2;
  }
  try {
    const report = await checkDataDir(dir);
    console.log(parsed.values.json ? JSON.stringify(report, null, 2) : formatDataDirReport(report));
    return 0;
  } catch (err) {
    console.error(`${command}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await runCheckCli(Deno.args));
