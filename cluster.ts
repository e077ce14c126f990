/**
 * `deno task cluster`: a local cluster of `raftlog serve` processes, one per
 * node, on consecutive loopback ports. The first run creates the cluster
 * (a cluster id and a secret, kept in the data directory); later runs on the
 * same directory resume it with its data. Ctrl-C stops every node cleanly.
 *
 * ```sh
 * deno task cluster [--nodes 3] [--base-port 7001] [--data ./data/cluster] [--app events|kv]
 *                   [--log-level info] [--cors-origins http://localhost:5173]
 * ```
 *
 * The application (`--app`, default `events`: the event store) is kept with
 * the cluster, so a resumed cluster runs the one its log was written for.
 * `--restore FILE` creates the cluster from a backup (`raftlog backup`):
 * every node starts from its state.
 *
 * A resumed cluster starts only the nodes that are still members, as the
 * membership committed in their data directories has it: a node removed
 * since (`raftlog leave`) is not started, and the summary lists the members
 * that joined since (`raftlog join`), which run without this script.
 *
 * Nodes start with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` added to the
 * environment (see cli/huge_pages.ts) unless it already sets that tunable.
 *
 * @module
 */

import { leaderOf } from "./cli/cluster_leader.ts";
import { hugePagesEnv } from "./cli/huge_pages.ts";
import { claimDataDir } from "./cli/identity.ts";
import {
  type ClusterNode,
  memberTable,
  planResume,
  type ResumePlan,
} from "./cli/cluster_members.ts";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BackupFile, readBackup, restoreDataDir } from "./raft/storage/backup_file.ts";
import { DirLock } from "./raft/storage/dir_lock.ts";
import { parseCorsOrigins } from "./transport/cors.ts";
import { MemberClient } from "./transport/member_client.ts";
import type { Member } from "./transport/member_routes.ts";

interface ClusterFile {
  readonly clusterId: string;
  readonly host: string;
  readonly basePort: number;
  readonly nodes: number;
  /** Application on the log (`raftlog serve --app`); clusters from before it was kept ran `kv`. */
  readonly app?: string;
}

interface NodeProc {
  readonly id: string;
  readonly url: string;
  readonly child: Deno.ChildProcess;
  exited: boolean;
}

const CONFIG_FILE = "cluster.json";
const SECRET_FILE = "secret";
const HOST = "127.0.0.1";

const APPS = ["events", "kv"];
const LOG_LEVELS = ["debug", "info", "warn", "error"];
const DEFAULT_APP = "events";

const USAGE =
  `Usage: deno task cluster [--nodes N] [--base-port P] [--data DIR] [--app A] [--log-level L]
                          [--cors-origins LIST] [--restore FILE]

  --nodes N        number of nodes (default 3)
  --base-port P    node i listens on P + i - 1 (default 7001)
  --data DIR       cluster directory (default ./data/cluster); a second run resumes it
  --app A          application on the log: events (the event store) or kv (default events;
                   kept with the cluster, so a resumed cluster runs the app it was created with)
  --log-level L    node log level: debug, info, warn, error (default info)
  --cors-origins LIST
                   origins whose browser pages may call the nodes (comma-separated, or *)
  --restore FILE   create the cluster from a backup (raftlog backup): a new --data only;
                   give the --app the backup was taken with
  --json-logs      print node logs as raw JSON lines`;

function fail(message: string, code = 1): never {
  console.error(`cluster: ${message}`);
  Deno.exit(code);
}

