/**
 * The `raftlog` command line: `serve` runs one node, `join` adds a new node
 * to a running cluster and serves it, `members` and `leave` list and remove
 * members, `status` prints a node's state, `check` verifies a data directory.
 *
 * ```sh
 * deno run -A cli.ts serve --id n1 --listen 127.0.0.1:7001 \
 *   --peers n1=http://127.0.0.1:7001,n2=http://127.0.0.1:7002,n3=http://127.0.0.1:7003 \
 *   --data ./data/n1 --secret s3cret
 * deno run -A cli.ts join --id n4 --listen 127.0.0.1:7004 --data ./data/n4 --secret s3cret \
 *   --cluster http://127.0.0.1:7001
 * deno run -A cli.ts status http://127.0.0.1:7001
 * deno run -A cli.ts check ./data/n1
 * ```
 *
 * Exit codes: 0 success, 1 failure, 2 bad arguments.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Hono } from "hono";
import { fetchMembers, joinCluster, splitJoinArgs } from "./cli/join.ts";
import { runMembersCommand } from "./cli/members.ts";
import { loadPeerUrls, parsePeers, trackPeerUrls } from "./cli/peer_urls.ts";
import { UsageError } from "./cli/usage_error.ts";
import { FileArchive } from "./eventstore/archive.ts";
import { EventStore } from "./eventstore/event_store.ts";
import { type CommandResult, EventStoreStateMachine } from "./eventstore/state_machine.ts";
import type { Storage } from "./raft/core/storage.ts";
import type { ConfState } from "./raft/core/types.ts";
import { confStateOf } from "./raft/core/conf_state.ts";
import { runBackupCommand, runRestoreCommand } from "./cli/backup.ts";
import { runStatusCommand } from "./cli/status.ts";
import { claimDataDir } from "./cli/identity.ts";
import { type RaftNode, snapshotsArePeriodic, type StateMachine } from "./raft/node.ts";
import { FileStorage } from "./raft/storage/file_storage.ts";
import { runCheckCli } from "./raft/storage/check_cli.ts";
import { type KvResult, KvStateMachine } from "./raft/testing/kv_state_machine.ts";
import { eventStoreFastAppend, eventStoreRoutes } from "./transport/eventstore_routes.ts";
import type { FastRoute } from "./transport/fast_route.ts";
import { kvFastCommand, kvRoutes } from "./transport/kv_routes.ts";
import { MemberClient } from "./transport/member_client.ts";
import type { MembersBody } from "./transport/member_routes.ts";
import type { NodeMetrics } from "./transport/metrics.ts";
import { type ServedNode, serveNode } from "./transport/server.ts";
import { checkHeaderValue } from "./transport/header_value.ts";
import { checkClientToken } from "./transport/client_token.ts";
import { parseCorsOrigins } from "./transport/cors.ts";
import { normalizePeerUrl } from "./transport/peer_url.ts";

export { UsageError };
export { parsePeers };

/** Log levels, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** A structured logger: one call, one line. */
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

const encoder = new TextEncoder();

function plain(_key: string, value: unknown): unknown {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "bigint") return value.toString();
  return value;
}

/**
 * A logger writing one JSON object per line (`ts`, `level`, `node`, `msg`,
 * and `fields` when there are any) to `write`, default stderr. Lines below
 * `minLevel` are skipped.
 *
 * @example
 * ```ts
 * import { jsonLogger } from "./cli.ts";
 * const lines: string[] = [];
 * const log = jsonLogger("n1", "info", (line) => lines.push(line));
 * log("debug", "skipped");
 * log("info", "leader elected", { leader: "n2", term: 3 });
 * const o = JSON.parse(lines[0]!);
 * console.assert(lines.length === 1 && o.node === "n1" && o.fields.leader === "n2");
 * ```
 */
