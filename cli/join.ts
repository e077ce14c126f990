/**
 * `raftlog join`: a new node asks a running cluster to add it as a learner,
 * serves while it catches up from the leader, then asks to be promoted to
 * voter. A node whose data directory already has state never asks to be
 * added again.
 *
 * @module
 */

import type { RaftNode } from "../raft/node.ts";
import { type MemberClient, MemberRequestError } from "../transport/member_client.ts";
import type { MembersBody } from "../transport/member_routes.ts";
import { normalizePeerUrl } from "../transport/peer_url.ts";
import { UsageError } from "./usage_error.ts";

/** The options `join` has beyond those of `serve`. */
export interface JoinArgs {
  /** URLs of members to ask (any member: followers forward to the leader). */
  readonly cluster: readonly string[];
  /** Stay a learner: do not ask for promotion. */
  readonly learner: boolean;
  /** The URL other members reach this node at; default `http://` + `--listen`. */
  readonly url: string | undefined;
  /** The remaining arguments, as `serve` takes them. */
  readonly serveArgs: readonly string[];
}

function httpUrl(flag: string, v: string): string {
  let u: URL | undefined;
  try {
    u = new URL(v);
  } catch {
    // reported below
  }
  if (u === undefined || (u.protocol !== "http:" && u.protocol !== "https:")) {
    throw new UsageError(`${flag} must be an http:// or https:// URL, got "${v}"`);
  }
  return normalizePeerUrl(v);
}

/**
 * Takes `--cluster URL[,URL...]`, `--learner` and `--url URL` out of the
 * arguments of `join`; the rest are `serve` arguments. `--peers` is refused:
 * a joining node learns its peers from the cluster.
 *
 * @example
 * ```ts
 * import { splitJoinArgs } from "./join.ts";
 * const j = splitJoinArgs(["--id", "n4", "--cluster", "http://127.0.0.1:7001/", "--learner"]);
 * console.assert(j.cluster[0] === "http://127.0.0.1:7001" && j.learner && j.serveArgs.length === 2);
 * ```
 */
export function splitJoinArgs(args: readonly string[]): JoinArgs {
  const cluster: string[] = [];
  let learner = false;
  let url: string | undefined;
  const serveArgs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const value = () => {
      if (eq > 0 && name !== arg) return arg.slice(eq + 1);
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (name === "--cluster") {
      for (const u of value().split(",").map((s) => s.trim()).filter((s) => s !== "")) {
        cluster.push(httpUrl("--cluster", u));
      }
    } else if (name === "--url") url = httpUrl("--url", value());
    else if (arg === "--learner") learner = true;
    else if (name === "--peers") {
      throw new UsageError("join learns its peers from the cluster: give --cluster, not --peers");
    } else serveArgs.push(arg);
  }
  if (cluster.length === 0) {
    throw new UsageError("join needs --cluster URL: the address of a member of the cluster");
  }
  return { cluster, learner, url, serveArgs };
}

type Log = (
  level: "debug" | "info" | "warn" | "error",
  msg: string,
  fields?: Record<string, unknown>,
) => void;

/** How long `join` keeps retrying a request the cluster cannot answer yet. */
const DEFAULT_DEADLINE_MS = 60_000;

async function retrying<T>(
  what: string,
  fn: () => Promise<T>,
  opts: { deadlineMs: number; stopped?: () => boolean; log?: Log },
): Promise<T> {
  const deadline = Date.now() + opts.deadlineMs;
  let pause = 100;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      const transient = e instanceof MemberRequestError && e.transient;
      if (!transient || Date.now() + pause > deadline || opts.stopped?.()) throw e;
      opts.log?.("debug", `${what}: retrying`, { error: e.message });
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 2000);
  }
}

/**
 * The cluster's membership, retrying while no member answers or none knows
 * a leader, for up to `deadlineMs` (default 60 s).
 *
 * @example
 * ```ts
 * import { fetchMembers } from "./join.ts";
 * import { MemberClient } from "../transport/member_client.ts";
 * const client = new MemberClient({
 *   urls: "http://127.0.0.1:7001", secret: "s",
 *   fetch: () => Promise.resolve(Response.json({ leader: "n1", members: [] })),
 * });
 * console.assert((await fetchMembers(client)).leader === "n1");
 * ```
 */
export function fetchMembers(
  client: MemberClient,
  opts: { deadlineMs?: number; log?: Log } = {},
): Promise<MembersBody> {
  return retrying("listing members", () => client.list(), {
    deadlineMs: opts.deadlineMs ?? DEFAULT_DEADLINE_MS,
    ...(opts.log ? { log: opts.log } : {}),
  });
}

/** Options of {@link joinCluster}. */
export interface JoinOptions {
  /** This node, already serving at `url`. */
  readonly node: RaftNode<unknown>;
  readonly client: MemberClient;
  /** The URL the other members reach this node at. */
  readonly url: string;
  /** Stay a learner. */
  readonly learner: boolean;
  /** The data directory had state when the node started: never ask to be added. */
  readonly hadState: boolean;
  /** The cluster's membership, if already fetched. */
  readonly members?: MembersBody;
  /** How long to retry each request the cluster cannot answer yet, in ms. Default 60,000. */
  readonly deadlineMs?: number;
  readonly log?: Log;
}

