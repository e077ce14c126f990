/**
 * The leader's view of the cluster: membership, per-peer progress, and votes.
 *
 * @module
 */

import {
  jointCommittedIndex,
  type JointConfig,
  jointVoteResult,
  jointVoters,
} from "../quorum/joint.ts";
import type { VoteResult } from "../quorum/majority.ts";
import type { ConfState, NodeId } from "../types.ts";
import { Progress } from "./progress.ts";

/**
 * Membership as sets.
 *
 * Invariants: `learners` is disjoint from the voters of either half;
 * `learnersNext` is a subset of `voters.outgoing`, disjoint from
 * `voters.incoming`: its members stay voters until the joint configuration is left.
 */
export interface TrackerConfig {
  readonly voters: JointConfig;
  readonly learners: ReadonlySet<NodeId>;
  readonly learnersNext: ReadonlySet<NodeId>;
  readonly autoLeave: boolean;
}

/** Builds a tracker configuration from a {@link ConfState}. */
export function configFromConfState(cs: ConfState): TrackerConfig {
  return {
    voters: { incoming: new Set(cs.voters), outgoing: new Set(cs.votersOutgoing) },
    learners: new Set(cs.learners),
    learnersNext: new Set(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
}

/** Turns a tracker configuration back into a sorted {@link ConfState}. */
export function confStateFromConfig(cfg: TrackerConfig): ConfState {
  return {
    voters: [...cfg.voters.incoming].sort(),
    learners: [...cfg.learners].sort(),
    votersOutgoing: [...cfg.voters.outgoing].sort(),
    learnersNext: [...cfg.learnersNext].sort(),
    autoLeave: cfg.autoLeave,
  };
}

/** True while a joint configuration is active. */
export function isJoint(cfg: TrackerConfig): boolean {
  return cfg.voters.outgoing.size > 0;
}

/**
 * Membership, progress of every member, and the votes of the current election.
 *
 * Invariant: `progress` has exactly one entry per voter (either half) and learner.
 *
 * @example
 * ```ts
 * import { configFromConfState, ProgressTracker } from "./tracker.ts";
 * const t = new ProgressTracker({ maxInflight: 16, maxInflightBytes: 0 });
 * t.setConfig(configFromConfState({ voters: ["a", "b", "c"], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }), 1);
 * t.recordVote("a", true); t.recordVote("b", true);
 * if (!(t.tallyVotes() === "won")) throw new Error("unexpected result");
 * ```
 */
export class ProgressTracker {
  config: TrackerConfig = {
    voters: { incoming: new Set(), outgoing: new Set() },
    learners: new Set(),
    learnersNext: new Set(),
    autoLeave: false,
  };
  progress: Map<NodeId, Progress> = new Map();
  votes: Map<NodeId, boolean> = new Map();
  readonly maxInflight: number;
  readonly maxInflightBytes: number;

  constructor(opts: { maxInflight: number; maxInflightBytes: number }) {
    this.maxInflight = opts.maxInflight;
    this.maxInflightBytes = opts.maxInflightBytes;
  }

  /** Replaces membership; new members start probing at `nextIndex`, kept ones keep their progress. */
  setConfig(cfg: TrackerConfig, nextIndex: number): void {
    this.config = cfg;
    const members = new Set([...jointVoters(cfg.voters), ...cfg.learners, ...cfg.learnersNext]);
    for (const id of [...this.progress.keys()]) {
      if (!members.has(id)) this.progress.delete(id);
    }
    for (const id of members) {
      // A member of learnersNext is still a voter of the outgoing half: it votes, counts
      // towards that half's quorum and may lead until the joint configuration is left
      // (Raft thesis §4.3). Only `learners` are learners now.
      const isLearner = cfg.learners.has(id);
      const pr = this.progress.get(id);
      if (pr === undefined) {
        const np = this.newProgress(nextIndex, isLearner);
        // A new member counts as active so check-quorum does not depose the leader at once.
        np.recentActive = true;
        this.progress.set(id, np);
      } else {
        pr.isLearner = isLearner;
      }
    }
  }

  /** A fresh progress in probe state. */
  newProgress(next: number, isLearner: boolean): Progress {
    return new Progress(next, {
      maxInflight: this.maxInflight,
      maxInflightBytes: this.maxInflightBytes,
      isLearner,
    });
  }

  /** The highest index committed by the (joint) quorum of voters, from their `match`. */
  committed(): number {
    return jointCommittedIndex(this.config.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  /** True if `id` is a voter of either half. */
  isVoter(id: NodeId): boolean {
    return this.config.voters.incoming.has(id) || this.config.voters.outgoing.has(id);
  }

  /** All voters, each once. */
  voterIds(): Set<NodeId> {
    return jointVoters(this.config.voters);
  }

  /** True when this is a one-voter cluster whose voter is `id`. */
  isSingleton(id: NodeId): boolean {
    const v = this.voterIds();
    return v.size === 1 && v.has(id);
  }

  /** Forgets all votes. */
  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records `id`'s answer; the first answer from a node counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Result of the votes recorded so far. */
  tallyVotes(): VoteResult {
    return jointVoteResult(this.config.voters, this.votes);
  }

  /** Result of a set of acknowledgements, e.g. of a read-index heartbeat round. */
  voteResult(acks: ReadonlySet<NodeId>): VoteResult {
    const votes = new Map<NodeId, boolean>();
    for (const id of acks) votes.set(id, true);
    return jointVoteResult(this.config.voters, votes);
  }

  /** True if a quorum was recently active; `self` always counts (Raft thesis §6.2). */
  quorumActive(self: NodeId): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      votes.set(id, id === self || pr.recentActive);
    }
    return jointVoteResult(this.config.voters, votes) === "won";
  }
}