export function jsonLogger(
  node: string,
  minLevel: LogLevel = "info",
  write: (line: string) => void = (line) => Deno.stderr.writeSync(encoder.encode(line + "\n")),
): Logger {
  const min = LEVELS.indexOf(minLevel);
  return (level, msg, fields) => {
    if (LEVELS.indexOf(level) < min) return;
    const line: Record<string, unknown> = { ts: new Date().toISOString(), level, node, msg };
    if (fields !== undefined && Object.keys(fields).length > 0) line.fields = fields;
    write(JSON.stringify(line, plain));
  };
}

/** Options of `raftlog serve`, parsed and checked. */
export interface ServeConfig {
  /** `--id`: this node's id. */
  readonly id: string;
  /** Address to listen on (`--listen`, or this node's URL in `--peers`). */
  readonly hostname: string;
  /** Port to listen on. */
  readonly port: number;
  /** Peer id -> URL, including this node. */
  readonly peers: Readonly<Record<string, string>>;
  /** `--data`: the node's data directory. */
  readonly dataDir: string;
  /** The cluster secret peers must present. */
  readonly secret: string;
  /** `--cluster-id`: nodes of another cluster are refused. */
  readonly clusterId: string;
  /** `--tick-ms`: milliseconds per Raft tick. */
  readonly tickMs: number;
  /** `--election-ticks`: ticks without a leader before an election. */
  readonly electionTicks: number;
  /** `--log-level`: the least severe level logged. */
  readonly logLevel: LogLevel;
  /** Which application runs on the log; see {@link APPS}. */
  readonly app: string;
  /** `--snapshot-every`: applied entries between snapshots (0: none; undefined: the default). */
  readonly snapshotEvery: number | undefined;
  /** Bytes of zeros written ahead of the log (0: none); see `FileStorageOptions.preallocateBytes`. */
  readonly preallocateBytes: number | undefined;
  /** `--quota-bytes`: the event store refuses appends once it holds this much on disk. */
  readonly quotaBytes?: number | undefined;
  /** Origins whose browser pages may call the client API (CORS); empty: none. */
  readonly corsOrigins: readonly string[];
  /** Bearer token the client API requires; undefined: none. */
  readonly clientToken: string | undefined;
}

/**
 * What an application gets to build its state machine: the node's storage and data directory.
 *
 * @example
 * ```ts
 * import type { AppContext } from "./cli.ts";
 * const archivePath = (ctx: AppContext) => `${ctx.dataDir}/eventstore.archive`;
 * ```
 */
export interface AppContext {
  /** The node's log storage (the event store reads events back from it). */
  readonly storage: Storage;
  /** The node's data directory; an application may keep side files in it. */
  readonly dataDir: string;
  /** Whether the node snapshots its state periodically (`--snapshot-every` is not 0). */
  readonly periodicSnapshots?: boolean;
  /** `--quota-bytes`, with the bytes the node's storage holds on disk (log and snapshot). */
  readonly quota?: { readonly bytes: number; readonly storageBytes: () => number };
}

/**
 * The state machine and client routes of an application served by `raftlog serve`.
 *
 * @example
 * ```ts
 * import { APPS, type AppWiring } from "./cli.ts";
 * import { MemoryStorage } from "./raft/storage/memory_storage.ts";
 * const kv: AppWiring = APPS.kv!({ storage: MemoryStorage.withVoters(["n1"]), dataDir: "." });
 * kv.close?.();
 * ```
 */
export interface AppWiring {
  /** The application's state, which the node applies committed commands to. */
  readonly stateMachine: StateMachine<unknown>;
  /** Hono apps with the application's client routes, mounted after the node's own. */
  routes(node: RaftNode<unknown>, metrics: NodeMetrics): readonly Hono[];
  /** Handlers of hot requests that skip the Hono app (see `FastRoute`). */
  fastRoutes?(node: RaftNode<unknown>, metrics: NodeMetrics): readonly FastRoute[];
  /** Releases what the application opened, after the node stopped. */
  close?(): void;
}

