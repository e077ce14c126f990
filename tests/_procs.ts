/**
 * Helpers of the process-level suites: `cli.ts serve` processes on
 * FileStorage in temp directories, talking HTTP on loopback.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "./helpers.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));

/** A node process. */
export interface NodeProc {
  readonly id: string;
  readonly url: string;
  readonly args: readonly string[];
  child: Deno.ChildProcess;
  /** Last lines of stderr, for diagnostics. */
  log: string[];
}

/** Starts (or restarts) the process of `p` with its arguments (`cli.ts serve`, or `command`). */
export function spawnNode(
  p: Pick<NodeProc, "args"> & { command?: "serve" | "join" },
): Pick<NodeProc, "child" | "log"> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, CLI, p.command ?? "serve", ...p.args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  (async () => {
    let rest = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      log.push(...lines);
      if (log.length > 200) log.splice(0, log.length - 200);
    }
  })().catch(() => {});
  return { child, log };
}

/** Starts one node per data directory, as one cluster (ids n1, n2... and free ports unless given). */
export function startNodes(
  dirs: readonly string[],
  opts: {
    app: "kv" | "events";
    secret: string;
    logLevel?: string;
    extraArgs?: readonly string[];
    ids?: readonly string[];
    urls?: readonly string[];
  },
): NodeProc[] {
  const ids = opts.ids ?? dirs.map((_, i) => `n${i + 1}`);
  const urls = opts.urls ?? ids.map(() => `http://127.0.0.1:${freePort()}`);
  const peers = ids.map((id, i) => `${id}=${urls[i]}`).join(",");
  return ids.map((id, i) => {
    const args = [
      "--id",
      id,
      "--peers",
      peers,
      "--data",
      dirs[i]!,
      "--secret",
      opts.secret,
      "--app",
      opts.app,
      "--log-level",
      opts.logLevel ?? "warn",
      ...(opts.extraArgs ?? []),
    ];
    return { id, url: urls[i]!, args, ...spawnNode({ args }) };
  });
}

/** The node that reports itself leader, once exactly one does among `procs`. */
export async function leaderOf(procs: readonly NodeProc[], timeoutMs = 15_000): Promise<NodeProc> {
  return await waitFor("a leader", async () => {
    const roles = await Promise.all(procs.map(async (p) => {
      try {
        const res = await fetch(`${p.url}/status`);
        return res.ok ? ((await res.json()) as { role: string }).role : "down";
      } catch {
        return "down";
      }
    }));
    const leaders = procs.filter((_, i) => roles[i] === "leader");
    return leaders.length === 1 ? leaders[0] : undefined;
  }, timeoutMs);
}

/** SIGKILLs a node process and waits for it to exit. */
export async function kill(p: NodeProc): Promise<void> {
  try {
    p.child.kill("SIGKILL");
  } catch {
    // already gone
  }
  await p.child.status;
}

/** Stops every process (SIGTERM, then SIGKILL) and waits for them. */
export async function stopNodes(procs: readonly NodeProc[]): Promise<void> {
  await Promise.all(procs.map(async (p) => {
    try {
      p.child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const t = setTimeout(() => {
      try {
        p.child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5_000);
    await p.child.status;
    clearTimeout(t);
  }));
}
