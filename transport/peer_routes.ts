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
import { decodeBatch, decodeMessage, MessageFormatError } from "./codec.ts";
import { sendError } from "./errors.ts";
import { CLUSTER_HEADER, FROM_HEADER, SECRET_HEADER } from "./peer_transport.ts";
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
  /** Longest line accepted on a peer stream. Default 512 MiB. */
  readonly maxLineBytes?: number;
}

/** Peer routes and the resources they hold. */
export interface PeerRoutes {
  readonly app: Hono;
  /** Cancels timers of the reorder buffer and ends open peer streams. */
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
  const streams = new Set<ReadableStreamDefaultReader<string>>();
  const maxLine = opts.maxLineBytes ?? 512 * 1024 * 1024;
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
  const reorder = new Reorderer<Message[]>((_, msgs) => stepAll(msgs));
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
  // A long-lived stream of JSON lines, each an array of messages, from one peer (in order).
  app.post("/raft/stream", async (c) => {
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
    const body = c.req.raw.body;
    if (body === null || from === "") {
      return c.json({
        error: "invalid_message",
        message: `A peer stream needs a body and ${FROM_HEADER}`,
      }, 400);
    }
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    streams.add(reader);
    // Chunks of the line being received; only new chunks are searched for its end.
    let parts: string[] = [];
    let partsLength = 0;
    const handleLine = (line: string) => {
      if (line.length === 0) return;
      const raw = JSON.parse(line);
      if (!Array.isArray(raw)) {
        throw new MessageFormatError("a stream line must be a JSON array of messages");
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
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        let chunk = value;
        let nl: number;
        while ((nl = chunk.indexOf("\n")) >= 0) {
          parts.push(chunk.slice(0, nl));
          handleLine(parts.length === 1 ? parts[0]! : parts.join(""));
          parts = [];
          partsLength = 0;
          chunk = chunk.slice(nl + 1);
        }
        if (chunk.length > 0) {
          parts.push(chunk);
          partsLength += chunk.length;
        }
        if (partsLength > maxLine) {
          return c.json({
            error: "payload_too_large",
            message: `Stream line exceeds ${maxLine} bytes`,
          }, 413);
        }
      }
    } catch (e) {
      if (e instanceof MessageFormatError || e instanceof SyntaxError) return sendError(c, e);
      // Otherwise the sender went away or this server is closing: nothing to answer.
    } finally {
      streams.delete(reader);
      reader.cancel().catch(() => {});
    }
    return c.body(null, 204);
  });
  return {
    app,
    close: () => {
      reorder.close();
      for (const r of streams) r.cancel().catch(() => {});
      streams.clear();
    },
  };
}