/**
 * Applications `raftlog serve --app NAME` can run. Each call builds a fresh
 * state machine. Adding an application is one entry here.
 *
 * - `events` (the default): the event store (`POST /streams/:stream`,
 *   `GET /all`, `GET /subscribe/all`, ...). Events are read from the log;
 *   entries a snapshot install removed from the log are kept in
 *   `<data>/eventstore.archive`.
 * - `kv`: the key-value example (`POST /commands`, `GET /kv/:key`).
 *
 * @example
 * ```ts
 * import { APPS } from "./cli.ts";
 * import { MemoryStorage } from "./raft/storage/memory_storage.ts";
 * console.assert(typeof APPS.events === "function");
 * const kv = APPS.kv!({ storage: MemoryStorage.withVoters(["n1"]), dataDir: "unused" });
 * console.assert(kv.stateMachine !== undefined);
 * ```
 */
export const APPS: Readonly<Record<string, (ctx: AppContext) => AppWiring>> = {
  events: ({ storage, dataDir, periodicSnapshots, quota }) => {
    const archive = FileArchive.open(join(dataDir, "eventstore.archive"));
    const sm = new EventStoreStateMachine({
      storage,
      archive,
      spareSnapshotBuffers: periodicSnapshots ?? true,
    });
    const storageQuota = quota === undefined
      ? undefined
      : { bytes: quota.bytes, used: () => quota.storageBytes() + archive.bytes };
    let store: EventStore | undefined;
    const storeOf = (node: RaftNode<unknown>) =>
      store ??= new EventStore(
        node as RaftNode<CommandResult>,
        sm,
        storageQuota === undefined ? {} : { storageQuota },
      );
    return {
      stateMachine: sm as StateMachine<unknown>,
      routes: (node, metrics) => [eventStoreRoutes(storeOf(node), { metrics })],
      fastRoutes: (node, metrics) => [eventStoreFastAppend(storeOf(node), { metrics })],
      close: () => archive.close(),
    };
  },
  kv: () => {
    const kv = new KvStateMachine();
    return {
      stateMachine: kv as StateMachine<unknown>,
      routes: (node, metrics) => [kvRoutes(node as RaftNode<KvResult>, kv, metrics)],
      fastRoutes: (node, metrics) => [kvFastCommand(node as RaftNode<KvResult>, metrics)],
    };
  },
};

/**
 * The application `raftlog serve` runs without `--app`.
 *
 * @example
 * ```ts
 * import { APPS, DEFAULT_APP } from "./cli.ts";
 * console.assert(DEFAULT_APP === "events" && DEFAULT_APP in APPS);
 * ```
 */
export const DEFAULT_APP = "events";

const APP_NAMES = Object.keys(APPS).join(", ");

