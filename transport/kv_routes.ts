/**
 * Client routes of the built-in key-value example: `POST /commands` and
 * `GET /kv/:key` with read consistency levels.
 *
 * @module
 */

import { Hono } from "hono";
import { z } from "zod";
import { NotLeaderError } from "../raft/core/errors.ts";
import type { RaftNode } from "../raft/node.ts";
import {
  encodeKvCommand,
  type KvResult,
  type KvStateMachine,
} from "../raft/testing/kv_state_machine.ts";
import { describeIssues } from "./codec.ts";
import { badRequest, sendError } from "./errors.ts";
import type { NodeMetrics } from "./metrics.ts";

const key = z.string().min(1).max(1024);
const commandSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("put"), key, value: z.string() }),
  z.object({ op: z.literal("append"), key, value: z.string() }),
  z.object({ op: z.literal("delete"), key }),
  z.object({ op: z.literal("cas"), key, expected: z.string().nullable(), value: z.string() }),
]);

/** Read consistency: see the README's "Reads" section. */
export type Consistency = "local" | "leader" | "linearizable";

/**
 * Waits until a read at `consistency` may be served from this node's state.
 * Throws `NotLeaderError` for `leader` on a follower.
 */
export async function readBarrier(
  node: RaftNode<unknown>,
  consistency: Consistency,
): Promise<void> {
  if (consistency === "linearizable") await node.readIndex();
  else if (consistency === "leader" && node.role !== "leader") {
    throw new NotLeaderError(node.id, node.leader);
  }
}

/** Parses `consistency=`; undefined when invalid. */
export function parseConsistency(v: string | undefined): Consistency | undefined {
  if (v === undefined || v === "") return "linearizable";
  return v === "local" || v === "leader" || v === "linearizable" ? v : undefined;
}

/**
 * Routes over a node running a {@link KvStateMachine}.
 *
 * @example
 * ```ts
 * import { kvRoutes } from "./kv_routes.ts";
 * import { NodeMetrics } from "./metrics.ts";
 * import { RaftNode } from "../raft/node.ts";
 * import { KvStateMachine } from "../raft/testing/kv_state_machine.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const kv = new KvStateMachine();
 * const node = await RaftNode.start({ id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} }, stateMachine: kv, tickMs: 5 });
 * await node.waitForLeader(2000);
 * const app = kvRoutes(node, kv, new NodeMetrics());
 * const res = await app.request("/commands", { method: "POST", body: JSON.stringify({ op: "put", key: "a", value: "1" }) });
 * console.assert(res.status === 200);
 * await node.stop();
 * ```
 */
export function kvRoutes(node: RaftNode<KvResult>, kv: KvStateMachine, metrics: NodeMetrics): Hono {
  const app = new Hono();
  app.post("/commands", async (c) => {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch (e) {
      return sendError(c, e);
    }
    const parsed = commandSchema.safeParse(raw);
    if (!parsed.success) return badRequest(c, "invalid_command", describeIssues(parsed.error));
    const start = performance.now();
    metrics.proposals++;
    try {
      const result = await node.propose(encodeKvCommand(parsed.data));
      metrics.proposalSeconds.observe((performance.now() - start) / 1000);
      return c.json(result, result.ok ? 200 : 409);
    } catch (e) {
      metrics.proposalsFailed++;
      return sendError(c, e);
    }
  });
  app.get("/kv/:key", async (c) => {
    const consistency = parseConsistency(c.req.query("consistency"));
    if (consistency === undefined) {
      return badRequest(c, "invalid_query", "consistency must be local, leader or linearizable");
    }
    try {
      await readBarrier(node as RaftNode<unknown>, consistency);
    } catch (e) {
      return sendError(c, e);
    }
    const k = c.req.param("key");
    const value = kv.get(k);
    if (value === null) {
      return c.json({ error: "not_found", message: `Key ${k} does not exist` }, 404);
    }
    return c.json({ key: k, value, applied: kv.appliedIndex });
  });
  return app;
}
