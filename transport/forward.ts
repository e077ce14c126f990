/**
 * Leader forwarding for client writes: a follower proxies the request to the
 * leader (default) or answers 307 with `Location` when `?redirect=true`;
 * with no leader it answers 503 with `Retry-After`. When the proxied request
 * breaks after it may have reached the leader, the answer is 502
 * `forward_failed`: the write's outcome is unknown (retry idempotently).
 * The leader refuses writes forwarded by a node it does not list (403
 * `not_a_member`: a member removed while cut off, which never heard of it),
 * and that node answers its client 503 `removed`.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { membersOf as allMembersOf } from "../raft/core/conf_state.ts";
import type { RaftNode } from "../raft/node.ts";

/** Header marking a request a follower already forwarded (prevents loops). */
export const FORWARDED_HEADER = "x-raftlog-forwarded-by";

/**
 * Middleware for write routes.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { forwardWrites } from "./forward.ts";
 * import { RaftNode } from "../raft/node.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const node = await RaftNode.start({
 *   id: "n1", storage: MemoryStorage.withVoters(["n1", "n2", "n3"]), transport: { send() {} },
 *   stateMachine: { apply: (c) => c.map(() => null), snapshot: () => new Uint8Array(), restore: () => {} },
 * });
 * const app = new Hono().use(forwardWrites(node)).post("/x", (c) => c.text("ok"));
 * const res = await app.request("/x", { method: "POST" });
 * console.assert(res.status === 503);
 * await node.stop();
 * ```
 */
export function forwardWrites(node: RaftNode<unknown>): MiddlewareHandler {
  return async (c, next) => {
    const method = c.req.method;
    if (
      method === "GET" || method === "HEAD" || method === "OPTIONS" ||
      c.req.path.startsWith("/raft/")
    ) {
      return await next();
    }
    if (node.removed) {
      return c.json(
        {
          error: "removed",
          message: `Node ${node.id} was removed from the cluster; send requests to a member`,
          members: membersOf(node),
        },
        503,
      );
    }
    if (node.role === "leader") {
      // A node the leader does not list forwards writes only when it missed its removal (a
      // learner removed while cut off never hears of it): it learns so here, nothing is written.
      const by = c.req.header(FORWARDED_HEADER);
      if (by !== undefined && by !== node.id && !listed(node, by)) {
        return c.json(
          {
            error: "not_a_member",
            message:
              `Node ${by} forwarded this write but is not a member of the cluster; nothing was written`,
            members: membersOf(node),
          },
          403,
        );
      }
      return await next();
    }
    const leader = node.leader;
    const url = leader === "" ? undefined : node.peerUrl(leader);
    if (leader === "" || url === undefined || c.req.header(FORWARDED_HEADER) !== undefined) {
      return c.json(
        {
          error: "no_leader",
          message: leader === ""
            ? "No leader is known; retry shortly"
            : `Leader ${leader} is not reachable from here`,
        },
        503,
        { "retry-after": "1" },
      );
    }
    const target = new URL(c.req.url);
    const dest = `${url}${target.pathname}${target.search}`;
    if (target.searchParams.get("redirect") === "true") {
      return c.body(null, 307, { location: dest });
    }
    const headers = new Headers(c.req.raw.headers);
    headers.delete("host");
    headers.delete("content-length");
    headers.set(FORWARDED_HEADER, node.id);
    try {
      const body = await c.req.arrayBuffer();
      // The leader answers within its own request timeout; a leader that cannot be reached (a
      // one-way partition drops its packets) must not hold the request for TCP's minutes.
      const res = await fetch(dest, {
        method,
        headers,
        body: body.byteLength > 0 ? body : null,
        signal: AbortSignal.timeout(node.requestTimeoutMs * 1.5),
      });
      const out = new Headers(res.headers);
      out.delete("content-length");
      out.delete("transfer-encoding");
      if (res.status === 403) {
        const text = await res.text();
        const refusal = parseJson(text);
        if (refusal?.error === "not_a_member") {
          return c.json(
            {
              error: "removed",
              message: `Node ${node.id} was removed from the cluster (leader ${leader} ` +
                `does not list it); send requests to a member`,
              members: Array.isArray(refusal.members) ? refusal.members : [],
            },
            503,
          );
        }
        return new Response(text, { status: res.status, headers: out });
      }
      if (res.status === 503) {
        // A leader that was just removed says so about itself: for this node's client, there is
        // no leader yet (the remaining voters elect one).
        const text = await res.text();
        if (errorCode(text) === "removed") {
          return c.json(
            {
              error: "no_leader",
              message: `Leader ${leader} was removed from the cluster; retry shortly`,
            },
            503,
            { "retry-after": "1" },
          );
        }
        return new Response(text, { status: res.status, headers: out });
      }
      return new Response(res.body, { status: res.status, headers: out });
    } catch (e) {
      const detail = `${e instanceof Error ? e.message : e}${
        e instanceof Error && e.cause !== undefined ? `: ${e.cause}` : ""
      }`;
      // Even "connection refused" can follow an attempt on a pooled connection that delivered
      // the request before the leader died, so the outcome is never known here.
      return c.json(
        {
          error: "forward_failed",
          message: `Forwarding to leader ${leader} failed; the outcome is unknown: ${detail}`,
        },
        502,
      );
    }
  };
}

/** A JSON error body (`error` a string), or undefined. */
function parseJson(text: string): { error: string; members?: unknown } | undefined {
  try {
    const body = JSON.parse(text);
    return typeof body?.error === "string" ? body : undefined;
  } catch {
    return undefined;
  }
}

/** The `error` field of a JSON error body, if it has one. */
function errorCode(text: string): string | undefined {
  return parseJson(text)?.error;
}

/** Whether the node's membership lists `id` (either half of a joint one, learners too). */
function listed(node: RaftNode<unknown>, id: string): boolean {
  return allMembersOf(node.status().confState).has(id);
}

/** The members the node knows, with the URLs it has for them. */
function membersOf(node: RaftNode<unknown>): { id: string; url: string | null }[] {
  const cs = node.status().confState;
  return [...new Set([...cs.voters, ...cs.learners])].map((id) => ({
    id,
    url: node.peerUrl(id) ?? null,
  }));
}
