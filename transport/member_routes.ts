/**
 * Cluster membership administration over HTTP: list members, add a voter or
 * a learner, promote a learner, remove a member. Every route needs the
 * cluster secret (401 without it, checked before anything else); changes are
 * forwarded to the leader like other writes and answer with the resulting
 * membership once the change is applied on the leader.
 *
 * @module
 */

import { bodyText } from "./body_text.ts";
import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { ProposalDroppedError } from "../raft/core/errors.ts";
import type { ConfChangeSingle } from "../raft/core/confchange.ts";
import type { NodeId } from "../raft/core/types.ts";
import type { RaftNode } from "../raft/node.ts";
import { normalizePeerUrl } from "./peer_url.ts";
import { describeIssues } from "./codec.ts";
import { sendError } from "./errors.ts";
import { forwardWrites } from "./forward.ts";
import { secretMatches } from "./peer_routes.ts";
import { SECRET_HEADER } from "./peer_transport.ts";

/** A member of the cluster as `GET /members` reports it. */
export interface Member {
  /** The member's id. */
  readonly id: NodeId;
  /** Where the member serves HTTP, or null when this node does not know. */
  readonly url: string | null;
  /** Whether its vote counts. */
  readonly role: "voter" | "learner";
}

/** Body of every `/members` answer: the membership as this node has applied it. */
export interface MembersBody {
  /** Known leader, or null. */
  readonly leader: NodeId | null;
  /** Every member, voters and learners. */
  readonly members: readonly Member[];
}

/** Options of {@link memberRoutes}. */
export interface MemberRoutesOptions {
  /** The node whose membership the routes change. */
  readonly node: RaftNode<unknown>;
  /** The cluster secret, expected in the `x-raftlog-secret` header. */
  readonly secret: string;
  /**
   * Promotion is refused (409 `not_caught_up`) while the learner is more than
   * this many entries behind the leader's last index. Default 1000.
   */
  readonly maxPromoteLag?: number;
  /** Timeout of one membership change in ms. Default: the node's request timeout. */
  readonly timeoutMs?: number;
}

// Not made of dots only: URLs resolve "." and ".." as path steps, so /members/.. is not one.
const ID_PATTERN = /^(?!\.+$)[A-Za-z0-9_.-]{1,128}$/;

const idSchema = z.string().regex(ID_PATTERN, "must be 1-128 letters, digits, '_', '.' or '-'");
const urlSchema = z.string().transform((s, ctx) => {
  let u: URL | undefined;
  try {
    u = new URL(s);
  } catch {
    // reported below
  }
  if (u === undefined || (u.protocol !== "http:" && u.protocol !== "https:")) {
    ctx.addIssue({ code: "custom", message: `must be an http:// or https:// URL, got "${s}"` });
    return z.NEVER;
  }
  return normalizePeerUrl(s);
});
const addSchema = z.object({
  id: idSchema,
  url: urlSchema,
  role: z.enum(["voter", "learner"]).default("learner"),
});

/**
 * The membership `node` has applied: voters (including those of an outgoing
 * joint configuration) and learners, sorted by id, with their URLs.
 *
 * @example
 * ```ts
 * import { listMembers } from "./member_routes.ts";
 * import { RaftNode } from "../raft/node.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const node = await RaftNode.start({
 *   id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} },
 *   stateMachine: { apply: (c) => c.map(() => null), snapshot: () => new Uint8Array(), restore: () => {} },
 *   peerUrls: { n1: "http://127.0.0.1:7001" },
 * });
 * console.assert(listMembers(node)[0]?.url === "http://127.0.0.1:7001");
 * await node.stop();
 * ```
 */
export function listMembers(node: RaftNode<unknown>): Member[] {
  const cs = node.status().confState;
  const voters = new Set([...cs.voters, ...cs.votersOutgoing]);
  const ids = [...new Set([...voters, ...cs.learners, ...cs.learnersNext])].sort();
  return ids.map((id) => ({
    id,
    url: node.peerUrl(id) ?? null,
    role: voters.has(id) ? "voter" : "learner",
  }));
}

/** How long a leadership transfer may take before the route gives up on it. */
const DEFAULT_TRANSFER_MS = 5_000;