function randomToken(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    fail(`cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

function intOption(name: string, v: string | undefined, min: number, max: number) {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) {
    fail(`--${name} must be an integer from ${min} to ${max}, got "${v}"`, 2);
  }
  return n;
}

/** Loads the cluster of `dir`, or creates it; flags that contradict a stored cluster are errors. */
function loadOrCreate(
  dir: string,
  want: { nodes: number | undefined; basePort: number | undefined; app: string | undefined },
): { cfg: ClusterFile; secretFile: string; created: boolean } {
  const cfgPath = join(dir, CONFIG_FILE);
  const secretFile = join(dir, SECRET_FILE);
  const read = readJson(cfgPath) as ClusterFile | undefined;
  const stored = read === undefined ? undefined : { ...read, app: read.app ?? "kv" };
  if (stored !== undefined) {
    if (want.app !== undefined && want.app !== stored.app) {
      fail(
        `${dir} holds a cluster running the ${stored.app} app; --app ${want.app} contradicts it. ` +
          `Drop the option to resume, or pass a new --data directory.`,
        2,
      );
    }
    for (const [k, v] of Object.entries({ nodes: want.nodes, basePort: want.basePort })) {
      if (v !== undefined && v !== stored[k as "nodes" | "basePort"]) {
        fail(
          `${dir} holds a cluster with ${stored.nodes} nodes on ports ${stored.basePort}..${
            stored.basePort + stored.nodes - 1
          }; --${k === "basePort" ? "base-port" : k} ${v} contradicts it. ` +
            `Drop the option to resume, or pass a new --data directory.`,
          2,
        );
      }
    }
    try {
      if (Deno.readTextFileSync(secretFile).trim() === "") throw new Error("empty");
    } catch {
      fail(`${secretFile} is missing or empty; the cluster cannot be resumed without it`);
    }
    return { cfg: stored, secretFile, created: false };
  }
  const cfg: ClusterFile = {
    clusterId: `raftlog-${randomToken(4)}`,
    host: HOST,
    basePort: want.basePort ?? 7001,
    nodes: want.nodes ?? 3,
    app: want.app ?? DEFAULT_APP,
  };
  Deno.writeTextFileSync(secretFile, randomToken(24) + "\n", { mode: 0o600 });
  Deno.writeTextFileSync(cfgPath, JSON.stringify(cfg, null, 2) + "\n");
  return { cfg, secretFile, created: true };
}

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: HOST, port }).close();
    return true;
  } catch {
    return false;
  }
}

/** Renders a node's JSON log line compactly: `12:00:01.123 info leader known leader=n2 term=1`. */
function renderLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof o !== "object" || o === null || typeof o.msg !== "string") return line;
  const time = typeof o.ts === "string" ? o.ts.slice(11, 23) : "";
  const fields = typeof o.fields === "object" && o.fields !== null
    ? Object.entries(o.fields).map(([k, v]) =>
      `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`
    )
    : [];
  return [time, String(o.level ?? ""), o.msg, ...fields].filter((s) => s !== "").join(" ");
}

async function pipeLines(
  stream: ReadableStream<Uint8Array>,
  prefix: string,
  render: (line: string) => string,
): Promise<void> {
  const enc = new TextEncoder();
  let rest = "";
  const out = (line: string) => Deno.stdout.writeSync(enc.encode(`${prefix} ${render(line)}\n`));
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    for (const p of parts) out(p);
  }
  if (rest !== "") out(rest);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      strict: true,
      options: {
        nodes: { type: "string" },
        "base-port": { type: "string" },
        data: { type: "string" },
        "log-level": { type: "string" },
        "cors-origins": { type: "string" },
        app: { type: "string" },
        "json-logs": { type: "boolean", default: false },
        restore: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (e) {
    fail(`${e instanceof Error ? e.message : e}\n${USAGE}`, 2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const nodes = intOption("nodes", values.nodes, 1, 99);
  // Ports basePort .. basePort + nodes - 1 must all exist.
  const basePort = intOption("base-port", values["base-port"], 1, 65536 - (nodes ?? 3));
  const dataDir = resolve(values.data ?? "./data/cluster");
  const logLevel = values["log-level"] ?? "info";
  if (values.app !== undefined && !APPS.includes(values.app)) {
    fail(`--app must be one of ${APPS.join(", ")}, got "${values.app}"`, 2);
  }
  if (!LOG_LEVELS.includes(logLevel)) {
    fail(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`, 2);
  }
  const corsOrigins = values["cors-origins"];
  try {
    parseCorsOrigins(corsOrigins ?? "");
  } catch (e) {
    fail(`--cors-origins: ${e instanceof Error ? e.message : e}`, 2);
  }

  // Checked before anything is written: a damaged backup leaves no cluster behind.
  let restore: BackupFile | undefined;
  if (values.restore !== undefined) {
    if (readJson(join(dataDir, CONFIG_FILE)) !== undefined) {
      fail(
        `--restore makes a new cluster, and ${dataDir} holds one: pass a new --data directory`,
        2,
      );
    }
    try {
      restore = readBackup(await Deno.readFile(values.restore));
    } catch (e) {
      fail(`cannot restore ${values.restore}: ${e instanceof Error ? e.message : e}`);
    }
  }

  await Deno.mkdir(dataDir, { recursive: true });
  let lock: DirLock;
  try {
    lock = DirLock.acquire(dataDir);
  } catch (e) {
    fail(`${e instanceof Error ? e.message : e}: is a cluster already running on it?`);
  }
  const { cfg, secretFile, created } = loadOrCreate(dataDir, {
    nodes,
    basePort,
    app: values.app,
  });
  const app = cfg.app ?? DEFAULT_APP;
  const all: ClusterNode[] = Array.from({ length: cfg.nodes }, (_, i) => ({
    id: `n${i + 1}`,
    url: `http://${cfg.host}:${cfg.basePort + i}`,
    dataDir: join(dataDir, `n${i + 1}`),
  }));
  if (restore !== undefined) {
    for (const n of all) {
      await restoreDataDir(n.dataDir, restore.backup, all.map((m) => m.id));
      await claimDataDir(n.dataDir, { clusterId: cfg.clusterId, nodeId: n.id });
    }
    console.log(
      `Restored from ${values.restore}: ${restore.info.nodeId}'s state at index ${restore.info.index} (cluster ${restore.info.clusterId})`,
    );
  }
  // A resumed cluster may have lost members and gained others since it was created.
  const plan: ResumePlan = created
    ? { start: all, skip: [], members: undefined, warnings: [] }
    : await planResume(all);
  const nodesToStart = plan.start;
  const ids = nodesToStart.map((n) => n.id);
  const urls = nodesToStart.map((n) => n.url);
  // Not the nodes left out: one added again elsewhere under its id is at another URL now.
  const peers = nodesToStart.map((n) => `${n.id}=${n.url}`).join(",");
  const others = (plan.members ?? []).filter((m) => !ids.includes(m.id));
  const describe = (ms: readonly Member[]) =>
    ms.map((m) => `${m.id} ${m.url ?? "(URL unknown)"} (${m.role})`).join(", ");
  if (nodesToStart.length === 0) {
    fail(
      `none of the nodes of the cluster in ${dataDir} is a member any more: ${
        plan.skip.map((s) => `${s.node.id}: ${s.reason}`).join("; ")
      }. Its members run without this script: ${describe(others)}.`,
    );
  }
  const busy = nodesToStart.map((n) => Number(new URL(n.url).port)).filter((p) => !portFree(p));
  if (busy.length > 0) {
    fail(`port(s) ${busy.join(", ")} on ${cfg.host} are in use; pass --base-port (new --data)`);
  }

  // Run the CLI next to this script; when it is a local file, with its deno.json.
  const cliUrl = new URL("./cli.ts", import.meta.url);
  const local = cliUrl.protocol === "file:";
  const cli = local ? fileURLToPath(cliUrl) : cliUrl.href;
  const projectDir = local ? fileURLToPath(new URL(".", import.meta.url)) : Deno.cwd();
  const denoArgs = ["run", "-A", ...(local ? ["--config", join(projectDir, "deno.json")] : [])];

  console.log(
    `${created ? "Creating" : "Resuming"} cluster ${cfg.clusterId}: ${
      ids.length === cfg.nodes ? cfg.nodes : `${ids.length} of its ${cfg.nodes}`
    } node(s), app ${app}, data in ${dataDir}`,
  );
  for (const w of plan.warnings) console.log(`  Warning: ${w}`);
  for (const { node, reason } of plan.skip) {
    console.log(`  Not starting ${node.id}: ${reason}. Its data stays in ${node.dataDir}.`);
  }
  if (others.length > 0) {
    console.log(
      `  Members not started by this script (they run on their own): ${describe(others)}`,
    );
  }
  const render = values["json-logs"] ? (l: string) => l : renderLine;
  let stopping = false;
  const procs: NodeProc[] = nodesToStart.map(({ id, url, dataDir: nodeDir }) => {
    const child = new Deno.Command(Deno.execPath(), {
      env: hugePagesEnv(Deno.env.get("GLIBC_TUNABLES")),
      args: [
        ...denoArgs,
        cli,
        "serve",
        "--id",
        id,
        "--listen",
        new URL(url).host,
        "--peers",
        peers,
        "--data",
        nodeDir,
        "--secret-file",
        secretFile,
        "--cluster-id",
        cfg.clusterId,
        "--app",
        app,
        "--log-level",
        logLevel,
        ...(corsOrigins !== undefined ? ["--cors-origins", corsOrigins] : []),
      ],
      cwd: projectDir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Own process group: Ctrl-C reaches only this script, which stops the nodes in order.
      detached: true,
    }).spawn();
    const p: NodeProc = { id, url, child, exited: false };
    const prefix = `[${id}]`;
    pipeLines(child.stdout, prefix, render).catch(() => {});
    pipeLines(child.stderr, prefix, render).catch(() => {});
    child.status.then((s) => {
      p.exited = true;
      if (stopping) return;
      console.log(`${prefix} exited with code ${s.code}${s.signal ? ` (${s.signal})` : ""}`);
      if (procs.every((q) => q.exited)) stopAll("every node exited", 1);
    });
    return p;
  });

  const stopAll = async (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    console.log(`\nStopping ${procs.length} node(s) (${why})...`);
    for (const p of procs) {
      if (p.exited) continue;
      try {
        p.child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }
    const statuses = await Promise.all(procs.map(async (p) => {
      const t = setTimeout(() => {
        console.log(`[${p.id}] did not stop within 10 s; killing it`);
        try {
          p.child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, 10_000);
      const s = await p.child.status;
      clearTimeout(t);
      return `${p.id}: ${s.signal ?? `exit ${s.code}`}`;
    }));
    console.log(`All nodes stopped (${statuses.join(", ")}).`);
    lock.release();
    Deno.exit(code);
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    Deno.addSignalListener(sig, () => stopAll(sig, 0));
  }

  const deadline = Date.now() + 60_000;
  let found: { id: string; url: string } | undefined;
  while (found === undefined) {
    if (procs.some((p) => p.exited)) {
      await stopAll("a node exited during startup", 1);
      return;
    }
    if (Date.now() > deadline) {
      const need = others.length > 0 ? `; are its other members running? ${describe(others)}` : "";
      await stopAll(`no leader within 60 s${need}`, 1);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
    found = await leaderOf(procs);
  }
  const { id: leader, url: leaderUrl } = found;
  const follower = urls[(ids.indexOf(leader) + 1) % ids.length] ??
    urls.find((u) => u !== leaderUrl) ?? leaderUrl;
  const last = urls[urls.length - 1]!;
  // The membership now, as the leader has it; what the data directories said if it cannot answer.
  const members = await liveMembers([leaderUrl, ...urls], secretFile) ?? plan.members ??
    nodesToStart.map((n): Member => ({ id: n.id, url: n.url, role: "voter" }));
  const table = memberTable(members, { started: ids, leader });
  const strays = ids.filter((id) => !members.some((m) => m.id === id));
  if (strays.length > 0) {
    table.push(`  Started, but not in the leader's membership: ${strays.join(", ")}`);
  }
  const removed = plan.skip.filter((s) => s.why === "removed").map((s) => s.node.id);
  if (removed.length > 0) table.push(`  Not started, no longer members: ${removed.join(", ")}`);
  const tryLines = app === "events"
    ? await eventsCurls(leaderUrl, follower, last)
    : kvCurls(leaderUrl, follower, last);
  console.log(
    [
      "",
      `Cluster ${cfg.clusterId} is up. Leader: ${leader} (${leaderUrl})`,
      ...table,
      "",
      "Try:",
      ...tryLines,
      "",
      "Ctrl-C stops all nodes; run `deno task cluster` again to resume with the same data.",
      "",
    ].join("\n"),
  );
}

/** `GET /members` on the first of `urls` that answers; undefined when none does. */
async function liveMembers(
  urls: readonly string[],
  secretFile: string,
): Promise<readonly Member[] | undefined> {
  try {
    const secret = Deno.readTextFileSync(secretFile).trim();
    return (await new MemberClient({ urls, secret, timeoutMs: 2000 }).list()).members;
  } catch {
    return undefined;
  }
}

function kvCurls(leaderUrl: string, follower: string, last: string): string[] {
  return [
    `  curl -s -X POST ${leaderUrl}/commands -H 'content-type: application/json' -d '{"op":"put","key":"greeting","value":"hello"}'`,
    `  curl -s '${follower}/kv/greeting?consistency=linearizable'`,
    `  curl -s ${last}/status`,
  ];
}

const DEMO_STREAM = "orders-1";

/**
 * The event store's curls. The append carries the stream's current revision
 * as `Expected-Revision` (asked of the leader now), so it succeeds as printed
 * on a new cluster and on a resumed one.
 */
async function eventsCurls(leaderUrl: string, follower: string, last: string): Promise<string[]> {
  let expected = "no_stream";
  try {
    const res = await fetch(
      `${leaderUrl}/streams/${DEMO_STREAM}?direction=backward&limit=1&consistency=leader`,
      { signal: AbortSignal.timeout(2000) },
    );
    const body = await res.json() as { events?: { revision?: number }[] };
    const rev = body.events?.[0]?.revision;
    if (res.ok && typeof rev === "number") expected = String(rev);
  } catch {
    // Unknown: the no_stream line is right for a new cluster.
  }
  return [
    `  # append an event; Expected-Revision is the stream's current revision (409 if it moved)`,
    `  curl -s -X POST ${leaderUrl}/streams/${DEMO_STREAM} -H 'content-type: application/json' \\`,
    `    -H 'Expected-Revision: ${expected}' -d '{"type":"OrderPlaced","data":{"total":42}}'`,
    `  # read the stream from a follower, linearizably`,
    `  curl -s '${follower}/streams/${DEMO_STREAM}?consistency=linearizable'`,
    `  curl -s ${last}/status`,
    `  # follow every event, history then live (Server-Sent Events)`,
    `  curl -N ${follower}/subscribe/all`,
  ];
}

await main();
