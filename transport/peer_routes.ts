/**
 * Peer routes under `/raft/`: `GET /raft/ws`, the WebSocket each peer keeps
 * open to this node (one JSON array of messages per text frame, in order),
 * and `POST /raft/messages`, batches sent as requests (snapshots, oversized
 * batches), and `PUT /raft/snapshot`, InstallSnapshot in chunks (see
 * snapshot_chunks.ts). Every request must carry the cluster secret; without
 * it the answer is 401 and nothing reaches Raft.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import type { Message } from "../raft/core/types.ts";
import type { RaftNode } from "../raft/node.ts";
import { decodeBatch, decodeMessage, MessageFormatError } from "./codec.ts";
import { sendError } from "./errors.ts";
import { CLUSTER_HEADER, FROM_HEADER, SECRET_HEADER, URL_HEADER } from "./peer_transport.ts";
import { Reorderer } from "./reorder.ts";
import {
  OFFSET_HEADER,
  SNAPSHOT_HEADER,
  SnapshotReceiver,
  SnapshotSupersededError,
} from "./snapshot_chunks.ts";

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
  /**
   * A peer stream that brings nothing for this long is closed (the peer
   * reconnects when it has something to send). Default 60 s.
   */
  readonly idleMs?: number;
  /**
   * The node's data directory: a snapshot arriving in chunks is kept there
   * (`snapshot.partial`) so that a restart resumes the transfer where it
   * stopped. Without it, a partial snapshot is held in memory and lost on
   * restart.
   */
  readonly dataDir?: string;
  /**
   * Called with the sender's id and URL when a peer stream opens with its
   * URL (`x-raftlog-url`), so that answers can reach a sender that is not a
   * member here yet or any more (see `HttpTransport.learnPeerUrl`).
   */
  readonly onPeerUrl?: (id: string, url: string) => void;
  readonly log?: (
    level: "debug" | "info" | "warn",
    msg: string,
    fields?: Record<string, unknown>,
  ) => void;
}

/** Peer routes and the resources they hold. */
export interface PeerRoutes {
  readonly app: Hono;
  /**
   * Cancels timers of the reorder buffer, ends open peer streams and lets
   * go of a partial snapshot (one in the data directory stays for the next
   * run); resolves once its file is closed.
   */
  close(): Promise<void>;
}

/**
 * Builds the `/raft/ws` and `/raft/messages` routes.
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
 * await peers.close();
 * await node.stop();
 * ```
 */