const USAGE = `raftlog: a Raft-replicated log with an HTTP/JSON API

Usage:
  raftlog serve --id ID --listen HOST:PORT --peers ID=URL,... --data DIR --secret S [options]
  raftlog join --id ID --listen HOST:PORT --cluster URL[,URL...] --data DIR --secret S [options]
  raftlog members --cluster URL[,URL...] --secret S
  raftlog leave --id ID --cluster URL[,URL...] --secret S
  raftlog move-leader --id ID --cluster URL[,URL...] --secret S
  raftlog backup --cluster URL[,URL...] --out FILE --secret S [--local]
  raftlog restore FILE --data DIR --id ID --peers ID=URL,... [--cluster-id C]
  raftlog status URL[,URL...] [--json]
  raftlog check DIR [--json]

serve options:
  --id ID              this node's id (must appear in --peers when --peers is given)
  --listen HOST:PORT   address to listen on (default: the host:port of this node's URL in --peers)
  --peers LIST         every voter of a new cluster: n1=http://127.0.0.1:7001,n2=...
                       (used to bootstrap a fresh data directory, and as peer addresses)
  --data DIR           data directory (default ./data/ID); locked while the node runs
  --secret S           cluster secret for peer requests (or --secret-file F, or RAFTLOG_SECRET)
  --secret-file F      read the secret from a file
  --cluster-id C       peers with another cluster id are refused (default "raftlog")
  --tick-ms N          milliseconds per Raft tick (default 10)
  --election-ticks N   ticks without a leader before an election (default 50: 500-1000 ms);
                       the leader sends a heartbeat every election-ticks/10 ticks
  --snapshot-every N   least entries between state machine snapshots (default 10000, plus up to
                       half on some members; they must also add up to the last snapshot's size)
  --quota-bytes N      the event store refuses appends (507 quota_exceeded) once its log, snapshot
                       and archive hold N bytes on disk; deletes and metadata changes still go
                       through, so retention can free space (default none)
  --preallocate-bytes N
                       zeros written ahead of the log, so syncs commit no file-system metadata
                       (default 1048576; 0 turns it off, e.g. on copy-on-write file systems)
  --client-token T     the client API (reads, writes, subscriptions) requires
                       Authorization: Bearer T (or --client-token-file F, or RAFTLOG_CLIENT_TOKEN);
                       /health, /ready, /status and /metrics stay open
  --cors-origins LIST  origins whose browser pages may call the client API, comma-separated
                       (e.g. https://app.example,http://localhost:5173), or * for any (default none)
  --app NAME           application on the log: ${APP_NAMES} (default ${DEFAULT_APP})
  --log-level L        debug, info, warn or error (default info); JSON lines on stderr
  Members' URLs are kept in DIR/peers.json, so a restart needs --peers only for the first members.
  On Linux, GLIBC_TUNABLES=glibc.malloc.hugetlb=1 in the environment lets the event store's
  growing index use huge pages: fewer page faults under heavy appends (deno task cluster sets it).

join (a new node, or a restart of a joined one) takes serve's options but --peers, and:
  --cluster URLS       members to ask (any member; changes are forwarded to the leader)
  --url URL            the URL other members reach this node at (default http://HOST:PORT)
  --learner            stay a learner: do not ask to be promoted to voter
  A fresh node asks to be added as a learner, serves, catches up, then asks to be promoted.
  A node whose data directory has state is never added again; restart it with join or serve.

members prints the membership; leave removes the member --id (it keeps running until stopped);
  move-leader hands leadership to the voter --id (e.g. before maintenance on the leader's machine).
  The secret comes from --secret, --secret-file F or RAFTLOG_SECRET, as for serve.

status prints a node's GET /status; given several URLs, a line per node (--json: their answers).

backup writes the state of the first member that answers to FILE (replaced atomically, only once
  the whole backup arrived intact). It holds every write acknowledged before it started; --local
  takes what that member has applied without asking the leader (when the cluster lost its quorum).
restore makes DIR (new or empty) the data directory of --id in a new cluster of the voters
  --peers, starting from the backup. Restore every member from the same FILE and --peers, then
  start each with serve (same --peers and --cluster-id).

Exit codes: 0 ok, 1 failure, 2 bad arguments.`;

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  return v === undefined ? dflt : intFlag(name, v, 1);
}

/** `--name`'s value as an integer of at least `min` (0 or 1). */
function intFlag(name: string, v: string, min: 0 | 1): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) {
    const kind = min === 0 ? "non-negative" : "positive";
    throw new UsageError(`--${name} must be a ${kind} integer, got "${v}"`);
  }
  return n;
}