/** What {@link joinCluster} did. */
export type JoinOutcome = "voter" | "learner" | "not_a_member" | "stopped";

/**
 * Makes a serving node a member: adds it as a learner (unless the cluster
 * lists it already, or its data directory had state), waits until it has
 * applied everything the leader committed (a read index, Raft thesis §6.4),
 * then promotes it to voter unless `learner`. Rejects when the cluster
 * refuses (e.g. the id is a member at another URL, or a wrong secret).
 *
 * @example
 * ```ts
 * import { joinCluster } from "./join.ts";
 * import { MemberClient } from "../transport/member_client.ts";
 * import { RaftNode } from "../raft/node.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const node = await RaftNode.start({
 *   id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} },
 *   stateMachine: { apply: (c) => c.map(() => null), snapshot: () => new Uint8Array(), restore: () => {} },
 * });
 * const members = { leader: "n1", members: [{ id: "n1", url: "http://h:1", role: "voter" as const }] };
 * const client = new MemberClient({ urls: "http://h:1", secret: "s" });
 * const outcome = await joinCluster({ node, client, url: "http://h:1", learner: false, hadState: true, members });
 * console.assert(outcome === "voter");
 * await node.stop();
 * ```
 */
export async function joinCluster(opts: JoinOptions): Promise<JoinOutcome> {
  const { node, client, log } = opts;
  const id = node.id;
  const retry = { deadlineMs: opts.deadlineMs ?? DEFAULT_DEADLINE_MS, stopped: () => node.stopped };
  const withLog = log ? { ...retry, log } : retry;
  let members = opts.members ?? await retrying("listing members", () => client.list(), withLog);
  // URLs compare in one form (members stored before URLs were normalized may differ in case).
  const url = normalizePeerUrl(opts.url);
  const sameUrl = (u: string | null) => u === null || normalizePeerUrl(u) === url;
  let me = members.members.find((m) => m.id === id);
  if (me !== undefined && !sameUrl(me.url)) {
    throw new Error(
      `${id} is already a member of the cluster at ${me.url}, not ${opts.url}: ` +
        `remove it first (raftlog leave) or join from that address`,
    );
  }
  if (me !== undefined && me.role === "voter" && !opts.hadState) {
    // A voter that lost its data forgot its votes and its log: letting it back would allow two
    // votes in one term (Raft §5.2), and a quorum could lose acknowledged entries.
    throw new Error(
      `${id} is a voter of the cluster but this data directory is empty: ` +
        `remove it first (raftlog leave) and join again, or restore its data directory`,
    );
  }
  if (me === undefined) {
    if (opts.hadState) {
      log?.("warn", "this node is not a member of the cluster (removed?); not rejoining", {});
      return "not_a_member";
    }
    log?.("info", "asking the cluster to add this node as a learner", { url: opts.url });
    try {
      members = await retrying(
        "adding this node",
        () => client.add({ id, url: opts.url, role: "learner" }),
        withLog,
      );
    } catch (e) {
      // A retried request whose first attempt got through finds the member already there.
      if (!(e instanceof MemberRequestError && e.code === "member_exists")) throw e;
      members = await retrying("listing members", () => client.list(), withLog);
    }
    me = members.members.find((m) => m.id === id);
    if (me === undefined || !sameUrl(me.url)) {
      throw new Error(`The cluster did not add ${id} at ${opts.url}: ${JSON.stringify(members)}`);
    }
    log?.("info", "added to the cluster as a learner", {});
  }
  if (me.role === "voter") return "voter";
  if (opts.learner) return "learner";

  log?.("info", "catching up before asking for promotion", {});
  if (!(await caughtUp(node, log))) return "stopped";
  log?.("info", "caught up; asking to be promoted to voter", { applied: node.applied });
  try {
    await retrying("promoting this node", () => client.promote(id), withLog);
  } catch (e) {
    if (!(e instanceof MemberRequestError && e.code === "already_voter")) throw e;
  }
  log?.("info", "promoted to voter", {});
  return "voter";
}

/**
 * Resolves true once `node` knows it is a member and has applied a read
 * index from the leader (everything committed before the call), false if
 * the node stopped first. Says every 10 s that it is still waiting: a node
 * the leader cannot reach (wrong `--cluster-id`, `--url` not reachable)
 * never catches up.
 */
async function caughtUp(node: RaftNode<unknown>, log?: Log): Promise<boolean> {
  let nextNote = Date.now() + 10_000;
  while (!node.stopped) {
    if (Date.now() >= nextNote) {
      nextNote = Date.now() + 10_000;
      log?.("warn", "still catching up; is this node reachable from the leader?", {
        leader: node.leader,
        applied: node.applied,
      });
    }
    const cs = node.status().confState;
    if ([...cs.voters, ...cs.learners, ...cs.learnersNext].includes(node.id)) {
      try {
        await node.readIndex({ timeoutMs: 5000 });
        return true;
      } catch {
        // No leader yet, or the round timed out: try again.
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