export function peerRoutes(opts: PeerRouteOptions): PeerRoutes {
  const { node } = opts;
  // Open peer streams and when each last brought a frame. Idleness is checked by one timer
  // for all of them, not Deno's per-socket idle timer, which is re-armed on every frame.
  const sockets = new Map<WebSocket, number>();
  const idleMs = opts.idleMs ?? 60_000;
  let sweeper: ReturnType<typeof setInterval> | undefined;
  // Once closed (the node is stopping), no new stream is taken: it would outlive the routes.
  let closed = false;
  const sweep = () => {
    const now = Date.now();
    for (const [socket, seen] of sockets) {
      if (now - seen >= idleMs) {
        sockets.delete(socket);
        socket.close(1001, "idle");
      }
    }
    if (sockets.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  const stepAll = (msgs: readonly Message[]) => {
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
  };
  const handleFrame = (from: string, frame: string) => {
    const raw = JSON.parse(frame);
    if (!Array.isArray(raw)) {
      throw new MessageFormatError("a stream frame must be a JSON array of messages");
    }
    const msgs = raw.map(decodeMessage);
    for (const m of msgs) {
      if (m.from !== from || m.to !== node.id) {
        throw new MessageFormatError(
          `message ${m.from} -> ${m.to} on a stream from ${from} to ${node.id}`,
        );
      }
    }
    stepAll(msgs);
  };
  const reorder = new Reorderer<Message[]>((_, msgs) => stepAll(msgs));
  const snapshots: SnapshotReceiver = new SnapshotReceiver(node.id, (m) => {
    stepAll([m]);
    if (opts.dataDir === undefined || m.type !== "snap") return;
    // The snapshot's file goes once it is installed (until then a restart hands it over again).
    node.waitForApplied(m.snapshot.metadata.index, { timeoutMs: 10 * 60_000 })
      .then(() => snapshots.sweep())
      .catch(() => {});
  }, {
    ...(opts.dataDir !== undefined ? { dir: opts.dataDir } : {}),
    appliedIndex: () => node.status().applied,
    ...(opts.log ? { log: opts.log } : {}),
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
  // InstallSnapshot in chunks (see snapshot_chunks.ts).
  app.put("/raft/snapshot", async (c) => {
    const cluster = c.req.header(CLUSTER_HEADER);
    if (cluster !== opts.clusterId) {
      return c.json({
        error: "cluster_mismatch",
        message: `Snapshot from cluster ${cluster} rejected by a node of cluster ${opts.clusterId}`,
      }, 403);
    }
    const from = c.req.header(FROM_HEADER) ?? "";
    if (from === "") {
      return c.json(
        { error: "invalid_message", message: `A snapshot chunk needs ${FROM_HEADER}` },
        400,
      );
    }
    try {
      return c.json(
        await snapshots.accept({
          from,
          snapshot: c.req.header(SNAPSHOT_HEADER),
          offset: c.req.header(OFFSET_HEADER),
          body: c.req.raw.body,
        }),
      );
    } catch (e) {
      if (e instanceof RangeError) {
        return c.json({ error: "payload_too_large", message: e.message }, 413);
      }
      if (e instanceof SnapshotSupersededError) {
        return c.json({ error: "snapshot_superseded", message: e.message }, 409);
      }
      return sendError(c, e);
    }
  });
  // A long-lived WebSocket from one peer: each text frame is a JSON array of messages, in order.
  app.get("/raft/ws", (c) => {
    const from = c.req.header(FROM_HEADER) ?? "";
    const cluster = c.req.header(CLUSTER_HEADER);
    if (cluster !== opts.clusterId) {
      return c.json(
        {
          error: "cluster_mismatch",
          message: `Stream from cluster ${cluster} rejected by a node of cluster ${opts.clusterId}`,
        },
        403,
      );
    }
    if (closed) {
      return c.json({ error: "stopped", message: "This node is stopping" }, 503, {
        "retry-after": "1",
      });
    }
    if (from === "" || c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return c.json({
        error: "invalid_message",
        message: `A peer stream is a WebSocket upgrade with ${FROM_HEADER}`,
      }, 400);
    }
    const senderUrl = c.req.header(URL_HEADER);
    if (senderUrl !== undefined && senderUrl !== "") opts.onPeerUrl?.(from, senderUrl);
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw, { idleTimeout: 0 });
    sockets.set(socket, Date.now());
    sweeper ??= setInterval(sweep, Math.max(10, idleMs / 4));
    socket.onmessage = (e) => {
      if (socket.readyState !== WebSocket.OPEN) return;
      if (sockets.has(socket)) sockets.set(socket, Date.now());
      try {
        handleFrame(from, typeof e.data === "string" ? e.data : String(e.data));
      } catch (err) {
        // A peer that sends garbage is cut off; it reconnects with backoff.
        opts.log?.("warn", "peer stream closed: malformed frame", {
          from,
          error: String(err),
        });
        socket.close(1007, String(err).slice(0, 120));
      }
    };
    socket.onclose = () => sockets.delete(socket);
    return response;
  });
  return {
    app,
    close: () => {
      closed = true;
      reorder.close();
      clearInterval(sweeper);
      sweeper = undefined;
      for (const s of sockets.keys()) s.close(1001);
      sockets.clear();
      return snapshots.close();
    },
  };
}
