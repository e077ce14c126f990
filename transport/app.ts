/**
 * The HTTP app of one node: peer routes under `/raft/`, status routes,
 * membership routes under `/members`, `GET /backup`, and the application's client routes,
 * with body limits, leader forwarding of writes and JSON errors.
 *
 * @module
 */

import { Hono } from "hono";
import { backupRoute } from "./backup_route.ts";
import { bodyLimit } from "./body_limit.ts";
import { clientTokenMiddleware } from "./client_token.ts";
import { corsMiddleware } from "./cors.ts";
import type { RaftNode } from "../raft/node.ts";
import { sendError } from "./errors.ts";
import { forwardWrites } from "./forward.ts";
import { memberRoutes } from "./member_routes.ts";
import { notFound } from "./not_found.ts";
import { type NodeMetrics, renderMetrics } from "./metrics.ts";
import { peerRoutes } from "./peer_routes.ts";

/** Default largest client request body: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Options of {@link createApp}. */
export interface AppOptions {
  readonly node: RaftNode<unknown>;
  readonly clusterId: string;
  readonly secret: string;
  readonly metrics: NodeMetrics;
  /** Client routes of the application (key-value, event store, ...), mounted at `/`. */
  readonly routes?: readonly Hono[];
  /** Largest client request body. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /**
   * Origins whose pages may call the client API from a browser (CORS):
   * `["*"]` for any, or origins such as `https://app.example`. Default: none.
   */
  readonly corsOrigins?: readonly string[];
  /**
   * A bearer token the client routes require (`Authorization: Bearer <token>`);
   * `/health`, `/ready`, `/status`, `/metrics` stay open. Default: none.
   */
  readonly clientToken?: string;
  /** Largest peer request body. Default 512 MiB. */
  readonly maxPeerBodyBytes?: number;
  /**
   * The node's data directory, where a snapshot arriving in chunks is kept
   * so that a restart resumes its transfer (`snapshot.partial`). Default: in memory.
   */
  readonly dataDir?: string;
  /** Where a peer stream's sender says it is (see `PeerRouteOptions.onPeerUrl`). */
  readonly onPeerUrl?: (id: string, url: string) => void;
  readonly log?: (
    level: "debug" | "info" | "warn",
    msg: string,
    fields?: Record<string, unknown>,
  ) => void;
}

/** A node's HTTP app and what it holds. */
export interface NodeApp {
  readonly app: Hono;
  /** Releases timers held by the app and closes a partial snapshot's file. */
  close(): Promise<void>;
}

/** Member of the cluster as reported by `GET /status`. */
export interface MemberStatus {
  readonly id: string;
  readonly url: string | null;
  readonly role: "voter" | "learner";
  readonly match: number | null;
  readonly lag: number | null;
}

/**
 * Builds the app.
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * import { NodeMetrics } from "./metrics.ts";
 * import { RaftNode } from "../raft/node.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const node = await RaftNode.start({
 *   id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} },
 *   stateMachine: { apply: (c) => c.map(() => null), snapshot: () => new Uint8Array(), restore: () => {} },
 * });
 * const { app, close } = createApp({ node, clusterId: "c", secret: "s", metrics: new NodeMetrics() });
 * console.assert((await app.request("/health")).status === 200);
 * await close();
 * await node.stop();
 * ```
 */
export function createApp(opts: AppOptions): NodeApp {
  const { node, metrics } = opts;
  const app = new Hono();
  const limitError = (max: number) => (c: import("hono").Context) =>
    c.json({ error: "payload_too_large", message: `Request body exceeds ${max} bytes` }, 413);
  // First, so that preflights are answered before limits, forwarding and routes.
  if (opts.corsOrigins !== undefined && opts.corsOrigins.length > 0) {
    app.use("*", corsMiddleware(opts.corsOrigins));
  }
  if (opts.clientToken !== undefined) app.use("*", clientTokenMiddleware(opts.clientToken));
  const peerMax = opts.maxPeerBodyBytes ?? 512 * 1024 * 1024;
  const clientMax = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  app.use("/raft/messages", bodyLimit({ maxSize: peerMax, onError: limitError(peerMax) }));
  const clientLimit = bodyLimit({ maxSize: clientMax, onError: limitError(clientMax) });
  app.use("*", async (c, next) => {
    if (c.req.path.startsWith("/raft/")) return await next();
    return await clientLimit(c, next);
  });
  app.onError((e, c) => sendError(c, e));
  app.notFound((c) => notFound(c, app.routes));

  const peers = peerRoutes({
    node,
    clusterId: opts.clusterId,
    secret: opts.secret,
    ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
    ...(opts.onPeerUrl !== undefined ? { onPeerUrl: opts.onPeerUrl } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  app.route("/", peers.app);

  app.get(
    "/health",
    (c) =>
      node.stopped ? c.json({ status: "stopped" }, 503) : c.json({ status: "ok", id: node.id }),
  );

  app.get("/ready", (c) => {
    const s = node.status();
    const ready = !node.stopped && s.leader !== "" && s.applied >= s.commit;
    return ready ? c.json({ ready: true, leader: s.leader, applied: s.applied }) : c.json(
      {
        error: "not_ready",
        message: s.leader === "" ? "No leader is known" : "Still applying committed entries",
      },
      503,
      { "retry-after": "1" },
    );
  });

  app.get("/status", (c) => {
    const s = node.status();
    const progress = new Map(s.members.map((m) => [m.id, m]));
    const voters = new Set([...s.confState.voters, ...s.confState.votersOutgoing]);
    const ids = [...new Set([...voters, ...s.confState.learners, ...s.confState.learnersNext])]
      .sort();
    const members: MemberStatus[] = ids.map((id) => {
      const p = progress.get(id);
      return {
        id,
        url: id === node.id ? node.peerUrl(id) ?? null : node.peerUrl(id) ?? null,
        role: voters.has(id) ? "voter" : "learner",
        match: p?.match ?? null,
        lag: p === undefined ? null : s.lastIndex - p.match,
      };
    });
    return c.json({
      id: s.id,
      role: s.role,
      term: s.term,
      leader: s.leader === "" ? null : s.leader,
      leaderUrl: s.leader === "" ? null : node.peerUrl(s.leader) ?? null,
      commit: s.commit,
      applied: s.applied,
      firstIndex: s.firstIndex,
      lastIndex: s.lastIndex,
      members,
    });
  });

  app.get("/metrics", (c) => {
    const s = node.status();
    const text = renderMetrics(metrics, {
      term: s.term,
      commit: s.commit,
      applied: s.applied,
      lastIndex: s.lastIndex,
      isLeader: s.role === "leader",
      hasLeader: s.leader !== "",
    });
    return c.text(text, 200, { "content-type": "text/plain; version=0.0.4" });
  });

  // Membership routes check the secret before forwarding, so they come before generic forwarding.
  app.route("/", memberRoutes({ node, secret: opts.secret }));
  app.route("/", backupRoute({ node, secret: opts.secret, clusterId: opts.clusterId }));
  app.use("*", forwardWrites(node));
  for (const r of opts.routes ?? []) app.route("/", r);
  return { app, close: () => peers.close() };
}
