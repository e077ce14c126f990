/**
 * Write throughput and latency of a 3-node raftlog cluster of `cli.ts serve`
 * processes (FileStorage with fsync, in a temp directory on disk), driven over
 * HTTP with single-command writes (`POST /commands` put) at several
 * concurrency levels. With `--vs-etcd`, a 3-node etcd on loopback gets the same
 * load on its HTTP/JSON gateway (`POST /v3/kv/put`) in the same run, and a
 * side-by-side table with ratios is printed.
 *
 * The load generator runs in its own process: `wrk` when it is on PATH
 * (Debian package `wrk`), otherwise `bench/load.ts`. `--calibrate` measures
 * how many requests per second each generator can drive on this machine.
 *
 * Run: `deno task bench-cluster [--seconds 10] [--connections 1,32,128]
 * [--vs-etcd] [--rounds 1] [--load wrk|deno] [--warmup 2] [--calibrate] [--keep]`
 *
 * `--rounds N` repeats the whole run N times, alternating the systems, and
 * prints medians: on a shared machine, other work skews single runs. Each
 * line also reports the CPU time all nodes spent per write and the load
 * average, which show whether the figures are CPU- or latency-bound.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  cpuSeconds,
  cpuTicks,
  fmt,
  loadAvg,
  median,
  nodeTunables,
  onPath,
  pct,
  spawnRaftlog,
  startEtcd as startSharedEtcd,
  stealShare,
  version,
  waitFor,
  wrkScript,
} from "./_harness.ts";

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU milliseconds (user + system, all nodes) per acknowledged write; NaN when unknown. */
  cpuMsPerWrite: number;
  /** 1-minute load average when the run ended (other work on the machine skews results). */
  load: number;
  /** Share (0-1) of the machine's CPU time taken by the hypervisor during the run; NaN when unknown. */
  steal: number;
}

interface System {
  readonly name: string;
  /** Where writes go (the leader's write endpoint). */
  readonly writeUrl: string;
  /** Request bodies, sent in turn. */
  readonly bodies: readonly string[];
  /** Process ids of the nodes, for CPU accounting. */
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LOAD = join(ROOT, "bench", "load.ts");
const KEYS = 1000;
const VALUE = "v".repeat(32);

const { values: opts } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "1,32,128" },
    "vs-etcd": { type: "boolean", default: false },
    load: { type: "string" },
    warmup: { type: "string", default: "2" },
    calibrate: { type: "boolean", default: false },
    rounds: { type: "string", default: "1" },
    keep: { type: "boolean", default: false },
  },
});
const seconds = Number(opts.seconds);
const levels = opts.connections.split(",").map(Number);
const warmup = Number(opts.warmup);
const rounds = Number(opts.rounds);
if (
  !(seconds > 0) || levels.some((c) => !(c > 0)) || !(warmup >= 0) ||
  !Number.isInteger(rounds) || rounds < 1
) {
  console.error(
    "bench: --seconds, --connections (list), --warmup and --rounds must be positive numbers",
  );
  Deno.exit(2);
}

const generator = opts.load ?? (onPath("wrk") ? "wrk" : "deno");
if (generator !== "wrk" && generator !== "deno") {
  console.error(`bench: --load must be wrk or deno, got ${generator}`);
  Deno.exit(2);
}

async function startRaftlog(dir: string): Promise<System> {
  const { urls, pids, stop } = spawnRaftlog(dir, { app: "kv" });
  const leader = await waitFor("a raftlog leader", async () => {
    for (const u of urls) {
      const s = await (await fetch(`${u}/status`)).json();
      if (s.role === "leader") {
        // The leader must accept writes (its role is applied) before the load starts.
        const r = await fetch(`${u}/commands`, {
          method: "POST",
          body: JSON.stringify({ op: "put", key: "warm", value: "up" }),
        });
        await r.body?.cancel();
        if (r.ok) return u;
      }
    }
    return undefined;
  });
  const bodies = Array.from(
    { length: KEYS },
    (_, i) => JSON.stringify({ op: "put", key: `k${i}`, value: VALUE }),
  );
  return {
    name: "raftlog",
    writeUrl: `${leader}/commands`,
    bodies,
    pids,
    stop,
  };
}

