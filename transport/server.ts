/**
 * Wires a node to HTTP: transport, app and `Deno.serve` on one port.
 *
 * @module
 */

import type { Hono } from "hono";
import type { Clock } from "../raft/clock.ts";
import type { Config } from "../raft/core/config.ts";
import type { NodeId } from "../raft/core/types.ts";
import { RaftNode, type StateMachine } from "../raft/node.ts";
import { FileStorage } from "../raft/storage/file_storage.ts";
import type { WritableStorage } from "../raft/storage/writable_storage.ts";
import { createApp, DEFAULT_MAX_BODY_BYTES } from "./app.ts";
import { bearerMatches, checkClientToken } from "./client_token.ts";
import { checkCorsOrigins } from "./cors.ts";
import { declaredLength, type FastRoute, plainPath } from "./fast_route.ts";
import { FORWARDED_HEADER } from "./forward.ts";
import { NodeMetrics } from "./metrics.ts";
import { HttpTransport } from "./peer_transport.ts";

/** How long a stopping server lets requests in flight finish before it closes every connection. */
const SHUTDOWN_GRACE_MS = 250;

/** A structured logger. */
export type Log = (
  level: "debug" | "info" | "warn",
  msg: string,
  fields?: Record<string, unknown>,
) => void;

/** Options of {@link serveNode}. */
export interface ServeOptions<R> {
  /** This node's id. */
  readonly id: NodeId;
  /** Address to listen on, e.g. `127.0.0.1` or `0.0.0.0`. */
  readonly hostname: string;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /** Peer id -> URL, including this node's own. */
  readonly peers: Readonly<Record<NodeId, string>>;
  /** Peers with another cluster id are refused. */
  readonly clusterId: string;
  /** The cluster secret peer and membership requests must carry. */
  readonly secret: string;
  /** Where the log, hard state and snapshots are kept. */
  readonly storage: WritableStorage;
  /**
   * Where a snapshot arriving from the leader in chunks is kept while it
   * arrives (`snapshot.partial`), so that a restart resumes the transfer
   * instead of starting it over. Default: the storage's directory when it is
   * a {@link FileStorage}, else none (the partial snapshot is held in memory).
   */
  readonly dataDir?: string;
  /** What committed commands are applied to. */
  readonly stateMachine: StateMachine<R>;
  /** Client routes, given the started node and the metrics. */
  readonly routes?: (node: RaftNode<R>, metrics: NodeMetrics) => readonly Hono[];
  /**
   * Handlers tried before the app for requests without a query string whose
   * `content-length` is within `maxBodyBytes` (see {@link FastRoute}).
   */
  readonly fastRoutes?: (node: RaftNode<R>, metrics: NodeMetrics) => readonly FastRoute[];
  /** Milliseconds per Raft tick (see `NodeOptions.tickMs`). */
  readonly tickMs?: number;
  /** Core options (see `NodeOptions.raft`). */
  readonly raft?: Omit<Config, "id" | "storage" | "applied">;
  /** Time source (see `NodeOptions.clock`). */
  readonly clock?: Clock;
  /** Snapshot interval in entries (see `NodeOptions.snapshotEvery`). */
  readonly snapshotEvery?: number;
  /** Proposal and read timeout in ms (see `NodeOptions.requestTimeoutMs`). */
  readonly requestTimeoutMs?: number;
  /** Largest client request body. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Origins allowed to call the client API from browser pages (see `AppOptions.corsOrigins`). */
  readonly corsOrigins?: readonly string[];
  /** A bearer token the client routes require (see `AppOptions.clientToken`). */
  readonly clientToken?: string;
  /** Where the node's log lines go. Default: nowhere. */
  readonly log?: Log;
}

/** A node serving HTTP. */
export interface ServedNode<R> {
  /** The Raft node. */
  readonly node: RaftNode<R>;
  /** The URL it serves at (`http://hostname:port`). */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Its peer transport. */
  readonly transport: HttpTransport;
  /** Its HTTP app (peer, status, membership and client routes). */
  readonly app: Hono;
  /** Stops the node, closes the server and the storage. */
  stop(): Promise<void>;
}

/**
 * Starts a node and serves its app.
 *
 * @example
 * ```ts
 * import { serveNode } from "./server.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * import { KvStateMachine } from "../raft/testing/kv_state_machine.ts";
 * const s = await serveNode({
 *   id: "n1", hostname: "127.0.0.1", port: 0, peers: {}, clusterId: "c", secret: "s",
 *   storage: MemoryStorage.withVoters(["n1"]), stateMachine: new KvStateMachine(),
 * });
 * const res = await fetch(`${s.url}/health`);
 * console.assert(res.status === 200);
 * await res.body?.cancel();
 * await s.stop();
 * ```
 */
