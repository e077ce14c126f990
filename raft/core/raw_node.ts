/**
 * The public, synchronous interface to one Raft node: feed it ticks, messages
 * and proposals, and act on the `Ready` it returns.
 *
 * @module
 */

import type { Config } from "./config.ts";
import { type ConfChange, encodeConfChange } from "./confchange.ts";
import { RaftInvariantError } from "./errors.ts";
import { Raft, reportSnapshot, reportUnreachable } from "./raft.ts";
import type { ProgressState } from "./tracker/progress.ts";
import { confStateFromConfig } from "./tracker/tracker.ts";
import type { ConfState, Entry, HardState, Message, NodeId, Ready, SoftState } from "./types.ts";
import { NO_NODE } from "./types.ts";

/** Replication progress of one member, as seen by the leader. */
export interface PeerStatus {
  /** Highest index known to be in the member's log. */
  readonly match: number;
  /** Next index to send it. */
  readonly next: number;
  /** How the leader is replicating to it: probing, pipelining, or sending a snapshot. */
  readonly state: ProgressState;
  /** True for a learner (non-voting member). */
  readonly isLearner: boolean;
  /** Whether it was heard from within the last election timeout (check-quorum). */
  readonly recentActive: boolean;
}

/** A snapshot of a node's state, for monitoring and tests. */
export interface Status {
  /** This node's id. */
  readonly id: NodeId;
  /** Its term, vote and commit index. */
  readonly hardState: HardState;
  /** Its role and the leader it knows of. */
  readonly softState: SoftState;
  /** The last index applied (as reported with `advance`). */
  readonly applied: number;
  /** The last index in its log. */
  readonly lastIndex: number;
  /** The member leadership is being handed to, or "" when no transfer is under way. */
  readonly leadTransferee: NodeId;
  /** Its current membership. */
  readonly confState: ConfState;
  /** Per-member progress; empty unless this node is the leader. */
  readonly progress: ReadonlyMap<NodeId, PeerStatus>;
}

/**
 * Where a leader appended proposals. If the entry at `lastIndex` is later
 * committed with another term, the proposals were lost to a new leader.
 */
export interface ProposeReceipt {
  /** Index of the first proposal's entry. */
  readonly firstIndex: number;
  /** Index of the last proposal's entry. */
  readonly lastIndex: number;
  /** The leader's term the entries were appended in. */
  readonly term: number;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * One Raft node, pure and synchronous: no I/O, no clock, no randomness
 * beyond the seeded PRNG in its config.
 *
 * Inputs: {@link RawNode.tick}, {@link RawNode.step}, {@link RawNode.propose}
 * (and conf changes, read-index requests, leadership transfer). Output:
 * {@link RawNode.ready}, acknowledged with {@link RawNode.advance}; see
 * {@link Ready} for what must be done with it and in which order.
 *
 * @example
 * ```ts
 * import { RawNode } from "./raw_node.ts";
 * import { MemoryStorage } from "../storage/memory_storage.ts";
 * const storage = MemoryStorage.withVoters(["n1"]);
 * const node = new RawNode({ id: "n1", storage });
 * node.campaign();
 * node.propose(new TextEncoder().encode("hello"));
 * const applied: string[] = [];
 * while (node.hasReady()) {
 *   const rd = node.ready();
 *   storage.append(rd.entries);
 *   if (rd.hardState) storage.setHardState(rd.hardState);
 *   for (const e of rd.committedEntries) if (e.data.length > 0) applied.push(new TextDecoder().decode(e.data));
 *   node.advance(rd);
 * }
 * if (!(applied[0] === "hello")) throw new Error("unexpected result");
 * ```
 */
export class RawNode {
  readonly #raft: Raft;
  #prevSoft: SoftState;
  #prevHard: HardState;
  #outstanding: Ready | undefined = undefined;
  /** A snapshot message that arrived while a Ready was outstanding, stepped on advance. */
  #deferredSnapshot: Message | undefined = undefined;

  /** A node with `config`, starting from the state in `config.storage`. */
  constructor(config: Config) {
    this.#raft = new Raft(config);
    this.#prevSoft = this.#raft.softState();
    this.#prevHard = this.#raft.hardState();
  }

  /** This node's id. */
  get id(): NodeId {
    return this.#raft.id;
  }

