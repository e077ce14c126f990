/**
 * Joint quorums (Raft thesis §4.3): during a membership change decisions need
 * a majority of the incoming AND of the outgoing voter set.
 *
 * @module
 */

import type { NodeId } from "../types.ts";
import { majorityCommittedIndex, majorityVoteResult, type VoteResult } from "./majority.ts";

/** Two voter sets; `outgoing` is empty unless a joint configuration is active. */
export interface JointConfig {
  readonly incoming: ReadonlySet<NodeId>;
  readonly outgoing: ReadonlySet<NodeId>;
}

/**
 * The commit index both majorities have reached.
 *
 * @example
 * ```ts
 * import { jointCommittedIndex } from "./joint.ts";
 * const acked = new Map([["a", 5], ["b", 3], ["c", 9], ["d", 1]]);
 * const cfg = { incoming: new Set(["a", "b", "c"]), outgoing: new Set(["a", "d"]) };
 * if (!(jointCommittedIndex(cfg, (id) => acked.get(id) ?? 0) === 1)) throw new Error("unexpected result");
 * ```
 */
export function jointCommittedIndex(cfg: JointConfig, acked: (id: NodeId) => number): number {
  const i = majorityCommittedIndex(cfg.incoming, acked);
  const o = majorityCommittedIndex(cfg.outgoing, acked);
  return Math.min(i, o);
}

/**
 * Won only if both halves won; lost if either lost.
 *
 * @example
 * ```ts
 * import { jointVoteResult } from "./joint.ts";
 * const cfg = { incoming: new Set(["a", "b", "c"]), outgoing: new Set<string>() };
 * if (!(jointVoteResult(cfg, new Map([["a", true], ["b", true]])) === "won")) throw new Error("unexpected result");
 * ```
 */
export function jointVoteResult(
  cfg: JointConfig,
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  const r1 = majorityVoteResult(cfg.incoming, votes);
  const r2 = majorityVoteResult(cfg.outgoing, votes);
  if (r1 === r2) return r1;
  if (r1 === "lost" || r2 === "lost") return "lost";
  return "pending";
}

/** Every voter of either half, each once. */
export function jointVoters(cfg: JointConfig): Set<NodeId> {
  return new Set([...cfg.incoming, ...cfg.outgoing]);
}
