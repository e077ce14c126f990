/**
 * Helpers of the process-level benchmarks: ports, waiting, child processes
 * with logs, CPU accounting, a 3-node etcd, `wrk` runs and tables.
 *
 * @module
 */

import { hugePagesEnv } from "../cli/huge_pages.ts";
import { join } from "node:path";

/**
 * Loopback host every benchmark cluster listens on.
 *
 * @example
 * ```ts
 * import { HOST } from "./_harness.ts";
 * console.assert(HOST === "127.0.0.1");
 * ```
 */
export const HOST = "127.0.0.1";

/**
 * Figures of one load run.
 *
 * @example
 * ```ts
 * import type { LoadResult } from "./_harness.ts";
 * const perSecond = (r: LoadResult) => r.requests / r.seconds;
 * ```
 */
export interface LoadResult {
  /** Successful (2xx) requests. */
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU milliseconds (user + system, all nodes) per successful request; NaN when unknown. */
  cpuMsPerRequest: number;
  /** 1-minute load average when the run ended. */
  load: number;
  /** Share (0-1) of the machine's CPU time taken by the hypervisor during the run; NaN when unknown. */
  steal: number;
}

/** Ports {@link freePort} handed out: the system may offer a closed one again at once. */
const handedOut = new Set<number>();

/**
 * A free loopback port (closed again before use), never one this process was
 * given before: a cluster's ports are drawn one after another, and two equal
 * ones would leave a node unable to listen.
 *
 * @example
 * ```ts
 * import { freePort } from "./_harness.ts";
 * const a = freePort(), b = freePort();
 * console.assert(a > 0 && b > 0 && a !== b);
 * ```
 */