function parseHostPort(what: string, v: string): { hostname: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new UsageError(`${what} must be HOST:PORT (e.g. 127.0.0.1:7001), got "${v}"`);
  }
  return { hostname: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/**
 * Parses the arguments of `raftlog serve` (after the word `serve`).
 * `env` supplies `RAFTLOG_SECRET` when neither `--secret` nor `--secret-file`
 * is given. Throws {@link UsageError} for anything wrong.
 *
 * @example
 * ```ts
 * import { parseServeArgs } from "./cli.ts";
 * const c = parseServeArgs([
 *   "--id", "n2", "--peers", "n1=http://127.0.0.1:7001,n2=http://127.0.0.1:7002", "--secret", "s",
 * ]);
 * console.assert(c.port === 7002 && c.dataDir === "./data/n2" && c.clusterId === "raftlog");
 * const off = parseServeArgs(["--id", "n1", "--listen", "127.0.0.1:7001", "--secret", "s", "--preallocate-bytes", "0"]);
 * console.assert(off.preallocateBytes === 0);
 * let bad = "";
 * try {
 *   parseServeArgs(["--id", "n1", "--listen", "127.0.0.1:7001", "--secret", "s", "--preallocate-bytes", "1MB"]);
 * } catch (e) {
 *   bad = (e as Error).message;
 * }
 * console.assert(/--preallocate-bytes must be a non-negative integer/.test(bad), bad);
 * ```
 */
export function parseServeArgs(
  args: readonly string[],
  env: (name: string) => string | undefined = () => undefined,
): ServeConfig {
  const { values, positionals } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: true,
    options: {
      id: { type: "string" },
      listen: { type: "string" },
      peers: { type: "string" },
      data: { type: "string" },
      secret: { type: "string" },
      "secret-file": { type: "string" },
      "cluster-id": { type: "string" },
      "tick-ms": { type: "string" },
      "election-ticks": { type: "string" },
      "snapshot-every": { type: "string" },
      "preallocate-bytes": { type: "string" },
      "quota-bytes": { type: "string" },
      "cors-origins": { type: "string" },
      "client-token": { type: "string" },
      "client-token-file": { type: "string" },
      app: { type: "string" },
      "log-level": { type: "string" },
    },
  });
  if (positionals.length > 0) {
    throw new UsageError(`serve takes no positional arguments, got "${positionals.join(" ")}"`);
  }
  const id = values.id;
  if (id === undefined || !/^(?!\.+$)[A-Za-z0-9_.-]+$/.test(id)) {
    throw new UsageError(
      "--id is required: letters, digits, '_', '.', '-', not only dots (e.g. --id n1)",
    );
  }
  let peers: Record<string, string>;
  let hostname: string, port: number;
  if (values.peers !== undefined) {
    peers = parsePeers(values.peers);
    if (!(id in peers)) {
      throw new UsageError(`--peers must include this node (${id}), got ${Object.keys(peers)}`);
    }
    const listen = values.listen ?? new URL(peers[id]!).host;
    ({ hostname, port } = parseHostPort("--listen", listen));
  } else {
    if (values.listen === undefined) {
      throw new UsageError("--listen HOST:PORT is required when --peers is not given");
    }
    ({ hostname, port } = parseHostPort("--listen", values.listen));
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    peers = { [id]: normalizePeerUrl(`http://${host}:${port}`) };
  }
  const secret = flagOrFile("secret", values.secret, values["secret-file"]) ??
    env("RAFTLOG_SECRET");
  if (secret === undefined || secret === "") {
    throw new UsageError("A cluster secret is required: --secret, --secret-file or RAFTLOG_SECRET");
  }
  const logLevel = (values["log-level"] ?? "info") as LogLevel;
  if (!LEVELS.includes(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}, got "${logLevel}"`);
  }
  const app = values.app ?? DEFAULT_APP;
  if (!(app in APPS)) {
    throw new UsageError(`--app must be one of ${Object.keys(APPS).join(", ")}, got "${app}"`);
  }
  const clusterId = values["cluster-id"] ?? "raftlog";
  if (clusterId === "") throw new UsageError("--cluster-id must not be empty");
  for (const [what, v] of [["cluster secret", secret], ["--cluster-id", clusterId]] as const) {
    try {
      checkHeaderValue(what, v);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const clientToken =
    flagOrFile("client-token", values["client-token"], values["client-token-file"]) ??
      env("RAFTLOG_CLIENT_TOKEN");
  if (clientToken !== undefined) {
    try {
      checkClientToken(clientToken);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const snapshotEvery = values["snapshot-every"] === undefined
    ? undefined
    : positiveInt("snapshot-every", values["snapshot-every"], 0);
  const prealloc = values["preallocate-bytes"];
  const quotaBytes = values["quota-bytes"] === undefined
    ? undefined
    : intFlag("quota-bytes", values["quota-bytes"], 1);
  if (quotaBytes !== undefined && app !== "events") {
    throw new UsageError("--quota-bytes applies to the event store (--app events)");
  }
  let corsOrigins: string[] = [];
  try {
    corsOrigins = parseCorsOrigins(values["cors-origins"] ?? "");
  } catch (e) {
    throw new UsageError(`--cors-origins: ${(e as Error).message}`);
  }
  return {
    id,
    hostname,
    port,
    peers,
    dataDir: values.data ?? `./data/${id}`,
    secret,
    clusterId,
    tickMs: positiveInt("tick-ms", values["tick-ms"], 10),
    electionTicks: positiveInt("election-ticks", values["election-ticks"], 50),
    logLevel,
    app,
    snapshotEvery,
    preallocateBytes: prealloc === undefined
      ? undefined
      : intFlag("preallocate-bytes", prealloc, 0),
    corsOrigins,
    clientToken,
    quotaBytes,
  };
}

/** `--NAME value`, or the trimmed text of `--NAME-file path` (not both); undefined without either. */
function flagOrFile(
  name: string,
  value: string | undefined,
  file: string | undefined,
): string | undefined {
  if (file === undefined) return value;
  if (value !== undefined) throw new UsageError(`Give --${name} or --${name}-file, not both`);
  try {
    return Deno.readTextFileSync(file).trim();
  } catch (e) {
    throw new UsageError(
      `Cannot read --${name}-file ${file}: ${e instanceof Error ? e.message : e}`,
    );
  }
}

/** Steps `join` adds around {@link serve}. */
interface ServeHooks {
  /** A fresh data directory starts with no membership (it learns it from the leader). */
  readonly noBootstrap?: boolean;
  /** After the data directory opened, before the node starts: more peer URLs (or throws). */
  peers?(storage: FileStorage): Promise<Record<string, string>>;
  /** Once the node serves; a rejection stops the node with exit code 1. */
  started?(served: ServedNode<unknown>): Promise<void>;
}

/**
 * Runs a node until SIGINT/SIGTERM (then stops it gracefully: the write in
 * flight finishes, files close, the data directory lock is released) or
 * until the node fails. Resolves with the process exit code.
 */
async function serve(cfg: ServeConfig, log: Logger, hooks: ServeHooks = {}): Promise<number> {
  const voters = Object.keys(cfg.peers).sort();
  const bootstrap: ConfState = confStateOf(voters);
  let storage: FileStorage;
  let peers: Record<string, string>;
  try {
    await Deno.mkdir(cfg.dataDir, { recursive: true });
    await claimDataDir(cfg.dataDir, { clusterId: cfg.clusterId, nodeId: cfg.id });
  } catch (e) {
    log("error", "cannot use data directory", { dir: cfg.dataDir, error: e });
    return 1;
  }
  try {
    storage = await FileStorage.open(cfg.dataDir, {
      ...(hooks.noBootstrap ? {} : { bootstrap }),
      ...(cfg.preallocateBytes === undefined ? {} : { preallocateBytes: cfg.preallocateBytes }),
      logger: (line) => log("warn", "storage", line),
    });
  } catch (e) {
    log("error", "cannot open data directory", { dir: cfg.dataDir, error: e });
    return 1;
  }
  try {
    // Saved URLs, then what the cluster says, then the command line: later ones win.
    peers = { ...await loadPeerUrls(cfg.dataDir), ...await hooks.peers?.(storage), ...cfg.peers };
  } catch (e) {
    await storage.close().catch(() => {});
    log("error", "cannot find the cluster's members", { dir: cfg.dataDir, error: e });
    return 1;
  }
  const init = storage.initialState();
  let app: AppWiring;
  try {
    app = APPS[cfg.app]!({
      storage,
      dataDir: cfg.dataDir,
      periodicSnapshots: snapshotsArePeriodic(cfg.snapshotEvery),
      ...(cfg.quotaBytes === undefined ? {} : {
        quota: {
          bytes: cfg.quotaBytes,
          storageBytes: () => storage.logBytes() + storage.snapshotBytes(),
        },
      }),
    });
  } catch (e) {
    await storage.close().catch(() => {});
    log("error", `cannot start the ${cfg.app} app`, { dir: cfg.dataDir, error: e });
    return 1;
  }
  let served;
  try {
    served = await serveNode<unknown>({
      id: cfg.id,
      hostname: cfg.hostname,
      port: cfg.port,
      peers,
      clusterId: cfg.clusterId,
      secret: cfg.secret,
      storage,
      dataDir: cfg.dataDir,
      stateMachine: app.stateMachine,
      routes: (node, metrics) => app.routes(node, metrics),
      fastRoutes: (node, metrics) => app.fastRoutes?.(node, metrics) ?? [],
      tickMs: cfg.tickMs,
      raft: {
        electionTick: cfg.electionTicks,
        heartbeatTick: Math.max(1, Math.floor(cfg.electionTicks / 10)),
        preVote: true,
        checkQuorum: true,
      },
      ...(cfg.snapshotEvery !== undefined ? { snapshotEvery: cfg.snapshotEvery } : {}),
      corsOrigins: cfg.corsOrigins,
      ...(cfg.clientToken !== undefined ? { clientToken: cfg.clientToken } : {}),
      log: (level, msg, fields) => log(level, msg, fields),
    });
  } catch (e) {
    app.close?.();
    await storage.close().catch(() => {});
    const busy = e instanceof Deno.errors.AddrInUse;
    log("error", busy ? `Address ${cfg.hostname}:${cfg.port} is already in use` : "cannot start", {
      error: e,
    });
    return 1;
  }
  const node = served.node;
  log("info", "node started", {
    url: served.url,
    dataDir: cfg.dataDir,
    clusterId: cfg.clusterId,
    app: cfg.app,
    voters: init.confState.voters,
    term: init.hardState.term,
    commit: init.hardState.commit,
    firstIndex: storage.firstIndex(),
    lastIndex: storage.lastIndex(),
    snapshotIndex: storage.snapshot().metadata.index,
  });
  node.on("stateChange", (e) => log("info", "role changed", { role: e.role, term: e.term }));
  node.on(
    "leaderChange",
    (e) =>
      log(e.leader === "" ? "warn" : "info", e.leader === "" ? "leader lost" : "leader known", {
        leader: e.leader,
        term: e.term,
      }),
  );
  node.on("termChange", (e) => log("debug", "term changed", { term: e.term }));
  node.on("addPeer", (e) => log("info", "peer added", { ...e }));
  node.on("removePeer", (e) => log("info", "peer removed", { ...e }));
  node.on("removed", () =>
    log(
      "warn",
      "this node applied its removal from the cluster (a node added again under this id applies " +
        "its earlier removal while it catches up)",
    ));
  node.on("warning", (e) => log("warn", e.message));

  const urls = trackPeerUrls({
    node,
    transport: served.transport,
    dataDir: cfg.dataDir,
    secret: cfg.secret,
    log: (level, msg, fields) => log(level, msg, fields),
  });
  const stopNode = () => urls.close().then(() => served.stop()).finally(() => app.close?.());
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    const onSignal = (sig: Deno.Signal) => () => {
      if (stopping) {
        log("warn", "second signal: exiting without a graceful stop", { signal: sig });
        Deno.exit(1);
      }
      stopping = true;
      log("info", "stopping", { signal: sig });
      stopNode().then(
        () => {
          log("info", "stopped");
          resolve(0);
        },
        (e) => {
          log("error", "stop failed", { error: e });
          resolve(1);
        },
      );
    };
    for (const s of signals) Deno.addSignalListener(s, onSignal(s));
    node.on("stopped", (e) => {
      if (stopping || e.error === undefined) return;
      stopping = true;
      log("error", "node failed", { error: e.error });
      stopNode().finally(() => resolve(1));
    });
    hooks.started?.(served).catch((e) => {
      if (stopping) return;
      stopping = true;
      log("error", "join failed", { error: e });
      stopNode().finally(() => resolve(1));
    });
  });
}

/** `raftlog join`: {@link serve} with the membership and peers learned from the cluster. */
async function joinAndServe(args: readonly string[]): Promise<number> {
  const j = splitJoinArgs(args);
  const cfg = parseServeArgs(j.serveArgs, (n) => Deno.env.get(n));
  const self = j.url ?? cfg.peers[cfg.id]!;
  const log = jsonLogger(cfg.id, cfg.logLevel);
  const client = new MemberClient({ urls: j.cluster, secret: cfg.secret });
  let hadState = false;
  let members: MembersBody | undefined;
  return await serve({ ...cfg, peers: { [cfg.id]: self } }, log, {
    noBootstrap: true,
    async peers(storage) {
      const init = storage.initialState();
      const cs = init.confState;
      hadState = init.hardState.term > 0 || storage.lastIndex() > 0 ||
        cs.voters.length + cs.learners.length > 0;
      try {
        // A restarted member serves with its saved peers when the cluster does not answer soon.
        members = await fetchMembers(client, { deadlineMs: hadState ? 5_000 : 60_000, log });
      } catch (e) {
        if (!hadState) throw e;
        log("warn", "cannot list the cluster's members; using the saved peers", { error: e });
      }
      const urls: Record<string, string> = {};
      for (const m of members?.members ?? []) if (m.url !== null) urls[m.id] = m.url;
      return urls;
    },
    async started(served) {
      try {
        const outcome = await joinCluster({
          node: served.node,
          client,
          url: self,
          learner: j.learner,
          hadState,
          ...(members !== undefined ? { members } : {}),
          log,
        });
        log("info", "joined", { outcome });
      } catch (e) {
        // A member that restarts keeps serving even when the cluster refuses or is away.
        if (!hadState) throw e;
        log("warn", "cannot finish joining; serving as before", { error: e });
      }
    },
  });
}

/**
 * Runs the command line and resolves with the exit code (0 ok, 1 failure,
 * 2 bad arguments). `serve` resolves only when the node stops.
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * console.assert(await main(["serve", "--id", "n1"]) === 2); // no secret, no address
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  const [cmd, ...rest] = args;
  try {
    switch (cmd) {
      case "serve": {
        const cfg = parseServeArgs(rest, (n) => Deno.env.get(n));
        return await serve(cfg, jsonLogger(cfg.id, cfg.logLevel));
      }
      case "status":
        return await runStatusCommand(rest);
      case "check":
        return await runCheckCli(rest, "raftlog check");
      case "join":
        return await joinAndServe(rest);
      case "members":
      case "leave":
      case "move-leader":
        return await runMembersCommand(cmd, rest, (n) => Deno.env.get(n));
      case "backup":
        return await runBackupCommand(rest, (n) => Deno.env.get(n));
      case "restore":
        return await runRestoreCommand(rest);
      case undefined:
      case "help":
      case "-h":
      case "--help":
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`Unknown command "${cmd}"`);
    }
  } catch (e) {
    const usage = e instanceof UsageError ||
      (e instanceof TypeError &&
        String((e as { code?: string }).code).startsWith("ERR_PARSE_ARGS"));
    if (!usage) throw e;
    console.error(`raftlog: ${e.message}\nRun "raftlog help" for usage.`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
