/**
 * Client routes of the built-in key-value example: `POST /commands` and
 * `GET /kv/:key` with read consistency levels.
 *
 * @module
 */

import { bodyText } from "./body_text.ts";
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
import { badRequest, errorBody, sendError } from "./errors.ts";
import { type FastRoute, jsonResponse } from "./fast_route.ts";
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
    const url = node.leader === "" ? undefined : node.peerUrl(node.leader);
    throw new NotLeaderError(node.id, node.leader, url === undefined ? {} : { url });
  }
}

/** Parses `consistency=`; undefined when invalid. */
export function parseConsistency(v: string | undefined): Consistency | undefined {
  if (v === undefined || v === "") return "linearizable";
  return v === "local" || v === "leader" || v === "linearizable" ? v : undefined;
}

/** `POST /commands`, for the Hono route and the fast route alike. */
async function commandResponse(
  node: RaftNode<KvResult>,
  metrics: NodeMetrics,
  text: string,
): Promise<Response> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const { status, body } = errorBody(e);
    return jsonResponse(body, status);
  }
  const parsed = commandSchema.safeParse(raw);
  if (!parsed.success) {
    return jsonResponse(
      { error: "invalid_command", message: describeIssues(parsed.error) },
      400,
    );
  }
  const start = performance.now();
  metrics.proposals++;
  try {
    const result = await node.propose(encodeKvCommand(parsed.data));
    metrics.proposalSeconds.observe((performance.now() - start) / 1000);
    return jsonResponse(result, result.ok ? 200 : 409);
  } catch (e) {
    metrics.proposalsFailed++;
    const { status, body, headers } = errorBody(e);
    return jsonResponse(body, status, headers);
  }
}

/**
 * The fast route of `POST /commands` on the leader: the same answers as
 * {@link kvRoutes} without the Hono app's routing and middleware; requests
 * on followers are left to the app, which forwards them.
 *
 * @example
 * ```ts
 * import { kvFastCommand } from "./kv_routes.ts";
 * import { NodeMetrics } from "./metrics.ts";
 * import { RaftNode } from "../raft/node.ts";
 * import { KvStateMachine } from "../raft/testing/kv_state_machine.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const node = await RaftNode.start({ id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} }, stateMachine: new KvStateMachine(), tickMs: 5 });
 * await node.waitForLeader(2000);
 * const route = kvFastCommand(node, new NodeMetrics());
 * const req = new Request("http://h/commands", { method: "POST", body: '{"op":"delete","key":"a"}' });
 * console.assert((await route(req, "/commands"))?.status === 200);
 * await node.stop();
 * ```
 */
export function kvFastCommand(node: RaftNode<KvResult>, metrics: NodeMetrics): FastRoute {
  return (req, path) =>
    req.method === "POST" && path === "/commands" && node.role === "leader"
      ? bodyText(req).then(
        (text) => commandResponse(node, metrics, text),
        (e) => {
          const { status, body } = errorBody(e);
          return jsonResponse(body, status);
        },
      )
      : undefined;
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
    let text: string;
    try {
      text = await bodyText(c.req);
    } catch (e) {
      return sendError(c, e);
    }
    return commandResponse(node, metrics, text);
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
