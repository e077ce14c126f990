/**
 * Errors raised by the Raft core. Expected outcomes are typed so callers can
 * catch them; a broken invariant throws {@link RaftInvariantError}.
 *
 * @module
 */

import type { NodeId } from "./types.ts";

/**
 * A proposal or request reached a node that is not the leader.
 *
 * @example
 * ```ts
 * import { NotLeaderError } from "./errors.ts";
 * const err = new NotLeaderError("n2", "n1");
 * if (!(err.leaderHint === "n1")) throw new Error("unexpected result");
 * ```
 */
export class NotLeaderError extends Error {
  /** The leader this node knows of, or "" when it knows none. */
  readonly leaderHint: NodeId;
  /** The node that refused. */
  readonly nodeId: NodeId;
  /** The leader's URL, when the node knows it. */
  readonly leaderUrl: string | undefined;
  /** Node `nodeId` is not the leader; `leaderHint` (and its `url`) is the leader it knows of. */
  constructor(nodeId: NodeId, leaderHint: NodeId, options?: { url?: string }) {
    super(
      leaderHint === ""
        ? `Node ${nodeId} is not the leader and knows no leader`
        : `Node ${nodeId} is not the leader; the leader is ${leaderHint}${
          options?.url ? ` at ${options.url}` : ""
        }`,
    );
    this.name = "NotLeaderError";
    this.nodeId = nodeId;
    this.leaderHint = leaderHint;
    this.leaderUrl = options?.url || undefined;
  }
}

/**
 * A proposal was dropped: no leader is known, a leadership transfer is in
 * progress, or the uncommitted-bytes limit was reached. Retrying later may succeed.
 *
 * @example
 * ```ts
 * import { ProposalDroppedError } from "./errors.ts";
 * const err = new ProposalDroppedError("no leader");
 * if (!(err.message.includes("no leader"))) throw new Error("unexpected result");
 * ```
 */
export class ProposalDroppedError extends Error {
  /** Dropped for `reason`. */
  constructor(reason: string) {
    super(`Proposal dropped: ${reason}`);
    this.name = "ProposalDroppedError";
  }
}

/**
 * Entries below the storage's first index were requested: they were compacted
 * into a snapshot.
 *
 * @example
 * ```ts
 * import { CompactedError } from "./errors.ts";
 * const err = new CompactedError(5, 10);
 * if (!(err.firstIndex === 10)) throw new Error("unexpected result");
 * ```
 */
export class CompactedError extends Error {
  /** The index asked for. */
  readonly index: number;
  /** The first index the storage still has. */
  readonly firstIndex: number;
  /** `index` is below `firstIndex`. */
  constructor(index: number, firstIndex: number) {
    super(`Log index ${index} is compacted; the first available index is ${firstIndex}`);
    this.name = "CompactedError";
    this.index = index;
    this.firstIndex = firstIndex;
  }
}

/**
 * Entries above the storage's last index were requested.
 *
 * @example
 * ```ts
 * import { UnavailableError } from "./errors.ts";
 * const err = new UnavailableError(12, 10);
 * if (!(err.lastIndex === 10)) throw new Error("unexpected result");
 * ```
 */
export class UnavailableError extends Error {
  /** The index asked for. */
  readonly index: number;
  /** The last index the storage has. */
  readonly lastIndex: number;
  /** `index` is above `lastIndex`. */
  constructor(index: number, lastIndex: number) {
    super(`Log index ${index} is unavailable; the last index is ${lastIndex}`);
    this.name = "UnavailableError";
    this.index = index;
    this.lastIndex = lastIndex;
  }
}

/**
 * The storage cannot produce a snapshot right now; the leader retries later.
 *
 * @example
 * ```ts
 * import { SnapshotTemporarilyUnavailableError } from "./errors.ts";
 * if (!(new SnapshotTemporarilyUnavailableError().name === "SnapshotTemporarilyUnavailableError")) throw new Error("unexpected result");
 * ```
 */
export class SnapshotTemporarilyUnavailableError extends Error {
  /** The snapshot cannot be produced now. */
  constructor() {
    super("Snapshot is temporarily unavailable");
    this.name = "SnapshotTemporarilyUnavailableError";
  }
}

/**
 * A Raft invariant does not hold. This is a bug (in raftlog or in the code
 * driving it, e.g. storage that lost acknowledged entries), never an expected outcome.
 *
 * @example
 * ```ts
 * import { RaftInvariantError } from "./errors.ts";
 * if (!(new RaftInvariantError("applied > committed").message.includes("applied"))) throw new Error("unexpected result");
 * ```
 */
export class RaftInvariantError extends Error {
  /** `message` names the invariant that does not hold. */
  constructor(message: string) {
    super(`Raft invariant violated: ${message}`);
    this.name = "RaftInvariantError";
  }
}