export async function serveNode<R>(opts: ServeOptions<R>): Promise<ServedNode<R>> {
  const metrics = new NodeMetrics();
  const ac = new AbortController();
  const routing: { app?: Hono; fast: readonly FastRoute[] } = { fast: [] };
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (opts.corsOrigins !== undefined) checkCorsOrigins(opts.corsOrigins);
  const cors = (opts.corsOrigins?.length ?? 0) > 0;
  const token = opts.clientToken;
  if (token !== undefined) checkClientToken(token);
  const handle = (req: Request): Response | Promise<Response> => {
    const app = routing.app;
    if (app === undefined) return new Response("starting", { status: 503 });
    if (routing.fast.length > 0) {
      const path = plainPath(req.url);
      const length = path === undefined ? undefined : declaredLength(req);
      // Forwarded writes go through the app, whose forwarding check looks at the forwarder; so
      // do browsers' requests when CORS is on, for its headers, and requests without the client
      // token, for their 401.
      if (
        path !== undefined && length !== undefined && length <= maxBody &&
        !req.headers.has(FORWARDED_HEADER) && !(cors && req.headers.has("origin")) &&
        (token === undefined || bearerMatches(req.headers.get("authorization"), token))
      ) {
        for (const route of routing.fast) {
          const res = route(req, path);
          if (res !== undefined) return res;
        }
      }
    }
    return app.fetch(req);
  };
  const server = Deno.serve(
    { hostname: opts.hostname, port: opts.port, signal: ac.signal, onListen: () => {} },
    handle,
  );
  const port = server.addr.port;
  const url = `http://${opts.hostname}:${port}`;
  const peers = { ...opts.peers, [opts.id]: opts.peers[opts.id] ?? url };
  const transport = new HttpTransport({
    id: opts.id,
    clusterId: opts.clusterId,
    secret: opts.secret,
    // Told to peers only when given: a URL built from a wildcard listen address reaches nobody.
    ...(opts.peers[opts.id] !== undefined ? { url: opts.peers[opts.id] } : {}),
    peers,
    firstLogIndex: () => opts.storage.firstIndex(),
    ...(opts.log ? { log: opts.log } : {}),
  });
  const node = await RaftNode.start<R>({
    id: opts.id,
    storage: opts.storage,
    transport,
    stateMachine: opts.stateMachine,
    peerUrls: peers,
    ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}),
    ...(opts.raft !== undefined ? { raft: opts.raft } : {}),
    ...(opts.clock !== undefined ? { clock: opts.clock } : {}),
    ...(opts.snapshotEvery !== undefined ? { snapshotEvery: opts.snapshotEvery } : {}),
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
  });
  transport.attach({
    reportUnreachable: (id) => node.reportUnreachable(id),
    reportSnapshot: (id, ok) => node.reportSnapshot(id, ok),
    reportConnected: (id) => node.reportConnected(id),
  });
  node.on("roundTrip", ({ peer, ms }) => metrics.observeRtt(peer, ms));
  node.on("leaderChange", ({ leader }) => {
    if (leader !== "") metrics.leaderChanges++;
  });
  if (opts.storage instanceof FileStorage) {
    const storage = opts.storage;
    metrics.addHistogram("raftlog_disk_sync_duration_seconds", storage.syncSeconds);
    metrics.addGauge("raftlog_disk_log_bytes", () => storage.logBytes());
    metrics.addHistogram("raftlog_disk_snapshot_duration_seconds", storage.snapshotSeconds);
    metrics.addGauge("raftlog_disk_snapshot_bytes", () => storage.snapshotBytes());
  }
  node.on("addPeer", ({ id, context }) => {
    if (!/^https?:\/\//i.test(context)) return;
    try {
      transport.addPeer(id, context);
    } catch (e) {
      opts.log?.("warn", "member not added to the transport", {
        id,
        url: context,
        error: String(e),
      });
    }
  });
  node.on("removePeer", ({ id }) => transport.removePeer(id));
  node.on("stateChange", ({ role }) => {
    if (role !== "leader") transport.dropUnfinishedSnapshots();
  });
  const dataDir = opts.dataDir ??
    (opts.storage instanceof FileStorage ? opts.storage.dir : undefined);
  const built = createApp({
    node: node as RaftNode<unknown>,
    clusterId: opts.clusterId,
    secret: opts.secret,
    metrics,
    routes: opts.routes?.(node, metrics) ?? [],
    maxBodyBytes: maxBody,
    ...(opts.corsOrigins !== undefined ? { corsOrigins: opts.corsOrigins } : {}),
    ...(token !== undefined ? { clientToken: token } : {}),
    onPeerUrl: (id, url) => transport.learnPeerUrl(id, url),
    ...(dataDir !== undefined ? { dataDir } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  routing.fast = opts.fastRoutes?.(node, metrics) ?? [];
  routing.app = built.app;
  let stopped: Promise<void> | undefined;
  return {
    node,
    url: peers[opts.id]!,
    port,
    transport,
    app: built.app,
    stop() {
      stopped ??= (async () => {
        transport.close();
        // Before the storage closes (and its directory lock goes): a partial snapshot's
        // file is checkpointed in that directory.
        await built.close();
        await node.stop();
        // Answers already made go out first (a node that failed answers the writes it had taken
        // 504 outcome_unknown); connections that never end by themselves (subscriptions) are
        // cut after a moment.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const done = await Promise.race([
          server.shutdown().then(() => true, () => true),
          new Promise<boolean>((r) => timer = setTimeout(() => r(false), SHUTDOWN_GRACE_MS)),
        ]);
        clearTimeout(timer);
        if (!done) ac.abort();
        await server.finished;
      })();
      return stopped;
    },
  };
}