function conflict(code: string, message: string) {
  return { error: code, message };
}

/**
 * Builds `GET /members`, `POST /members`, `POST /members/:id/promote`,
 * `POST /members/:id/transfer-leadership` and `DELETE /members/:id`. Mount
 * it before the app's generic write forwarding: it checks the secret first
 * and forwards changes itself.
 *
 * @example
 * ```ts
 * import { memberRoutes } from "./member_routes.ts";
 * import { RaftNode } from "../raft/node.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const node = await RaftNode.start({
 *   id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} },
 *   stateMachine: { apply: (c) => c.map(() => null), snapshot: () => new Uint8Array(), restore: () => {} },
 * });
 * const app = memberRoutes({ node, secret: "s" });
 * console.assert((await app.request("/members")).status === 401);
 * const res = await app.request("/members", { headers: { "x-raftlog-secret": "s" } });
 * console.assert((await res.json()).members[0].id === "n1");
 * await node.stop();
 * ```
 */
export function memberRoutes(opts: MemberRoutesOptions): Hono {
  const { node } = opts;
  const maxLag = opts.maxPromoteLag ?? 1000;
  const app = new Hono();
  const auth: MiddlewareHandler = async (c, next) => {
    if (!secretMatches(c.req.header(SECRET_HEADER), opts.secret)) {
      return c.json({
        error: "unauthorized",
        message: `Membership requests need the cluster secret in ${SECRET_HEADER}`,
      }, 401);
    }
    await next();
  };
  const forward = forwardWrites(node);
  // "/members/*" also matches "/members" itself.
  app.use("/members/*", auth, forward);

  const body = (): MembersBody => ({
    leader: node.leader === "" ? null : node.leader,
    members: listMembers(node),
  });
  // One change at a time from these routes; Raft refuses a second one until the first applies.
  let busy: string | undefined;
  const change = async (
    what: string,
    changes: ConfChangeSingle[],
    context?: string,
  ): Promise<void> => {
    busy = what;
    try {
      await node.changeMembership(changes, {
        ...(context !== undefined ? { context } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      });
    } finally {
      busy = undefined;
    }
  };
  const inProgress = (): string | undefined => {
    if (busy !== undefined) return `${busy} is in progress`;
    const cs = node.status().confState;
    if (cs.votersOutgoing.length > 0) return "a joint configuration is active";
    return undefined;
  };
  const fail = (c: import("hono").Context, e: unknown): Response => {
    // The core drops a change proposed while an earlier one is not applied yet.
    if (e instanceof ProposalDroppedError && /configuration change/.test(e.message)) {
      return c.json(conflict("change_in_progress", e.message), 409);
    }
    return sendError(c, e);
  };
  const checkId = (id: string): string | undefined =>
    ID_PATTERN.test(id)
      ? undefined
      : `Member id "${id}" is invalid: use 1-128 letters, digits, '_', '.' or '-'`;

  app.get("/members", (c) => c.json(body()));

  app.post("/members", async (c) => {
    let raw: unknown;
    try {
      raw = JSON.parse(await bodyText(c.req));
    } catch (e) {
      return sendError(c, e instanceof SyntaxError ? e : new SyntaxError(String(e)));
    }
    const parsed = addSchema.safeParse(raw);
    if (!parsed.success) {
      const field = parsed.error.issues[0]?.path[0];
      const code = field === "id" ? "invalid_id" : field === "url" ? "invalid_url" : "invalid_body";
      return c.json({ error: code, message: describeIssues(parsed.error) }, 400);
    }
    const { id, url, role } = parsed.data;
    const existing = listMembers(node).find((m) => m.id === id);
    if (existing !== undefined) {
      return c.json(
        {
          ...conflict(
            "member_exists",
            `${id} is already a ${existing.role}${existing.url ? ` at ${existing.url}` : ""}`,
          ),
          member: existing,
        },
        409,
      );
    }
    const busyWith = inProgress();
    if (busyWith !== undefined) {
      return c.json(conflict("change_in_progress", `Cannot add ${id}: ${busyWith}`), 409);
    }
    try {
      await change(`adding ${id}`, [{
        type: role === "voter" ? "addVoter" : "addLearner",
        nodeId: id,
      }], url);
    } catch (e) {
      return fail(c, e);
    }
    return c.json(body(), 201);
  });

  app.post("/members/:id/promote", async (c) => {
    const id = c.req.param("id");
    const bad = checkId(id);
    if (bad !== undefined) return c.json({ error: "invalid_id", message: bad }, 400);
    const member = listMembers(node).find((m) => m.id === id);
    if (member === undefined) {
      return c.json(conflict("not_a_member", `Cannot promote ${id}: it is not a member`), 409);
    }
    if (member.role === "voter") {
      return c.json(conflict("already_voter", `Cannot promote ${id}: it is already a voter`), 409);
    }
    const busyWith = inProgress();
    if (busyWith !== undefined) {
      return c.json(conflict("change_in_progress", `Cannot promote ${id}: ${busyWith}`), 409);
    }
    const s = node.status();
    const progress = s.members.find((m) => m.id === id);
    // Caught up means replicating (it answered appends, so it is reachable) and close to the
    // end of the log: a voter that is neither could cost the cluster its quorum.
    const lagging = progress === undefined || progress.state !== "replicate" ||
      s.lastIndex - progress.match > maxLag;
    if (lagging) {
      const match = progress?.match ?? 0;
      const why = progress?.state !== "replicate"
        ? `the leader has no confirmed replication to it (${progress?.state ?? "no progress"})`
        : `it has entries up to ${match}, the leader's log ends at ${s.lastIndex} (more than ${maxLag} behind)`;
      return c.json(
        {
          ...conflict("not_caught_up", `Cannot promote ${id}: ${why}; retry once it caught up`),
          match,
          lastIndex: s.lastIndex,
        },
        409,
      );
    }
    try {
      await change(`promoting ${id}`, [{ type: "addVoter", nodeId: id }]);
    } catch (e) {
      return fail(c, e);
    }
    return c.json(body());
  });

  // Leadership moves to a voter (etcd's move-leader): before maintenance on the leader's machine.
  app.post("/members/:id/transfer-leadership", async (c) => {
    const id = c.req.param("id");
    const bad = checkId(id);
    if (bad !== undefined) return c.json({ error: "invalid_id", message: bad }, 400);
    const member = listMembers(node).find((m) => m.id === id);
    if (member === undefined) {
      return c.json(
        conflict("not_a_member", `Cannot hand leadership to ${id}: it is not a member`),
        409,
      );
    }
    if (member.role !== "voter") {
      return c.json(
        conflict(
          "not_a_voter",
          `Cannot hand leadership to ${id}: it is a learner (promote it first)`,
        ),
        409,
      );
    }
    if (node.leader !== id) {
      const ms = opts.timeoutMs ?? DEFAULT_TRANSFER_MS;
      const moved = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => done(false), ms);
        const off = node.on("leaderChange", ({ leader }) => {
          if (leader === id) done(true);
        });
        const stopped = node.on("stopped", () => done(false));
        function done(ok: boolean) {
          clearTimeout(timer);
          off();
          stopped();
          resolve(ok);
        }
        node.transferLeadership(id);
      });
      if (!moved) {
        return c.json({
          error: "transfer_failed",
          message:
            `Leadership did not move to ${id} within ${ms} ms (is it reachable and caught up?); ` +
            `the leader is ${node.leader === "" ? "unknown" : node.leader}`,
        }, 504);
      }
    }
    return c.json(body());
  });

  app.delete("/members/:id", async (c) => {
    const id = c.req.param("id");
    const bad = checkId(id);
    if (bad !== undefined) return c.json({ error: "invalid_id", message: bad }, 400);
    if (!listMembers(node).some((m) => m.id === id)) {
      return c.json(conflict("not_a_member", `Cannot remove ${id}: it is not a member`), 409);
    }
    const busyWith = inProgress();
    if (busyWith !== undefined) {
      return c.json(conflict("change_in_progress", `Cannot remove ${id}: ${busyWith}`), 409);
    }
    try {
      await change(`removing ${id}`, [{ type: "removeNode", nodeId: id }]);
    } catch (e) {
      return fail(c, e);
    }
    return c.json(body());
  });
  return app;
}
