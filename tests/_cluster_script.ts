/**
 * Running `deno task cluster` (cluster.ts) from tests: started with its
 * arguments, its output collected, stopped with Ctrl-C.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The first of `n` consecutive free loopback ports. */
export function freePortRun(n: number): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = freePort();
    if (base + n > 65535) continue;
    let free = true;
    for (let p = base + 1; p < base + n && free; p++) {
      try {
        Deno.listen({ hostname: "127.0.0.1", port: p }).close();
      } catch {
        free = false;
      }
    }
    if (free) return base;
  }
  throw new Error(`no run of ${n} free ports found`);
}

/** A running `cluster.ts`, with every line it printed on stdout so far. */
export interface ClusterScript {
  readonly child: Deno.ChildProcess;
  readonly out: string[];
  readonly err: string[];
}

function collect(stream: ReadableStream<Uint8Array>, into: string[]): void {
  (async () => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      into.push(...lines);
    }
    if (rest !== "") into.push(rest);
  })().catch(() => {});
}

export function startScript(args: string[]): ClusterScript {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(ROOT, "deno.json"), join(ROOT, "cluster.ts"), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const s = { child, out: [] as string[], err: [] as string[] };
  collect(child.stdout, s.out);
  collect(child.stderr, s.err);
  return s;
}

/** The summary the script prints once the cluster is up: its lines from "is up" on. */
export async function summaryOf(s: ClusterScript): Promise<string[]> {
  return await waitFor("the cluster script's summary", () => {
    const at = s.out.findIndex((l) => / is up\. Leader: /.test(l));
    const end = s.out.indexOf("Try:", at);
    return at >= 0 && end > at ? s.out.slice(at, end) : undefined;
  }, 60_000);
}

/** Stops the script with Ctrl-C (it stops its nodes) and resolves with its exit code. */
export async function stopScript(s: ClusterScript): Promise<number> {
  try {
    s.child.kill("SIGINT");
  } catch {
    // Already gone.
  }
  const t = setTimeout(() => {
    try {
      s.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, 30_000);
  const status = await s.child.status;
  clearTimeout(t);
  return status.code;
}

/**
 * The environment of each running process whose command line holds `marker`
 * (say, a data directory), read from /proc (Linux only).
 */
export function environOf(marker: string): Map<number, Map<string, string>> {
  const out = new Map<number, Map<string, string>>();
  for (const e of Deno.readDirSync("/proc")) {
    const pid = Number(e.name);
    if (!Number.isSafeInteger(pid) || pid === Deno.pid) continue;
    try {
      if (!Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes(marker)) continue;
      const env = new Map<string, string>();
      for (const kv of Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0")) {
        const at = kv.indexOf("=");
        if (at > 0) env.set(kv.slice(0, at), kv.slice(at + 1));
      }
      out.set(pid, env);
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}
