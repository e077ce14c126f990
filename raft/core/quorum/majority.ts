/**
 * Majority quorums: the commit index a majority has reached and the outcome of
 * a vote (Raft §5.2, §5.3).
 *
 * @module
 */

import type { NodeId } from "../types.ts";

/** Outcome of counting votes. */
export type VoteResult = "pending" | "lost" | "won";

/**
 * The largest index that a majority of `voters` has acknowledged. An empty
 * voter set returns `Infinity`, so it never holds back a joint quorum.
 *
 * @example
 * ```ts
 * import { majorityCommittedIndex } from "./majority.ts";
 * const acked = new Map([["a", 5], ["b", 3], ["c", 9]]);
 * if (!(majorityCommittedIndex(["a", "b", "c"], (id) => acked.get(id) ?? 0) === 5)) throw new Error("unexpected result");
 * ```
 */
export function majorityCommittedIndex(
  voters: Iterable<NodeId>,
  acked: (id: NodeId) => number,
): number {
  const idx: number[] = [];
  for (const id of voters) idx.push(acked(id));
  if (idx.length === 0) return Infinity;
  idx.sort((a, b) => b - a);
  // With n voters, the (floor(n/2)+1)-th highest index is on a majority.
  return idx[Math.floor(idx.length / 2)]!;
}

/**
 * Whether `votes` won, lost, or is still pending among `voters`. Votes from
 * non-voters are ignored. An empty voter set wins (joint configurations rely on it).
 *
 * @example
 * ```ts
 * import { majorityVoteResult } from "./majority.ts";
 * const votes = new Map([["a", true], ["b", true]]);
 * if (!(majorityVoteResult(["a", "b", "c"], votes) === "won")) throw new Error("unexpected result");
 * ```
 */
export function majorityVoteResult(
  voters: Iterable<NodeId>,
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  let n = 0, granted = 0, rejected = 0;
  for (const id of voters) {
    n++;
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (n === 0) return "won";
  const q = Math.floor(n / 2) + 1;
  if (granted >= q) return "won";
  if (n - rejected >= q) return "pending";
  return "lost";
}