export function freePort(): number {
  for (;;) {
    const l = Deno.listen({ hostname: HOST, port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

/**
 * Polls `f` until it yields a value, failing after `ms`.
 *
 * @example
 * ```ts
 * import { waitFor } from "./_harness.ts";
 * console.assert((await waitFor("a value", () => Promise.resolve(1))) === 1);
 * ```
 */
export async function waitFor<T>(
  what: string,
  f: () => Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`bench: timed out waiting for ${what}`);
}

/**
 * Whether `cmd` is on PATH.
 *
 * @example
 * ```ts
 * import { onPath } from "./_harness.ts";
 * if (!onPath("wrk")) console.log("install wrk to run the HTTP benchmarks");
 * ```
 */
export function onPath(cmd: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/**
 * First line of `cmd args` (a version string), or "?".
 *
 * @example
 * ```ts
 * import { version } from "./_harness.ts";
 * console.log(version("etcd", ["--version"]));
 * ```
 */
export function version(cmd: string, args: string[]): string {
  try {
    const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).outputSync();
    return new TextDecoder().decode(out.stdout).split("\n")[0]!.trim();
  } catch {
    return "?";
  }
}

/**
 * Spawns a process with stdout and stderr appended to `logFile`.
 *
 * @example
 * ```ts
 * import { spawnLogged, stopAll } from "./_harness.ts";
 * const dir = await Deno.makeTempDir();
 * const child = spawnLogged(Deno.execPath(), ["--version"], `${dir}/deno.log`);
 * await stopAll([child]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function spawnLogged(
  cmd: string,
  args: string[],
  logFile: string,
  env: Record<string, string> = {},
): Deno.ChildProcess {
  const child = new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const file = Deno.openSync(logFile, { create: true, append: true });
  const write = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) file.writeSync(chunk);
  };
  Promise.all([write(child.stdout), write(child.stderr)]).finally(() => file.close());
  return child;
}

/**
 * The `GLIBC_TUNABLES` raftlog nodes run with (see cli/huge_pages.ts), for
 * benchmark headers.
 *
 * @example
 * ```ts
 * import { nodeTunables } from "./_harness.ts";
 * console.log(`nodes: GLIBC_TUNABLES=${nodeTunables()}`);
 * ```
 */
export function nodeTunables(): string {
  const current = Deno.env.get("GLIBC_TUNABLES");
  return hugePagesEnv(current).GLIBC_TUNABLES ?? current ?? "";
}

/**
 * SIGTERM, then SIGKILL after 10 s; resolves when all exited.
 *
 * @example
 * ```ts
 * import { stopAll } from "./_harness.ts";
 * await stopAll([]);
 * ```
 */
export async function stopAll(children: Deno.ChildProcess[]): Promise<void> {
  for (const c of children) {
    try {
      c.kill("SIGTERM");
    } catch {
      // Already exited.
    }
  }
  await Promise.all(children.map(async (c) => {
    const t = setTimeout(() => {
      try {
        c.kill("SIGKILL");
      } catch {
        // Already exited.
      }
    }, 10_000);
    await c.status;
    clearTimeout(t);
  }));
}

/**
 * CPU seconds (user + system) used so far by `pids`; NaN where /proc is not available.
 *
 * @example
 * ```ts
 * import { cpuSeconds } from "./_harness.ts";
 * const used = cpuSeconds([Deno.pid]);
 * console.assert(Number.isNaN(used) || used >= 0);
 * ```
 */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  try {
    for (const pid of pids) {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
    }
  } catch {
    return NaN;
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** The machine's CPU clock ticks from /proc/stat: all of them, and those stolen by the hypervisor. */
export interface CpuTicks {
  readonly total: number;
  readonly steal: number;
}

/**
 * The machine's CPU ticks so far, or undefined where /proc/stat is not available.
 * On a virtual machine, `steal` counts the time its CPUs were ready to run
 * but the host ran something else: figures measured while it grows understate
 * the machine.
 *
 * @example
 * ```ts
 * import { cpuTicks, stealShare } from "./_harness.ts";
 * const before = cpuTicks();
 * const share = stealShare(before, cpuTicks());
 * console.assert(Number.isNaN(share) || (share >= 0 && share <= 1));
 * ```
 */
export function cpuTicks(): CpuTicks | undefined {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
    return { total: f.reduce((a, b) => a + b, 0), steal: f[7]! };
  } catch {
    return undefined;
  }
}

/** Share (0-1) of the CPU ticks between `a` and `b` that were stolen; NaN when unknown. */
export function stealShare(a: CpuTicks | undefined, b: CpuTicks | undefined): number {
  if (a === undefined || b === undefined || b.total <= a.total) return NaN;
  return (b.steal - a.steal) / (b.total - a.total);
}

/**
 * The 1-minute load average, or NaN.
 *
 * @example
 * ```ts
 * import { loadAvg } from "./_harness.ts";
 * console.log(`load ${loadAvg()}`);
 * ```
 */
export function loadAvg(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

/**
 * Median of `xs`.
 *
 * @example
 * ```ts
 * import { median } from "./_harness.ts";
 * console.assert(median([3, 1, 2]) === 2 && median([1, 2, 3, 4]) === 2.5);
 * ```
 */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * `n` with `digits` decimals and thousands separators.
 *
 * @example
 * ```ts
 * import { fmt } from "./_harness.ts";
 * console.assert(fmt(12345.678, 1) === "12,345.7");
 * ```
 */
export function fmt(n: number, digits: number): string {
  return n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/**
 * A share (0-1) as a percentage with one decimal, or "?" when unknown.
 *
 * @example
 * ```ts
 * import { pct } from "./_harness.ts";
 * console.assert(pct(0.1234) === "12.3%" && pct(NaN) === "?");
 * ```
 */
export function pct(share: number): string {
  return Number.isNaN(share) ? "?" : `${(share * 100).toFixed(1)}%`;
}

/**
 * Prints a right-aligned Markdown table.
 *
 * @example
 * ```ts
 * import { printTable } from "./_harness.ts";
 * printTable(["conns", "req/s"], [["1", "400"], ["128", "4,000"]]);
 * ```
 */
export function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(" | ")} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => "-".repeat(w + 1) + ":").join("|")}|`);
  for (const r of rows) console.log(line(r));
}

/**
 * A request `wrk` sends: path and body.
 *
 * @example
 * ```ts
 * import type { WrkRequest } from "./_harness.ts";
 * const r: WrkRequest = { path: "/streams/s-1", body: '{"type":"T"}' };
 * ```
 */
export interface WrkRequest {
  readonly path: string;
  readonly body: string;
}

/**
 * A wrk Lua script sending `requests` in turn with `method` and `headers`
 * (a request without a path goes to the URL's, one without a body has
 * none), printing a `RESULT {...}` line. Only 2xx answers count as requests.
 * Each request's text is built once, when a wrk thread starts, not per
 * request: the generator shares the machine with the cluster it measures,
 * so what it spends is taken from the systems compared.
 *
 * @example
 * ```ts
 * import { wrkScript } from "./_harness.ts";
 * console.assert(wrkScript([{ body: "{}" }], "POST", {}).includes("init = function"));
 * ```
 */
export function wrkScript(
  requests: readonly { readonly path?: string; readonly body?: string }[],
  method: string,
  headers: Record<string, string>,
): string {
  const lua = (v: string | undefined) => v === undefined ? "nil" : `[==[${v}]==]`;
  const lines = requests.map((r) => `  {${lua(r.path)}, ${lua(r.body)}},`).join("\n");
  const hdrs = Object.entries({ "Content-Type": "application/json", ...headers })
    .map(([k, v]) => `wrk.headers["${k}"] = "${v}"`).join("\n");
  return `local reqs = {
${lines}
}
local formatted = {}
wrk.method = "${method}"
${hdrs}
init = function(args)
  for k, r in ipairs(reqs) do formatted[k] = wrk.format(nil, r[1], nil, r[2]) end
end
local i = 0
request = function()
  i = i + 1
  return formatted[(i % #formatted) + 1]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"errors":%d,"seconds":%f,"p50Ms":%f,"p99Ms":%f}\\n',
    summary.requests - e.status, e.connect + e.read + e.write + e.timeout + e.status,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
`;
}

/**
 * Runs wrk against `baseUrl` for `seconds` with `connections`; CPU of `pids` is accounted.
 *
 * @example
 * ```ts
 * import { runWrk } from "./_harness.ts";
 * const run = (url: string, tmp: string) =>
 *   runWrk(url, [{ path: "/streams/s", body: '{"type":"T"}' }], { connections: 32, seconds: 5, tmp });
 * ```
 */
export async function runWrk(
  baseUrl: string,
  requests: readonly WrkRequest[],
  opts: {
    connections: number;
    seconds: number;
    tmp: string;
    pids?: readonly number[];
    headers?: Record<string, string>;
  },
): Promise<LoadResult> {
  const script = join(opts.tmp, `load-${crypto.randomUUID()}.lua`);
  Deno.writeTextFileSync(script, wrkScript(requests, "POST", opts.headers ?? {}));
  const cpu0 = cpuSeconds(opts.pids ?? []);
  const ticks0 = cpuTicks();
  const out = await new Deno.Command("wrk", {
    args: [
      "-t",
      String(Math.min(2, opts.connections)),
      "-c",
      String(opts.connections),
      "-d",
      `${opts.seconds}s`,
      "--timeout",
      "10s",
      "-s",
      script,
      baseUrl,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  Deno.removeSync(script);
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("RESULT "));
  if (!out.success || line === undefined) {
    throw new Error(`wrk failed: ${text}\n${new TextDecoder().decode(out.stderr)}`);
  }
  const r = JSON.parse(line.slice("RESULT ".length)) as LoadResult;
  r.rps = r.requests / r.seconds;
  r.cpuMsPerRequest = opts.pids === undefined || r.requests === 0
    ? NaN
    : (cpuSeconds(opts.pids) - cpu0) * 1000 / r.requests;
  r.load = loadAvg();
  r.steal = stealShare(ticks0, cpuTicks());
  return r;
}

/**
 * A running 3-node etcd.
 *
 * @example
 * ```ts
 * import type { EtcdCluster } from "./_harness.ts";
 * const putUrl = (e: EtcdCluster) => `${e.leaderUrl}/v3/kv/put`;
 * ```
 */
export interface EtcdCluster {
  /** Client URL of the leader. */
  readonly leaderUrl: string;
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

/**
 * Starts a 3-node etcd on loopback (fsync on, as etcd always does) with data under `dir`.
 *
 * @example
 * ```ts
 * import { onPath, startEtcd } from "./_harness.ts";
 * if (onPath("etcd") && Deno.env.get("RUN_ETCD") === "1") {
 *   const dir = await Deno.makeTempDir();
 *   const etcd = await startEtcd(dir);
 *   await etcd.stop();
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function startEtcd(dir: string): Promise<EtcdCluster> {
  const names = ["e1", "e2", "e3"];
  const client = names.map(() => `http://${HOST}:${freePort()}`);
  const peer = names.map(() => `http://${HOST}:${freePort()}`);
  const initial = names.map((n, i) => `${n}=${peer[i]}`).join(",");
  const children = names.map((n, i) =>
    spawnLogged("etcd", [
      "--name",
      n,
      "--data-dir",
      join(dir, n),
      "--listen-client-urls",
      client[i]!,
      "--advertise-client-urls",
      client[i]!,
      "--listen-peer-urls",
      peer[i]!,
      "--initial-advertise-peer-urls",
      peer[i]!,
      "--initial-cluster",
      initial,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      "bench",
      "--logger",
      "zap",
      "--log-level",
      "warn",
    ], join(dir, `${n}.log`))
  );
  const leaderUrl = await waitFor("an etcd leader", async () => {
    for (const u of client) {
      const res = await fetch(`${u}/v3/maintenance/status`, { method: "POST", body: "{}" });
      const s = await res.json() as { leader?: string; header?: { member_id?: string } };
      if (s.leader !== undefined && s.leader !== "0" && s.leader === s.header?.member_id) {
        const r = await fetch(`${u}/v3/kv/put`, {
          method: "POST",
          body: JSON.stringify({ key: btoa("warm"), value: btoa("up") }),
        });
        await r.body?.cancel();
        if (r.ok) return u;
      }
    }
    return undefined;
  }).catch(async (e) => {
    // Say why (a port taken, a crash): the directory goes when the benchmark ends.
    await stopAll(children);
    const tails = names.map((n) => {
      const log = Deno.readTextFileSync(join(dir, `${n}.log`)).trimEnd().split("\n");
      return `${n}.log:\n  ${log.slice(-5).join("\n  ")}`;
    });
    throw new Error(`${(e as Error).message}\n${tails.join("\n")}`);
  });
  return { leaderUrl, pids: children.map((c) => c.pid), stop: () => stopAll(children) };
}

/** Three `cli.ts serve` processes on loopback; the caller waits for a leader. */
export interface RaftlogProcesses {
  readonly urls: readonly string[];
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

/**
 * Starts a 3-node raftlog cluster of `cli.ts serve` processes (fsync on) with
 * data and logs under `dir`.
 *
 * @example
 * ```ts ignore
 * import { spawnRaftlog } from "./_harness.ts";
 * const cluster = spawnRaftlog(await Deno.makeTempDir(), { app: "kv" });
 * await cluster.stop();
 * ```
 */
export function spawnRaftlog(
  dir: string,
  opts: { app: "kv" | "events"; logLevel?: string; denoFlags?: (id: string) => string[] },
): RaftlogProcesses {
  const root = new URL("..", import.meta.url).pathname;
  const ids = ["n1", "n2", "n3"];
  const urls = ids.map(() => `http://${HOST}:${freePort()}`);
  const peers = ids.map((id, i) => `${id}=${urls[i]}`).join(",");
  const children = ids.map((id) =>
    spawnLogged(
      Deno.execPath(),
      [
        "run",
        "-A",
        ...(opts.denoFlags?.(id) ?? []),
        "--config",
        join(root, "deno.json"),
        join(root, "cli.ts"),
        "serve",
        "--app",
        opts.app,
        "--id",
        id,
        "--peers",
        peers,
        "--data",
        join(dir, id),
        "--secret",
        "bench",
        "--cluster-id",
        "bench",
        "--log-level",
        opts.logLevel ?? "warn",
      ],
      join(dir, `${id}.log`),
      hugePagesEnv(Deno.env.get("GLIBC_TUNABLES")),
    )
  );
  return { urls, pids: children.map((c) => c.pid), stop: () => stopAll(children) };
}
