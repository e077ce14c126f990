/**
 * Reads over HTTP on a 3-node cluster (`cli.ts serve --app kv`, fsync on):
 * linearizable and local reads per second at 1 and 128 connections, beside
 * etcd's linearizable and serializable range requests in the same run.
 *
 * Run: `deno run -A bench/reads.ts [--seconds 5] [--no-etcd]` (needs `wrk`;
 * the etcd columns need `etcd` on PATH, Debian package `etcd-server`).
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  fmt,
  type LoadResult,
  onPath,
  printTable,
  runWrk,
  spawnRaftlog,
  startEtcd,
  version,
  waitFor,
} from "./_harness.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Runs plain `wrk` (GET) against `url` and reads its latency table. */
async function wrkGet(url: string, connections: number, seconds: number): Promise<LoadResult> {
  const out = await new Deno.Command("wrk", {
    args: [
      "-t",
      String(Math.min(2, connections)),
      "-c",
      String(connections),
      "-d",
      `${seconds}s`,
      "--latency",
      url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const ms = (label: string): number => {
    const m = text.match(new RegExp(`^\\s*${label}%\\s+([0-9.]+)(us|ms|s)`, "m"));
    if (m === null) return NaN;
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  const total = Number(text.match(/(\d+) requests in/)?.[1] ?? NaN);
  const non2xx = Number(text.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const requests = total - non2xx;
  return {
    requests,
    errors: non2xx,
    seconds,
    rps: requests / seconds,
    p50Ms: ms("50"),
    p99Ms: ms("99"),
    cpuMsPerRequest: NaN,
    load: NaN,
    steal: NaN,
  };
}

async function startRaftlog(
  dir: string,
): Promise<{ leader: string; follower: string; stop(): Promise<void> }> {
  const { urls, stop } = spawnRaftlog(dir, { app: "kv" });
  const leader = await waitFor("a raftlog leader that accepts writes", async () => {
    for (const u of urls) {
      const r = await fetch(`${u}/commands`, {
        method: "POST",
        body: JSON.stringify({ op: "put", key: "k", value: "v".repeat(100) }),
        redirect: "manual",
        headers: { "x-raftlog-forwarded-by": "bench" },
      });
      await r.body?.cancel();
      if (r.ok) return u;
    }
    return undefined;
  });
  const follower = urls.find((u) => u !== leader)!;
  // Followers must have applied the key before they serve it.
  await waitFor(
    "the key on a follower",
    async () => (await fetch(`${follower}/kv/k?consistency=local`)).ok ? true : undefined,
  );
  return { leader, follower, stop };
}

if (import.meta.main) {
  const args = parseArgs({
    options: { seconds: { type: "string", default: "5" }, "no-etcd": { type: "boolean" } },
  });
  const seconds = Number(args.values.seconds);
  if (!onPath("wrk")) {
    console.error("bench/reads.ts needs wrk (apt-get install -y wrk)");
    Deno.exit(2);
  }
  const withEtcd = !args.values["no-etcd"] && onPath("etcd");
  const tmp = await Deno.makeTempDir({ dir: ROOT, prefix: ".bench-reads-" });
  const rows: string[][] = [];
  try {
    await Deno.mkdir(join(tmp, "raftlog"));
    const r = await startRaftlog(join(tmp, "raftlog"));
    const results: Record<string, LoadResult> = {};
    try {
      for (const c of [1, 128]) {
        results[`lin ${c}`] = await wrkGet(
          `${r.follower}/kv/k?consistency=linearizable`,
          c,
          seconds,
        );
        results[`local ${c}`] = await wrkGet(`${r.follower}/kv/k?consistency=local`, c, seconds);
      }
    } finally {
      await r.stop();
    }
    const e: Record<string, LoadResult> = {};
    if (withEtcd) {
      await Deno.mkdir(join(tmp, "etcd"));
      const etcd = await startEtcd(join(tmp, "etcd"));
      try {
        const key = btoa("k");
        for (const c of [1, 128]) {
          e[`lin ${c}`] = await runWrk(etcd.leaderUrl, [{
            path: "/v3/kv/range",
            body: JSON.stringify({ key }),
          }], {
            connections: c,
            seconds,
            tmp,
          });
          e[`local ${c}`] = await runWrk(etcd.leaderUrl, [{
            path: "/v3/kv/range",
            body: JSON.stringify({ key, serializable: true }),
          }], { connections: c, seconds, tmp });
        }
      } finally {
        await etcd.stop();
      }
    }
    for (const k of Object.keys(results)) {
      const a = results[k]!, b = e[k];
      rows.push([
        k.split(" ")[0] === "lin" ? "linearizable" : "local",
        k.split(" ")[1]!,
        fmt(a.rps, 0),
        fmt(a.p50Ms, 2),
        b ? fmt(b.rps, 0) : "-",
        b ? fmt(b.p50Ms, 2) : "-",
        b ? `${fmt(a.rps / b.rps, 2)}x` : "-",
        String(a.errors),
      ]);
    }
    console.log(
      `reads: raftlog follower (kv app) vs etcd ${
        withEtcd ? version("etcd", ["--version"]) : "(not run)"
      } leader; ${seconds} s each`,
    );
    printTable([
      "consistency",
      "conns",
      "raftlog r/s",
      "p50 ms",
      "etcd r/s",
      "p50 ms",
      "ratio",
      "errors",
    ], rows);
    console.log(
      "etcd 'local' is a serializable range request; raftlog reads are served by a follower.",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}
