/**
 * Peer routes under `/raft/`: batches of Raft messages from other nodes.
 * Every request must carry the cluster secret; without it the answer is 401
 * and nothing reaches Raft.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import type { Message } from "../raft/core/types.ts";
import type { RaftNode } from "../raft/node.ts";
import { decodeBatch } from "./codec.ts";
import { sendError } from "./errors.ts";
import { SECRET_HEADER } from "./peer_transport.ts";
import { Reorderer } from "./reorder.ts";

/** True when `given` equals `secret`, in time independent of where they differ. */
export function secretMatches(given: string | undefined, secret: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given), b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Options of {@link peerRoutes}. */
export interface PeerRouteOptions {
  readonly node: RaftNode<unknown>;
  readonly clusterId: string;
  readonly secret: string;
  readonly log?: (
    level: "debug" | "info" | "warn",
    msg: string,
    fields?: Record<string, unknown>,
  ) => void;
}

/** Peer routes and the resources they hold. */
export interface PeerRoutes {
  readonly app: Hono;
  /** Cancels timers of the reorder buffer. */
  close(): void;
}

/**
 * Builds the `/raft/messages` route.
 *
 * @example
 * ```ts
 * import { peerRoutes } from "./peer_routes.ts";
 * import { RaftNode } from "../raft/node.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const node = await RaftNode.start({
 *   id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} },
 *   stateMachine: { apply: (c) => c.map(() => null), snapshot: () => new Uint8Array(), restore: () => {} },
 * });
 * const peers = peerRoutes({ node, clusterId: "c", secret: "s" });
 * const res = await peers.app.request("/raft/messages", { method: "POST", body: "{}" });
 * console.assert(res.status === 401);
 * peers.close();
 * await node.stop();
 * ```
 */
export function peerRoutes(opts: PeerRouteOptions): PeerRoutes {
  const { node } = opts;
  const reorder = new Reorderer<Message[]>((_, msgs) => {
    for (const m of msgs) {
      try {
        node.step(m);
      } catch (e) {
        opts.log?.("warn", "message rejected by raft", {
          from: m.from,
          type: m.type,
          error: String(e),
        });
      }
    }
  });
  const app = new Hono();
  app.use("/raft/*", async (c, next) => {
    if (!secretMatches(c.req.header(SECRET_HEADER), opts.secret)) {
      return c.json({
        error: "unauthorized",
        message: `Peer requests need the cluster secret in ${SECRET_HEADER}`,
      }, 401);
    }
    await next();
  });
  app.post("/raft/messages", async (c) => {
    let batch;
    try {
      batch = decodeBatch(await c.req.json());
    } catch (e) {
      return sendError(c, e);
    }
    if (batch.clusterId !== opts.clusterId) {
      return c.json(
        {
          error: "cluster_mismatch",
          message:
            `Message from cluster ${batch.clusterId} rejected by a node of cluster ${opts.clusterId}`,
        },
        403,
      );
    }
    for (const m of batch.messages) {
      if (m.from !== batch.from || m.to !== node.id) {
        return c.json({
          error: "invalid_message",
          message: `Message ${m.from} -> ${m.to} in a batch from ${batch.from} to ${node.id}`,
        }, 400);
      }
    }
    reorder.accept(batch.from, batch.boot, batch.seq, batch.messages);
    return c.body(null, 204);
  });
  return { app, close: () => reorder.close() };
}