  /**
   * Writes the bootstrap membership (from storage) into the log as committed
   * configuration entries of term 1, one per member, so that a member added
   * later learns the whole membership by replaying the log. Every initial
   * member must call it on its fresh storage: the entries are identical on
   * all of them. Returns false (and does nothing) unless the log is empty, the
   * term is 0 and the membership is not empty.
   */
  bootstrap(): boolean {
    const r = this.#raft;
    if (r.raftLog.lastIndex() !== 0 || r.term !== 0) return false;
    const cs = confStateFromConfig(r.trk.config);
    if (cs.voters.length === 0 || cs.votersOutgoing.length > 0) return false;
    const changes = [
      ...cs.voters.map((nodeId) => ({ type: "addVoter" as const, nodeId })),
      ...cs.learners.map((nodeId) => ({ type: "addLearner" as const, nodeId })),
    ];
    const ents: Entry[] = changes.map((c, i) => ({
      term: 1,
      index: i + 1,
      type: "confChange",
      data: encodeConfChange({ changes: [c] }),
    }));
    r.becomeFollower(1, NO_NODE);
    r.raftLog.append(ents);
    r.raftLog.committed = ents.length;
    return true;
  }

  /** Leader and role right now (cheap; `status()` builds more). */
  softState(): SoftState {
    return this.#raft.softState();
  }

  /** Advances the logical clock by one tick (elections, heartbeats, check-quorum). */
  tick(): void {
    this.#raft.tick();
  }

  /** Starts an election now (pre-vote first when enabled). */
  campaign(): void {
    this.#raft.hup(false);
  }

  /**
   * Proposes `data` for the log. On a follower it is forwarded to the leader
   * (unless forwarding is disabled). Throws `NotLeaderError` (forwarding
   * disabled) or `ProposalDroppedError` (no leader, transfer in progress,
   * uncommitted-bytes limit). Being accepted is not being committed: watch
   * `committedEntries`.
   */
  propose(data: Uint8Array): ProposeReceipt | undefined {
    return this.proposeBatch([data]);
  }

  /**
   * Proposes several commands as one batch (one append for all). On the
   * leader, returns where they were appended; on a follower (forwarded),
   * undefined. A forwarded batch the leader refuses comes back in
   * `Ready.refusedProposals` under `context`, when one is given.
   */
  proposeBatch(datas: readonly Uint8Array[], context?: string): ProposeReceipt | undefined {
    if (datas.length === 0) throw new RangeError("proposeBatch needs at least one command");
    const r = this.#raft;
    r.step({
      type: "prop",
      from: r.id,
      to: r.id,
      term: 0,
      entries: datas.map((data) => ({ term: 0, index: 0, type: "normal" as const, data })),
      ...(context !== undefined ? { context } : {}),
    });
    if (r.role !== "leader") return undefined;
    const lastIndex = r.raftLog.lastIndex();
    return { firstIndex: lastIndex - datas.length + 1, lastIndex, term: r.term };
  }