async function startEtcd(dir: string): Promise<System> {
  const etcd = await startSharedEtcd(dir);
  const bodies = Array.from(
    { length: KEYS },
    (_, i) => JSON.stringify({ key: btoa(`k${i}`), value: btoa(VALUE) }),
  );
  return {
    name: "etcd",
    writeUrl: `${etcd.leaderUrl}/v3/kv/put`,
    bodies,
    pids: etcd.pids,
    stop: () => etcd.stop(),
  };
}

async function runLoad(
  gen: string,
  url: string,
  bodies: readonly string[],
  connections: number,
  secs: number,
  tmp: string,
  opts: { method?: string; pids?: readonly number[] } = {},
): Promise<LoadResult> {
  const method = opts.method ?? "POST";
  const cpu0 = cpuSeconds(opts.pids ?? []);
  const ticks0 = cpuTicks();
  let out: Deno.CommandOutput;
  if (gen === "wrk") {
    const script = join(tmp, "load.lua");
    Deno.writeTextFileSync(
      script,
      wrkScript(
        bodies.map((body) => method === "GET" ? {} : { body }),
        method,
        {},
      ),
    );
    out = await new Deno.Command("wrk", {
      args: [
        "-t",
        String(Math.min(2, connections)),
        "-c",
        String(connections),
        "-d",
        `${secs}s`,
        "--timeout",
        "10s",
        "-s",
        script,
        url,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } else {
    const file = join(tmp, "bodies.json");
    Deno.writeTextFileSync(file, JSON.stringify(bodies));
    out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        LOAD,
        "--url",
        url,
        "--method",
        method,
        "--bodies",
        file,
        "--connections",
        String(connections),
        "--seconds",
        String(secs),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  }
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("RESULT ") || l.startsWith("{"));
  if (!out.success || line === undefined) {
    throw new Error(`${gen} failed: ${text}\n${new TextDecoder().decode(out.stderr)}`);
  }
  const r = JSON.parse(line.replace(/^RESULT /, "")) as LoadResult;
  r.rps = r.requests / r.seconds;
  r.cpuMsPerWrite = opts.pids === undefined || r.requests === 0
    ? NaN
    : (cpuSeconds(opts.pids) - cpu0) * 1000 / r.requests;
  r.load = loadAvg();
  r.steal = stealShare(ticks0, cpuTicks());
  return r;
}

async function bench(
  start: (dir: string) => Promise<System>,
  tmp: string,
): Promise<Map<number, LoadResult>> {
  const dir = await Deno.makeTempDir({ dir: tmp, prefix: "data-" });
  const sys = await start(dir);
  const results = new Map<number, LoadResult>();
  try {
    if (warmup > 0) await runLoad(generator, sys.writeUrl, sys.bodies, 32, warmup, tmp);
    for (const c of levels) {
      const r = await runLoad(generator, sys.writeUrl, sys.bodies, c, seconds, tmp, {
        pids: sys.pids,
      });
      results.set(c, r);
      const name = sys.name.padEnd(8);
      console.log(
        `${name} c=${String(c).padStart(3)}  ${fmt(r.rps, 0).padStart(7)} writes/s  ` +
          `p50 ${fmt(r.p50Ms, 2)} ms  p99 ${fmt(r.p99Ms, 2)} ms  ` +
          `cpu ${fmt(r.cpuMsPerWrite, 3)} ms/write  errors ${r.errors}  load ${
            fmt(r.load, 2)
          }  steal ${pct(r.steal)}`,
      );
    }
  } finally {
    await sys.stop();
    if (!opts.keep) await Deno.remove(dir, { recursive: true });
  }
  return results;
}

async function calibrate(tmp: string): Promise<void> {
  // The generators against the cheapest route of one node: how far can each push?
  const dir = await Deno.makeTempDir({ dir: tmp, prefix: "data-" });
  const sys = await startRaftlog(dir);
  try {
    const url = sys.writeUrl.replace(/\/commands$/, "/health");
    for (const gen of ["wrk", "deno"]) {
      if (gen === "wrk" && !onPath("wrk")) continue;
      const r = await runLoad(gen, url, [""], 128, Math.min(seconds, 5), tmp, { method: "GET" });
      console.log(`calibrate ${gen.padEnd(4)} GET /health c=128: ${fmt(r.rps, 0)} req/s`);
    }
  } finally {
    await sys.stop();
  }
}

const tmp = await Deno.makeTempDir({ prefix: "raftlog-bench-" });
try {
  console.log(
    `3-node clusters on loopback, fsync on, one put per request, ${seconds} s per level, ` +
      `load generator: ${generator} (own process), ${navigator.hardwareConcurrency} CPUs; ` +
      `raftlog nodes with GLIBC_TUNABLES=${nodeTunables()}`,
  );
  console.log(
    `deno ${Deno.version.deno}; ${opts["vs-etcd"] ? version("etcd", ["--version"]) : ""}`,
  );
  if (opts.calibrate) await calibrate(tmp);
  const withEtcd = opts["vs-etcd"] && onPath("etcd");
  if (opts["vs-etcd"] && !withEtcd) {
    console.error("bench: --vs-etcd needs etcd on PATH (apt-get install -y etcd-server)");
  }
  // Rounds alternate the systems, so a burst of other work on the machine hits both alike.
  const runs: { raftlog: Map<number, LoadResult>[]; etcd: Map<number, LoadResult>[] } = {
    raftlog: [],
    etcd: [],
  };
  for (let round = 1; round <= rounds; round++) {
    if (rounds > 1) console.log(`round ${round} of ${rounds}`);
    runs.raftlog.push(await bench(startRaftlog, tmp));
    if (withEtcd) runs.etcd.push(await bench(startEtcd, tmp));
  }
  const med = (rs: Map<number, LoadResult>[], c: number, k: keyof LoadResult) =>
    median(rs.map((r) => r.get(c)![k]));
  // The most CPU the hypervisor took in any round at that level.
  const worst = (rs: Map<number, LoadResult>[], c: number) =>
    Math.max(...rs.map((r) => r.get(c)!.steal));
  const rows = levels.map((c) => {
    const r = (k: keyof LoadResult) => med(runs.raftlog, c, k);
    const cells = [String(c), fmt(r("rps"), 0), fmt(r("p50Ms"), 2), fmt(r("p99Ms"), 2)];
    if (withEtcd) {
      const e = (k: keyof LoadResult) => med(runs.etcd, c, k);
      cells.push(
        fmt(e("rps"), 0),
        fmt(e("p50Ms"), 2),
        fmt(e("p99Ms"), 2),
        `${fmt(r("rps") / e("rps"), 2)}x`,
        `${fmt(r("p50Ms") / e("p50Ms"), 2)}x`,
        `${fmt(r("cpuMsPerWrite"), 3)} / ${fmt(e("cpuMsPerWrite"), 3)}`,
        `${pct(worst(runs.raftlog, c))} / ${pct(worst(runs.etcd, c))}`,
      );
    } else {
      cells.push(fmt(r("cpuMsPerWrite"), 3), pct(worst(runs.raftlog, c)));
    }
    return cells;
  });
  const head = ["conns", "raftlog w/s", "p50 ms", "p99 ms"];
  if (withEtcd) {
    head.push(
      "etcd w/s",
      "p50 ms",
      "p99 ms",
      "w/s ratio",
      "p50 ratio",
      "CPU ms/write r / e",
      "steal r / e",
    );
  } else {
    head.push("CPU ms/write", "steal");
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(" | ")} |`;
  console.log("");
  if (rounds > 1) console.log(`medians of ${rounds} rounds`);
  console.log(line(head));
  console.log(`|${widths.map((w) => "-".repeat(w + 1) + ":").join("|")}|`);
  for (const r of rows) console.log(line(r));
  console.log(
    "\nCPU ms/write: user + system CPU of all three nodes per acknowledged write" +
      (withEtcd ? "; ratios are raftlog / etcd (w/s: higher is better; p50: lower)" : "") +
      "\nsteal: share of the machine's CPU time its hypervisor gave elsewhere during a run" +
      " (the most of any round); figures measured with more than a few percent understate it",
  );
} finally {
  if (opts.keep) console.log(`data and logs kept in ${tmp}`);
  else await Deno.remove(tmp, { recursive: true });
}
