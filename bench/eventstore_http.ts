/**
 * The event store over HTTP on a 3-node cluster of `cli.ts serve --app events`
 * processes (FileStorage, fsync on, data in a temp directory on disk):
 *
 * 1. appends: one event per `POST /streams/:stream` (1,000 streams, 100-byte
 *    data, `Expected-Revision: any`) at 1, 32 and 128 connections. With
 *    `--vs-etcd`, a 3-node etcd gets one put per request (`POST /v3/kv/put`,
 *    the same connection counts) in the same run, and the ratio is printed.
 *    With `--rounds N` both systems run N times, alternating, and the
 *    medians are compared.
 * 2. batched: 100 events per request; events/s committed (acknowledged
 *    appends are committed and applied on the leader).
 * 3. catch-up: one subscriber reads `$all` from position 0 over Server-Sent
 *    Events (`GET /subscribe/all`) until `caught-up`; events/s delivered.
 *    Before it, batched appends bring the log to `--catchup-events`.
 *
 * Phases 2 and 3 write gigabytes; they run once, after every append round,
 * on a cluster of their own, so the append comparison never follows them.
 *
 * The load generator is `wrk` (Debian package `wrk`), in its own process.
 * `--cpu-prof DIR` runs the nodes with `deno run --cpu-prof` and writes
 * their profiles to DIR on exit (summarize them with
 * `deno run -A bench/cpuprofile_summary.ts DIR/n1`).
 *
 * Run: `deno task bench-events [--seconds 10] [--connections 1,32,128]
 * [--vs-etcd] [--batch 100] [--batch-connections 16,64] [--catchup-events 500000]
 * [--rounds 1] [--only appends,batched,catchup] [--cpu-prof DIR] [--keep]`
 *
 * @module
 */

import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  cpuSeconds,
  cpuTicks,
  fmt,
  type LoadResult,
  median,
  nodeTunables,
  onPath,
  pct,
  printTable,
  runWrk,
  spawnRaftlog,
  startEtcd,
  stealShare,
  version,
  waitFor,
  type WrkRequest,
} from "./_harness.ts";

const STREAMS = 1000;
const PAD = "x".repeat(60);

const { values: opts } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "1,32,128" },
    "vs-etcd": { type: "boolean", default: false },
    batch: { type: "string", default: "100" },
    "batch-connections": { type: "string", default: "16,64" },
    "catchup-events": { type: "string", default: "500000" },
    rounds: { type: "string", default: "1" },
    only: { type: "string", default: "appends,batched,catchup" },
    warmup: { type: "string", default: "2" },
    "cpu-prof": { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const seconds = Number(opts.seconds);
const levels = opts.connections.split(",").map(Number);
const batch = Number(opts.batch);
const batchLevels = opts["batch-connections"].split(",").map(Number);
const catchupEvents = Number(opts["catchup-events"]);
const rounds = Number(opts.rounds);
const warmup = Number(opts.warmup);
const only = new Set(opts.only.split(","));
if (
  !(seconds > 0) || levels.some((c) => !(c > 0)) || !(batch > 0) ||
  batchLevels.some((c) => !(c > 0)) ||
  !(catchupEvents >= 0) || !Number.isInteger(rounds) || rounds < 1 || !(warmup >= 0)
) {
  console.error("bench: numeric options must be positive numbers");
  Deno.exit(2);
}
if (!onPath("wrk")) {
  console.error("bench: needs wrk on PATH (apt-get install -y wrk)");
  Deno.exit(2);
}

/** Event data of about 100 bytes of JSON. */
function eventJson(i: number, j: number): string {
  return JSON.stringify({
    type: "Deposited",
    data: { account: `acct-${i % STREAMS}`, amount: (i * 7 + j) % 1000, note: PAD },
  });
}

function singleRequests(n: number): WrkRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    path: `/streams/bench-${i % STREAMS}`,
    body: eventJson(i, 0),
  }));
}

function batchRequests(n: number, size: number): WrkRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    path: `/streams/batch-${i % STREAMS}`,
    body: `[${Array.from({ length: size }, (_, j) => eventJson(i, j)).join(",")}]`,
  }));
}

interface EventsCluster {
  readonly urls: readonly string[];
  readonly pids: readonly number[];
  /** Node log files. */
  readonly logs: readonly string[];
  /** The leader now (it accepts an append). */
  leader(): Promise<string>;
  stop(): Promise<void>;
}