  /**
   * Proposes a membership change. One change may be pending at a time;
   * throws `ConfChangeError` if it is not allowed now. Like
   * {@link RawNode.proposeBatch}, a forwarded change the leader refuses comes
   * back under `context`.
   */
  proposeConfChange(cc: ConfChange, context?: string): void {
    this.#raft.step({
      type: "prop",
      from: this.#raft.id,
      to: this.#raft.id,
      term: 0,
      entries: [{ term: 0, index: 0, type: "confChange", data: encodeConfChange(cc) }],
      ...(context !== undefined ? { context } : {}),
    });
  }

  /**
   * Applies a committed membership change. Call it when applying a
   * `confChange` entry (decode it with `decodeConfChange`).
   */
  applyConfChange(cc: ConfChange): ConfState {
    return this.#raft.applyConfChange(cc);
  }

  /** Handles a message from another node. Messages addressed to another node are a bug. */
  step(m: Message): void {
    if (m.to !== this.#raft.id) {
      throw new RangeError(`Message for ${m.to} stepped into node ${this.#raft.id}`);
    }
    if (
      m.term === 0 &&
      (m.type === "prop" || m.type === "readIndex" || m.type === "transferLeader") &&
      m.from === this.#raft.id
    ) {
      throw new RangeError("Local requests go through propose/readIndex/transferLeader");
    }
    if (m.type === "snap" && this.#outstanding !== undefined) {
      // A snapshot replaces the log and the membership. Restored now, it would be overtaken by
      // the outstanding Ready's committed entries: a membership change among them, applied
      // after, would change the snapshot's membership instead of the one it was made for.
      this.#deferredSnapshot = m;
      return;
    }
    this.#raft.step(m);
  }

  /**
   * Requests a linearizable read point. The answer arrives as a `ReadState`
   * with this `context` in a later Ready. Contexts must be unique across the
   * cluster while in flight (include the node id).
   */
  readIndex(context: string): void {
    if (context === "" || context.startsWith("~")) {
      throw new RangeError(
        `Read context must be non-empty and not start with "~": ${JSON.stringify(context)}`,
      );
    }
    this.#raft.step({
      type: "readIndex",
      from: this.#raft.id,
      to: this.#raft.id,
      term: 0,
      context,
    });
  }

  /** Asks the leader to hand leadership to `transferee` (Raft thesis §3.10). */
  transferLeader(transferee: NodeId): void {
    this.#raft.step({
      type: "transferLeader",
      from: this.#raft.id,
      to: this.#raft.id,
      term: 0,
      transferee,
    });
  }

  /** A message to `id` could not be delivered. */
  reportUnreachable(id: NodeId): void {
    reportUnreachable(this.#raft, id);
  }

  /** Sending a snapshot to `id` finished (`ok`) or failed. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    reportSnapshot(this.#raft, id, ok);
  }

  /** True if {@link RawNode.ready} would return something to act on. */
  hasReady(): boolean {
    const r = this.#raft;
    const soft = r.softState();
    if (soft.leader !== this.#prevSoft.leader || soft.role !== this.#prevSoft.role) return true;
    const hs = r.hardState();
    if (!sameHardState(hs, this.#prevHard)) return true;
    if (r.raftLog.unstable.snapshot !== undefined) return true;
    return r.msgs.length > 0 || r.raftLog.unstable.entries.length > 0 ||
      r.raftLog.hasNextCommittedEntries() || r.readStates.length > 0 ||
      r.refusedProposals.length > 0;
  }

  /**
   * Everything to persist, send and apply since the last Ready. Call
   * {@link RawNode.advance} with it before asking for the next one.
   */
  ready(): Ready {
    if (this.#outstanding !== undefined) {
      throw new RaftInvariantError("ready() called again before advance() of the previous Ready");
    }
    const r = this.#raft;
    const soft = r.softState();
    const hs = r.hardState();
    const softChanged = soft.leader !== this.#prevSoft.leader || soft.role !== this.#prevSoft.role;
    const hardChanged = !sameHardState(hs, this.#prevHard);
    const entries = r.raftLog.unstableEntries();
    const snapshot = r.raftLog.unstable.snapshot;
    const termOrVoteChanged = hs.term !== this.#prevHard.term || hs.vote !== this.#prevHard.vote;
    const rd: Ready = {
      ...(softChanged ? { softState: soft } : {}),
      ...(hardChanged ? { hardState: hs } : {}),
      ...(snapshot !== undefined ? { snapshot } : {}),
      readStates: r.readStates,
      refusedProposals: r.refusedProposals,
      entries,
      committedEntries: r.raftLog.nextCommittedEntries(),
      messages: r.msgs,
      mustSync: termOrVoteChanged || entries.length > 0 || snapshot !== undefined,
      // Thesis §10.2.1: a leader's messages never depend on its own pending write, as long as
      // it was already leader of this term when the batch began.
      canSendBeforePersist: soft.role === "leader" && !termOrVoteChanged &&
        this.#prevSoft.role === "leader",
    };
    r.msgs = [];
    r.readStates = [];
    r.refusedProposals = [];
    if (softChanged) this.#prevSoft = soft;
    this.#outstanding = rd;
    return rd;
  }

  /** Acknowledges a Ready: its writes are durable and its committed entries applied. */
  advance(rd: Ready): void {
    if (rd !== this.#outstanding) {
      throw new RaftInvariantError("advance() with a Ready that is not outstanding");
    }
    this.#outstanding = undefined;
    const r = this.#raft;
    if (rd.hardState !== undefined) this.#prevHard = rd.hardState;
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) r.raftLog.stableTo(last.index, last.term);
    if (rd.snapshot !== undefined) r.raftLog.stableSnapTo(rd.snapshot.metadata.index);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) {
      r.raftLog.appliedTo(lastApplied.index);
      r.reduceUncommittedSize(rd.committedEntries);
    } else if (rd.snapshot !== undefined) {
      r.raftLog.applied = Math.max(r.raftLog.applied, rd.snapshot.metadata.index);
    }
    r.selfAck();
    this.#maybeAutoLeave();
    const snap = this.#deferredSnapshot;
    if (snap !== undefined) {
      this.#deferredSnapshot = undefined;
      r.step(snap);
    }
  }

  /** Leaves an auto-leave joint configuration once it is applied (thesis §4.3). */
  #maybeAutoLeave(): void {
    const r = this.#raft;
    if (
      r.role === "leader" && r.trk.config.autoLeave && r.isJoint() &&
      r.raftLog.applied >= r.pendingConfIndex
    ) {
      try {
        this.proposeConfChange({ changes: [] });
      } catch (e) {
        r.logger?.(
          "warn",
          `${r.id} could not propose leaving the joint configuration: ${String(e)}`,
        );
      }
    }
  }

  /** The node's current state. */
  status(): Status {
    const r = this.#raft;
    const progress = new Map<NodeId, PeerStatus>();
    if (r.role === "leader") {
      for (const [id, pr] of r.trk.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
        });
      }
    }
    return {
      id: r.id,
      hardState: r.hardState(),
      softState: r.softState(),
      applied: r.raftLog.applied,
      lastIndex: r.raftLog.lastIndex(),
      leadTransferee: r.leadTransferee,
      confState: confStateFromConfig(r.trk.config),
      progress,
    };
  }
}