async function startEvents(dir: string, profDir: string | undefined): Promise<EventsCluster> {
  const ids = ["n1", "n2", "n3"];
  const { urls, pids, stop } = spawnRaftlog(dir, {
    app: "events",
    // Role and leader changes go to the node logs (kept with --keep).
    logLevel: "info",
    denoFlags: (id) =>
      profDir !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${join(profDir, id)}`] : [],
  });
  const leader = () =>
    waitFor("a raftlog leader", async () => {
      for (const u of urls) {
        const s = await (await fetch(`${u}/status`)).json();
        if (s.role === "leader") {
          // The leader must accept appends before the load starts.
          const r = await fetch(`${u}/streams/warmup`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: eventJson(0, 0),
          });
          await r.body?.cancel();
          if (r.ok) return u;
        }
      }
      return undefined;
    });
  await leader();
  return {
    urls,
    pids,
    logs: ids.map((id) => join(dir, `${id}.log`)),
    leader,
    stop,
  };
}

function line(name: string, c: number, r: LoadResult, unit = "req/s"): void {
  console.log(
    `${name.padEnd(16)} c=${String(c).padStart(3)}  ${fmt(r.rps, 0).padStart(7)} ${unit}  ` +
      `p50 ${fmt(r.p50Ms, 2)} ms  p99 ${fmt(r.p99Ms, 2)} ms  ` +
      `cpu ${fmt(r.cpuMsPerRequest, 3)} ms/req  errors ${r.errors}  load ${fmt(r.load, 2)}  steal ${
        pct(r.steal)
      }`,
  );
}

async function appends(
  baseUrl: string,
  pids: readonly number[],
  name: string,
  requests: WrkRequest[],
  tmp: string,
): Promise<Map<number, LoadResult>> {
  if (warmup > 0) await runWrk(baseUrl, requests, { connections: 32, seconds: warmup, tmp });
  const out = new Map<number, LoadResult>();
  for (const c of levels) {
    const r = await runWrk(baseUrl, requests, { connections: c, seconds, tmp, pids });
    out.set(c, r);
    line(name, c, r);
  }
  return out;
}

/** Highest position on `url` (-1 when empty). */
async function lastPosition(url: string): Promise<number> {
  const res = await fetch(`${url}/all?direction=backward&limit=1&consistency=leader`);
  const body = await res.json() as { events: { position: number }[] };
  return body.events[0]?.position ?? -1;
}

/**
 * Appends batches with a fetch pool until the cluster holds `target` events.
 * Followers forward appends to the leader, so a leader change only costs
 * retries.
 */
async function fill(es: EventsCluster, target: number, size: number): Promise<void> {
  const bodies = batchRequests(64, size);
  let have = (await lastPosition(await es.leader())) + 1;
  let next = 0;
  const worker = async (w: number) => {
    while (have < target) {
      const r = bodies[next++ % bodies.length]!;
      const url = es.urls[w % es.urls.length]!;
      const res = await fetch(`${url}${r.path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: r.body,
      }).catch(() => undefined);
      await res?.body?.cancel();
      if (res?.ok) have += size;
      else await new Promise((ok) => setTimeout(ok, 50));
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
}

/** How many times a node became leader, per the node logs so far. */
function elections(es: EventsCluster): number {
  let n = 0;
  for (const f of es.logs) {
    const text = Deno.readTextFileSync(f);
    n += text.split("\n").filter((l) => l.includes('"role changed"') && l.includes('"leader"'))
      .length;
  }
  return n;
}

/**
 * Reads `$all` over SSE from position 0 until `caught-up`; counts events by
 * their `id:` lines. Resolves with the count and the seconds it took.
 */
async function catchUp(
  url: string,
): Promise<{ events: number; seconds: number; bytes: number; caughtUpAt: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/subscribe/all?from=0&consistency=local`, {
    headers: { accept: "text/event-stream" },
  });
  if (!res.ok || res.body === null) throw new Error(`subscribe: HTTP ${res.status}`);
  const decoder = new TextDecoder();
  const MARK = "\nid: ";
  let events = 0, bytes = 0, caughtUpAt = -1;
  // The end of the text before, so a marker split across chunks is found; "\n" at the start
  // makes the first event's "id: " a marker too.
  let carry = "\n";
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("subscription ended before caught-up");
      bytes += value.length;
      const text = carry + decoder.decode(value, { stream: true });
      for (let i = text.indexOf(MARK); i >= 0; i = text.indexOf(MARK, i + 1)) {
        if (i + MARK.length > carry.length) events++; // Not counted with the previous chunk.
      }
      const m = /event: caught-up\ndata: \{"position":(-?\d+)\}/.exec(text);
      if (m !== null) {
        caughtUpAt = Number(m[1]);
        break;
      }
      carry = text.slice(-64);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return { events, seconds: (performance.now() - t0) / 1000, bytes, caughtUpAt };
}

const tmp = await Deno.makeTempDir({ prefix: "raftlog-bench-es-" });
const profDir = opts["cpu-prof"] === undefined ? undefined : resolve(opts["cpu-prof"]);
try {
  const withEtcd = opts["vs-etcd"] && onPath("etcd") && only.has("appends");
  if (opts["vs-etcd"] && !onPath("etcd")) {
    console.error("bench: --vs-etcd needs etcd on PATH (apt-get install -y etcd-server)");
  }
  console.log(
    `Event store over HTTP: 3-node cluster on loopback, fsync on, ${seconds} s per level, ` +
      `wrk (own process), ${navigator.hardwareConcurrency} CPUs; deno ${Deno.version.deno}; ` +
      `nodes with GLIBC_TUNABLES=${nodeTunables()}` +
      (withEtcd ? `; ${version("etcd", ["--version"])}` : ""),
  );
  const single = singleRequests(2000);
  const etcdPuts: WrkRequest[] = Array.from({ length: 1000 }, (_, i) => ({
    path: "/v3/kv/put",
    body: JSON.stringify({ key: btoa(`k${i}`), value: btoa(PAD.slice(0, 32)) }),
  }));
  const runs = { raftlog: [] as Map<number, LoadResult>[], etcd: [] as Map<number, LoadResult>[] };
  const batched = new Map<number, LoadResult>();
  let caught:
    | { events: number; seconds: number; bytes: number; from: string; steal: number }
    | undefined;
  // Elections under load (a saturated leader's heartbeats come late) show up as errors.
  const electionsNote = (es: EventsCluster, before: number) => {
    const n = elections(es) - before;
    if (n > 0) console.log(`  (${n} leader election(s) during this run; see the node logs)`);
  };
  const heavy = only.has("batched") || only.has("catchup");
  // Append rounds first, raftlog then etcd in each, so both meet the machine in the same
  // state; the batched and catch-up phases write gigabytes, on a cluster of their own after.
  for (let round = 1; only.has("appends") && round <= rounds; round++) {
    if (rounds > 1) console.log(`round ${round} of ${rounds}`);
    const dir = await Deno.makeTempDir({ dir: tmp, prefix: "events-" });
    const es = await startEvents(dir, round === rounds && !heavy ? profDir : undefined);
    try {
      const e0 = elections(es);
      runs.raftlog.push(await appends(await es.leader(), es.pids, "raftlog append", single, tmp));
      electionsNote(es, e0);
    } finally {
      await es.stop();
      if (!opts.keep) await Deno.remove(dir, { recursive: true });
    }
    if (withEtcd) {
      const edir = await Deno.makeTempDir({ dir: tmp, prefix: "etcd-" });
      const etcd = await startEtcd(edir);
      try {
        runs.etcd.push(await appends(etcd.leaderUrl, etcd.pids, "etcd put", etcdPuts, tmp));
      } finally {
        await etcd.stop();
        if (!opts.keep) await Deno.remove(edir, { recursive: true });
      }
    }
  }
  if (heavy) {
    const dir = await Deno.makeTempDir({ dir: tmp, prefix: "events-" });
    const es = await startEvents(dir, profDir);
    try {
      if (only.has("batched")) {
        const reqs = batchRequests(200, batch);
        for (const c of batchLevels) {
          const url = await es.leader();
          const e0 = elections(es);
          await runWrk(url, reqs, { connections: c, seconds: 1, tmp });
          const r = await runWrk(url, reqs, { connections: c, seconds, tmp, pids: es.pids });
          batched.set(c, r);
          line(`raftlog batch${batch}`, c, r);
          electionsNote(es, e0);
        }
      }
      if (only.has("catchup")) {
        await fill(es, catchupEvents, batch);
        const leaderUrl = await es.leader();
        const followerUrl = es.urls.find((u) => u !== leaderUrl)!;
        const total = (await lastPosition(leaderUrl)) + 1;
        // The follower must have applied everything before the read starts.
        await waitFor("the follower to catch up", async () => {
          const res = await fetch(
            `${followerUrl}/all?direction=backward&limit=1&consistency=local`,
          );
          const b = await res.json() as { events: { position: number }[] };
          return (b.events[0]?.position ?? -1) + 1 >= total ? true : undefined;
        }, 120_000);
        const cpu0 = cpuSeconds(es.pids), self0 = cpuSeconds([Deno.pid]), ticks0 = cpuTicks();
        const r = await catchUp(followerUrl);
        const steal = stealShare(ticks0, cpuTicks());
        const subscriberCpu = cpuSeconds([Deno.pid]) - self0;
        if (r.events !== r.caughtUpAt + 1 || r.events < total) {
          throw new Error(
            `catch-up delivered ${r.events} events, caught up at position ${r.caughtUpAt}, ` +
              `the log held ${total} before`,
          );
        }
        caught = { ...r, from: "follower", steal };
        console.log(
          `raftlog catch-up  ${fmt(r.events, 0)} events in ${fmt(r.seconds, 2)} s: ` +
            `${fmt(r.events / r.seconds, 0)} events/s, ${fmt(r.bytes / r.seconds / 1e6, 1)} MB/s ` +
            `(CPU: nodes ${fmt(cpuSeconds(es.pids) - cpu0, 2)} s, subscriber ${
              fmt(subscriberCpu, 2)
            } s)  steal ${pct(steal)}`,
        );
      }
    } finally {
      await es.stop();
      if (!opts.keep) await Deno.remove(dir, { recursive: true });
    }
  }

  console.log("");
  if (only.has("appends")) {
    const med = (rs: Map<number, LoadResult>[], c: number, k: keyof LoadResult) =>
      median(rs.map((r) => r.get(c)![k]));
    // The most CPU the hypervisor took in any round at that level.
    const worst = (rs: Map<number, LoadResult>[], c: number) =>
      Math.max(...rs.map((r) => r.get(c)!.steal));
    console.log(
      `Single-event appends (POST /streams/:stream)` + (withEtcd ? " vs etcd puts" : "") +
        (rounds > 1 ? `, medians of ${rounds} rounds` : ""),
    );
    const head = ["conns", "raftlog ev/s", "p50 ms", "p99 ms"];
    if (withEtcd) {
      head.push("etcd puts/s", "p50 ms", "p99 ms", "ratio", "CPU ms/req r / e", "steal r / e");
    } else head.push("CPU ms/req", "steal");
    printTable(
      head,
      levels.map((c) => {
        const r = (k: keyof LoadResult) => med(runs.raftlog, c, k);
        const cells = [String(c), fmt(r("rps"), 0), fmt(r("p50Ms"), 2), fmt(r("p99Ms"), 2)];
        if (withEtcd) {
          const e = (k: keyof LoadResult) => med(runs.etcd, c, k);
          cells.push(
            fmt(e("rps"), 0),
            fmt(e("p50Ms"), 2),
            fmt(e("p99Ms"), 2),
            `${fmt(r("rps") / e("rps"), 2)}x`,
            `${fmt(r("cpuMsPerRequest"), 3)} / ${fmt(e("cpuMsPerRequest"), 3)}`,
            `${pct(worst(runs.raftlog, c))} / ${pct(worst(runs.etcd, c))}`,
          );
        } else cells.push(fmt(r("cpuMsPerRequest"), 3), pct(worst(runs.raftlog, c)));
        return cells;
      }),
    );
    if (withEtcd) {
      const at = Math.max(...levels);
      const ratio = med(runs.raftlog, at, "rps") / med(runs.etcd, at, "rps");
      console.log(`ratio at ${at} connections: ${fmt(ratio, 2)}x (target >= 2x)`);
    }
    console.log("");
  }
  if (batched.size > 0 || caught !== undefined) {
    const rows: string[][] = [];
    for (const [c, r] of batched) {
      rows.push([
        `batched appends (${batch} events/request, ${c} conns)`,
        fmt(r.rps * batch, 0),
        "100,000",
        `p50 ${fmt(r.p50Ms, 1)} ms, p99 ${fmt(r.p99Ms, 1)} ms, ` +
        `${fmt(r.cpuMsPerRequest / batch * 1000, 1)} µs CPU/event (3 nodes), steal ${pct(r.steal)}`,
      ]);
    }
    if (caught !== undefined) {
      rows.push([
        `$all catch-up over SSE, 1 subscriber (${caught.from})`,
        fmt(caught.events / caught.seconds, 0),
        "200,000",
        `${fmt(caught.events, 0)} events, ${fmt(caught.bytes / 1e6, 0)} MB in ${
          fmt(caught.seconds, 2)
        } s, steal ${pct(caught.steal)}`,
      ]);
    }
    printTable(["", "events/s", "target", "notes"], rows);
  }
  console.log(
    "\nCPU ms/req: user + system CPU of all three nodes per acknowledged request" +
      (withEtcd ? "; ratio is raftlog appends/s over etcd puts/s" : "") +
      "\nsteal: share of the machine's CPU time its hypervisor gave elsewhere during a run" +
      " (the most of any round); figures measured with more than a few percent understate it",
  );
  if (profDir !== undefined) console.log(`CPU profiles of the last round's nodes in ${profDir}`);
} finally {
  if (opts.keep) console.log(`data and logs kept in ${tmp}`);
  else await Deno.remove(tmp, { recursive: true });
}
