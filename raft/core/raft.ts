/**
 * The Raft state machine of one node: terms, votes, roles, and the rules that
 * apply whatever the role. Role-specific message handling lives in
 * `step_leader.ts`, `step_candidate.ts` and `step_follower.ts`, chosen through
 * the `stepFn`/`tickFn` fields set by `become*`.
 *
 * This class is internal; applications drive a node through `RawNode`.
 *
 * @module
 */

import { type Config, type Logger, type ReadOnlyOption, resolveConfig } from "./config.ts";
import {
  applyConfChange,
  type ConfChange,
  ConfChangeError,
  decodeConfChange,
} from "./confchange.ts";
import { RaftInvariantError, SnapshotTemporarilyUnavailableError } from "./errors.ts";
import { LeaderLease } from "./lease.ts";
import { jointCommittedIndex } from "./quorum/joint.ts";
import { RaftLog } from "./log.ts";
import { hashString, SeededRandom } from "./rand.ts";
import { ReadOnly } from "./read_only.ts";
import { entrySize } from "./storage.ts";
import { stepCandidate } from "./step_candidate.ts";
import { stepFollower } from "./step_follower.ts";
import { stepLeader } from "./step_leader.ts";
import {
  configFromConfState,
  confStateFromConfig,
  isJoint,
  ProgressTracker,
  type TrackerConfig,
} from "./tracker/tracker.ts";
import type {
  AppendMessage,
  ConfState,
  Entry,
  HardState,
  HeartbeatMessage,
  Message,
  NodeId,
  ProposeMessage,
  ReadIndexMessage,
  ReadState,
  RefusedProposal,
  Role,
  Snapshot,
  SnapshotMessage,
  SoftState,
} from "./types.ts";
import { NO_NODE } from "./types.ts";

/** A message body without the fields `send` fills in. */
export type Outgoing = Message extends infer M
  ? M extends Message ? Omit<M, "from" | "term"> & { term?: number }
  : never
  : never;

const EMPTY = new Uint8Array(0);

/** The Raft state machine of one node. Internal: use `RawNode`. */
export class Raft {
  readonly id: NodeId;
  /** Current term (Raft §5.1). Invariant: never decreases. */
  term = 0;
  /** Vote cast in `term`, or NO_NODE. Invariant: at most one vote per term. */
  vote: NodeId = NO_NODE;
  readonly raftLog: RaftLog;
  readonly trk: ProgressTracker;
  role: Role = "follower";
  isLearner = false;
  /** Known leader of `term`, or NO_NODE. */
  lead: NodeId = NO_NODE;
  /** Target of an ongoing leadership transfer, or NO_NODE (thesis §3.10). */
  leadTransferee: NodeId = NO_NODE;
  /**
   * Index of the last conf change appended by this leader. Invariant: a new
   * one is accepted only once `applied >= pendingConfIndex` (one change at a time).
   */
  pendingConfIndex = 0;
  /**
   * Set when this leader applied a configuration that removes or demotes it:
   * the commit index a quorum of the new configuration's voters must know
   * before the leader steps down. Stepping down earlier can leave a voter that still
   * uses the joint configuration unable to win an election (thesis §4.2.2).
   */
  pendingStepDown = 0;
  /**
   * Index of a configuration change this leader appended whose configuration
   * leaves it without a vote (0 if none). From then on it takes no proposals
   * (with stepDownOnRemoval): entries after that change would make its log
   * longer than the voters', and if they do not learn that the change
   * committed before it steps down, a voter that still counts this node in
   * the old or joint configuration could never win its vote.
   */
  removalIndex = 0;
  /** Bytes of entries this leader appended that are not yet committed. */
  uncommittedSize = 0;
  readOnly: ReadOnly = new ReadOnly();
  /** Leader lease of this term (lease-based reads only). */
  lease: LeaderLease = new LeaderLease();
  /** Ticks since start; the lease is measured on this clock. */
  ticks = 0;
  /** The term in which this node sent a timeoutNow (lease reads are off for that term). */
  #leaseVoidTerm = -1;
  /** Lease reads are on and this node started with a term from before. */
  readonly #restarted: boolean;
  readonly maxClockDriftTicks: number;
  /** Read requests that arrived before this leader committed an entry of its term (thesis §6.4). */
  pendingReadIndexMessages: ReadIndexMessage[] = [];
  readStates: ReadState[] = [];
  /** Proposals this node forwarded that were refused (for the next Ready). */
  refusedProposals: RefusedProposal[] = [];
  msgs: Message[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly maxMsgSize: number;
  readonly maxUncommittedSize: number;
  readonly disableProposalForwarding: boolean;
  readonly readOnlyOption: ReadOnlyOption;
  readonly stepDownOnRemoval: boolean;
  readonly logger: Logger | undefined;
  readonly #rng: SeededRandom;

  stepFn: (r: Raft, m: Message) => void = stepFollower;
  tickFn: () => void = () => this.tickElection();

  constructor(config: Config) {
    const c = resolveConfig(config);
    this.id = c.id;
    this.raftLog = new RaftLog(c.storage, { maxApplyBytes: c.maxCommittedSizePerReady });
    this.trk = new ProgressTracker({
      maxInflight: c.maxInflightMsgs,
      maxInflightBytes: c.maxInflightBytes,
    });
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum;
    this.preVote = c.preVote;
    this.maxMsgSize = c.maxSizePerMsg;
    this.maxUncommittedSize = c.maxUncommittedEntriesSize;
    this.disableProposalForwarding = c.disableProposalForwarding;
    this.readOnlyOption = c.readOnlyOption;
    this.maxClockDriftTicks = c.maxClockDriftTicks;
    this.stepDownOnRemoval = c.stepDownOnRemoval;
    this.logger = c.logger;
    this.#rng = new SeededRandom(c.seed ?? hashString(c.id));

    const { hardState, confState } = c.storage.initialState();
    this.#switchToConfig(configFromConfState(confState));
    if (hardState.term !== 0 || hardState.vote !== NO_NODE || hardState.commit !== 0) {
      this.#loadState(hardState);
    }
    if (c.applied !== undefined && c.applied > 0) this.raftLog.appliedTo(c.applied);
    this.#restarted = this.readOnlyOption === "leaseBased" && hardState.term > 0;
    this.becomeFollower(this.term, NO_NODE);
  }

  #loadState(hs: HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      throw new RaftInvariantError(
        `hard state commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      );
    }
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** Soft state: leader and role. */
  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  /** Hard state: term, vote, commit. */
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  /** Queues a message; `from` and (unless given) `term` are filled in. */
  send(m: Outgoing): void {
    // A timeoutNow lets its receiver win votes that bypass leases, at any time later (it may
    // sit in the network): no lease read is safe for the rest of this term.
    if (m.type === "timeoutNow") this.#leaseVoidTerm = this.term;
    const term = m.term ??
      ((m.type === "prop" || m.type === "readIndex" || m.type === "transferLeader")
        ? 0
        : this.term);
    this.msgs.push({ ...m, from: this.id, term } as Message);
  }

  // ---- roles -------------------------------------------------------------

  #reset(term: number): void {
    if (this.term !== term) {
      if (term < this.term) {
        throw new RaftInvariantError(`term going backwards: ${this.term} -> ${term}`);
      }
      this.term = term;
      this.vote = NO_NODE;
    }
    this.lead = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      const np = this.trk.newProgress(last + 1, pr.isLearner);
      if (id === this.id) np.match = this.raftLog.stableIndex();
      this.trk.progress.set(id, np);
    }
    this.pendingConfIndex = 0;
    this.pendingStepDown = 0;
    this.removalIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly();
    this.lease = new LeaderLease();
    this.pendingReadIndexMessages = [];
  }

  /** Draws a new election timeout in [electionTimeout, 2*electionTimeout) (Raft §5.2). */
  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.#rng.int(this.electionTimeout);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.#reset(term);
    this.stepFn = stepFollower;
    this.tickFn = () => this.tickElection();
    this.lead = lead;
    this.role = "follower";
  }

  /** Pre-vote phase (thesis §9.6): neither term nor vote change. */
  becomePreCandidate(): void {
    if (this.role === "leader") throw new RaftInvariantError("leader cannot become pre-candidate");
    this.stepFn = stepCandidate;
    this.trk.resetVotes();
    this.tickFn = () => this.tickElection();
    this.lead = NO_NODE;
    this.role = "preCandidate";
  }

  becomeCandidate(): void {
    if (this.role === "leader") throw new RaftInvariantError("leader cannot become candidate");
    this.#reset(this.term + 1);
    this.stepFn = stepCandidate;
    this.tickFn = () => this.tickElection();
    this.vote = this.id;
    this.role = "candidate";
  }

  becomeLeader(): void {
    if (this.role === "follower") {
      throw new RaftInvariantError("follower cannot become leader directly");
    }
    this.#reset(this.term);
    this.stepFn = stepLeader;
    this.tickFn = () => this.tickHeartbeat();
    this.lead = this.id;
    this.role = "leader";
    const self = this.trk.progress.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Conservatively treat any unapplied entry as a possible conf change.
    this.pendingConfIndex = this.raftLog.lastIndex();
    if (this.stepDownOnRemoval) this.removalIndex = this.#unappliedRemoval();
    // An empty entry of the new term lets the leader commit earlier entries (Raft §5.4.2, §8).
    if (!this.appendEntry([{ term: 0, index: 0, type: "normal", data: EMPTY }])) {
      throw new RaftInvariantError("empty entry was dropped");
    }
    this.logger?.("info", `${this.id} became leader at term ${this.term}`);
  }

  // ---- ticks -------------------------------------------------------------

  /** One logical clock tick. */
  tick(): void {
    this.ticks++;
    this.tickFn();
  }

  /** Follower and candidate tick: campaign when the election timeout passes. */
  tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  /** Leader tick: heartbeats, and check-quorum every election timeout. */
  tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        // Raft thesis §6.2: a leader that cannot reach a quorum steps down.
        if (!this.trk.quorumActive(this.id)) {
          this.logger?.(
            "warn",
            `${this.id} stepped down: no quorum heard from in an election timeout`,
          );
          this.becomeFollower(this.term, NO_NODE);
          return;
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
      }
      // A transfer that did not finish within an election timeout is abandoned (thesis §3.10).
      this.abortLeaderTransfer();
    }
    if (this.role !== "leader") return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /** Can this node become leader? Learners and removed nodes cannot. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && this.raftLog.unstable.snapshot === undefined &&
      this.trk.isVoter(this.id);
  }

  /** Starts an election (with pre-vote unless `transfer`). */
  hup(transfer: boolean): void {
    if (this.role === "leader") return;
    if (!this.promotable()) return;
    if (this.#hasUnappliedConfChanges()) {
      this.logger?.(
        "warn",
        `${this.id} cannot campaign: configuration changes are committed but not applied`,
      );
      return;
    }
    this.campaign(this.preVote && !transfer ? "preElection" : "election", transfer);
  }

  #hasUnappliedConfChanges(): boolean {
    const lo = this.raftLog.applied + 1, hi = this.raftLog.committed + 1;
    if (lo >= hi) return false;
    for (const e of this.raftLog.slice(lo, hi)) if (e.type === "confChange") return true;
    return false;
  }

  /** Asks every voter for its (pre-)vote (Raft §5.2, thesis §9.6). */
  campaign(kind: "preElection" | "election", transfer = false): void {
    let term: number;
    let type: "vote" | "preVote";
    if (kind === "preElection") {
      this.becomePreCandidate();
      type = "preVote";
      term = this.term + 1; // the term we would campaign in; ours is unchanged
    } else {
      this.becomeCandidate();
      type = "vote";
      term = this.term;
    }
    this.trk.recordVote(this.id, true);
    if (this.trk.tallyVotes() === "won") {
      // A single-voter cluster wins at once.
      if (kind === "preElection") this.campaign("election", transfer);
      else this.becomeLeader();
      return;
    }
    const index = this.raftLog.lastIndex();
    const logTerm = this.raftLog.lastTerm();
    for (const id of [...this.trk.voterIds()].sort()) {
      if (id === this.id) continue;
      this.send({ type, to: id, term, index, logTerm, transfer });
    }
  }

  // ---- step --------------------------------------------------------------

  /** Handles a message from another node, or a local request (`term` 0). */
  step(m: Message): void {
    if (m.type === "propRefused") {
      // Only news about our own proposals: no term or role depends on it.
      this.refusedProposals.push({ context: m.context, reason: m.reason });
      return;
    }
    if (m.term === 0) {
      // local message: no term checks
    } else if (m.term > this.term) {
      if (m.type === "vote" || m.type === "preVote") {
        // Raft thesis §4.2.3: ignore votes while we have heard from a leader within the
        // minimum election timeout, unless the candidate acts on a leadership transfer.
        // With lease reads, a node that restarted counts as having heard from a leader: it
        // may have acked a lease round just before, and a vote now would let a new leader
        // commit while the old one still serves reads from its lease. (A node that never had
        // a term cannot have acked one.)
        const booting = this.#restarted && this.ticks < this.electionTimeout;
        const inLease = this.checkQuorum && (this.lead !== NO_NODE || booting) &&
          this.electionElapsed < this.electionTimeout;
        if (!m.transfer && inLease) return;
      }
      if (m.type === "preVote" || (m.type === "preVoteResp" && !m.reject)) {
        // A pre-vote does not change our term; a granted pre-vote carries the future term.
      } else if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NO_NODE);
      }
    } else if (m.term < this.term) {
      if (m.type === "app" || m.type === "heartbeat") {
        // A stale leader learns our term and steps down (§5.1). Without this, a partitioned
        // node that pre-votes could never disrupt it (thesis §9.6); and a node whose log lists
        // a membership without that leader sends its vote requests elsewhere, so the leader
        // would never hear of the higher term and the node would never catch up.
        this.send({
          type: "appResp",
          commit: this.raftLog.committed,
          to: m.from,
          index: 0,
          reject: false,
          rejectHint: 0,
          logTerm: 0,
        });
      } else if (m.type === "preVote") {
        this.send({ type: "preVoteResp", to: m.from, reject: true });
      } else if (m.type === "vote") {
        // The candidate learns our term (§5.1) and campaigns above it next time. Without
        // this, a voter whose stale log lists an older membership, and so never asks the
        // candidate for its vote, can stay a term or two ahead of it for as long as both
        // campaign without pre-vote: each ignores the other, and no leader is elected.
        this.send({ type: "voteResp", to: m.from, reject: true });
      }
      return;
    }

    switch (m.type) {
      case "vote":
      case "preVote": {
        // Raft §5.2: one vote per term; §5.4.1: only for an up-to-date log.
        const canVote = this.vote === m.from ||
          (this.vote === NO_NODE && this.lead === NO_NODE) ||
          (m.type === "preVote" && m.term > this.term);
        const respType = m.type === "vote" ? "voteResp" : "preVoteResp";
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          // The response carries the candidate's term so it is not dropped as stale.
          this.send({ type: respType, to: m.from, term: m.term, reject: false });
          if (m.type === "vote") {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send({ type: respType, to: m.from, term: this.term, reject: true });
        }
        return;
      }
      default:
        this.stepFn(this, m);
    }
  }

  /**
   * Tells the sender of a forwarded proposal that it was not appended, so its
   * caller fails at once rather than at its timeout. Sent outside any term
   * (like a local message): it changes nothing but the fate of that proposal.
   */
  refuseForwarded(m: ProposeMessage, reason: string): void {
    if (m.context === undefined || m.from === this.id) return;
    this.send({ type: "propRefused", to: m.from, term: 0, context: m.context, reason });
  }

  // ---- leader helpers ----------------------------------------------------

  /**
   * Appends proposals to the leader's log, giving them term and index.
   * Returns false when the uncommitted-size limit refuses them.
   */
  appendEntry(es: readonly Entry[]): boolean {
    let li = this.raftLog.lastIndex();
    const ents: Entry[] = es.map((e) => ({
      term: this.term,
      index: ++li,
      type: e.type,
      data: e.data,
    }));
    if (!this.increaseUncommittedSize(ents)) return false;
    this.raftLog.append(ents);
    // The leader's own ack comes when the entries are persisted (RawNode.advance), thesis §10.2.1.
    return true;
  }

  /** Counts proposal bytes against the limit; an empty log of uncommitted entries always accepts one. */
  increaseUncommittedSize(ents: readonly Entry[]): boolean {
    let s = 0;
    for (const e of ents) s += e.data.byteLength;
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) {
      return false;
    }
    this.uncommittedSize += s;
    return true;
  }

  /** Committed entries no longer count as uncommitted. */
  reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.uncommittedSize === 0) return;
    let s = 0;
    for (const e of ents) s += e.data.byteLength;
    this.uncommittedSize = Math.max(0, this.uncommittedSize - s);
  }

  /** The leader acknowledges its own persisted log, possibly committing. */
  selfAck(): void {
    if (this.role !== "leader") return;
    const pr = this.trk.progress.get(this.id);
    if (pr === undefined) return;
    if (pr.maybeUpdate(this.raftLog.stableIndex()) && this.maybeCommit()) {
      this.onCommitAdvanced();
    }
  }

  /** Advances commit from the quorum's match indexes (Raft §5.3, §5.4.2). */
  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.trk.committed(), this.term);
  }

  /** Commit moved: release reads waiting for a commit in this term and tell followers. */
  onCommitAdvanced(): void {
    this.releasePendingReadIndexMessages();
    this.bcastAppend();
  }

  /** True once an entry of the current term is committed. */
  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrUndefined(this.raftLog.committed) === this.term;
  }

  /** Serves reads that waited for this leader's first commit (thesis §6.4). */
  releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendReadIndexResponse(m);
  }

  /** Starts the confirmation of a read (or answers it at once for a lease or a single voter). */
  sendReadIndexResponse(m: ReadIndexMessage): void {
    if (this.trk.isSingleton(this.id) || this.leaseHolds()) {
      this.respondToRead(m.from, m.context, this.raftLog.committed);
      return;
    }
    this.readOnly.addRequest(this.raftLog.committed, m.context, m.from);
    this.readOnly.recvAck(this.id, m.context);
    this.bcastHeartbeat(m.context);
  }

  /**
   * True when lease-based reads are on and the lease holds: a quorum acked a
   * heartbeat sent less than (election timeout - drift bound) ticks ago, and
   * no leadership transfer (which bypasses leases) began in this term.
   */
  leaseHolds(): boolean {
    return this.readOnlyOption === "leaseBased" && this.role === "leader" &&
      this.leadTransferee === NO_NODE && this.#leaseVoidTerm !== this.term &&
      this.lease.holds(this.ticks, this.electionTimeout - this.maxClockDriftTicks);
  }

  /** Answers a confirmed read: locally as a ReadState, or to the follower that asked. */
  respondToRead(from: NodeId, context: string, index: number): void {
    if (from === this.id || from === NO_NODE) this.readStates.push({ index, context });
    else this.send({ type: "readIndexResp", to: from, index, context });
  }

  /** Sends appends (or an empty one carrying commit) to every peer. */
  bcastAppend(): void {
    for (const id of this.trk.progress.keys()) {
      if (id === this.id) continue;
      this.sendAppend(id);
      while (this.maybeSendAppend(id, false)) { /* pipeline while the window allows */ }
    }
  }

  /** Sends a heartbeat to every peer, tagged with a read context. */
  bcastHeartbeat(context: string = this.readOnly.lastPendingContext() ?? ""): void {
    if (context === "" && this.readOnlyOption === "leaseBased") {
      context = this.lease.startRound(this.ticks, this.id);
    }
    for (const [id, pr] of this.trk.progress) {
      if (id === this.id) continue;
      // Never tell a follower a commit index beyond what it is known to hold.
      const commit = Math.min(pr.match, this.raftLog.committed);
      this.send(
        { type: "heartbeat", to: id, commit, context } satisfies Omit<
          HeartbeatMessage,
          "from" | "term"
        >,
      );
    }
  }

  /** Sends an append to `to` even if it carries no entries. */
  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next append to `to` if flow control allows: entries from
   * `next`, or a snapshot when they are compacted. Returns whether it sent.
   */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.termOrUndefined(prevIndex);
    if (prevTerm === undefined) return this.#maybeSendSnapshot(to);
    let ents: Entry[] = [];
    if (pr.state !== "replicate" || !pr.inflights.full()) {
      try {
        ents = this.raftLog.entries(pr.next, this.maxMsgSize);
      } catch (e) {
        if (e instanceof Error && e.name === "CompactedError") return this.#maybeSendSnapshot(to);
        throw e;
      }
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    const m: Omit<AppendMessage, "from" | "term"> = {
      type: "app",
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.raftLog.committed,
    };
    this.send(m);
    let bytes = 0;
    for (const e of ents) bytes += entrySize(e);
    pr.sentEntries(ents.length, bytes);
    return true;
  }

  #maybeSendSnapshot(to: NodeId): boolean {
    const pr = this.trk.progress.get(to)!;
    if (!pr.recentActive) return false;
    let snapshot;
    try {
      snapshot = this.raftLog.snapshot();
    } catch (e) {
      if (e instanceof SnapshotTemporarilyUnavailableError) return false;
      throw e;
    }
    if (snapshot.metadata.index === 0) {
      throw new RaftInvariantError("need a snapshot but none exists");
    }
    const m: Omit<SnapshotMessage, "from" | "term"> = { type: "snap", to, snapshot };
    this.send(m);
    pr.becomeSnapshot(snapshot.metadata.index);
    return true;
  }

  /** Ends a leadership transfer attempt. */
  abortLeaderTransfer(): void {
    this.leadTransferee = NO_NODE;
  }

  // ---- follower helpers --------------------------------------------------

  /** AppendEntries receiver (Raft §5.3). */
  handleAppendEntries(m: AppendMessage): void {
    if (m.index < this.raftLog.committed) {
      this.send({
        type: "appResp",
        commit: this.raftLog.committed,
        to: m.from,
        index: this.raftLog.committed,
        reject: false,
        rejectHint: 0,
        logTerm: 0,
      });
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({
        type: "appResp",
        commit: this.raftLog.committed,
        to: m.from,
        index: lastNew,
        reject: false,
        rejectHint: 0,
        logTerm: 0,
      });
      return;
    }
    // Fast backtracking: tell the leader where our log may match.
    const hint = this.raftLog.findConflictByTerm(
      Math.min(m.index, this.raftLog.lastIndex()),
      m.logTerm,
    );
    this.send({
      type: "appResp",
      commit: this.raftLog.committed,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  /** Heartbeat receiver: learn commit (the leader sends at most our match). */
  handleHeartbeat(m: HeartbeatMessage): void {
    this.raftLog.commitTo(Math.min(m.commit, this.raftLog.lastIndex()));
    this.send({
      type: "heartbeatResp",
      to: m.from,
      context: m.context,
      commit: this.raftLog.committed,
    });
  }

  /** InstallSnapshot receiver (Raft §7). */
  handleSnapshot(m: SnapshotMessage): void {
    const s = m.snapshot.metadata;
    if (this.restore(m.snapshot)) {
      this.logger?.("info", `${this.id} restored snapshot at index ${s.index}, term ${s.term}`);
      this.send({
        type: "appResp",
        commit: this.raftLog.committed,
        to: m.from,
        index: this.raftLog.lastIndex(),
        reject: false,
        rejectHint: 0,
        logTerm: 0,
      });
    } else {
      this.send({
        type: "appResp",
        commit: this.raftLog.committed,
        to: m.from,
        index: this.raftLog.committed,
        reject: false,
        rejectHint: 0,
        logTerm: 0,
      });
    }
  }

  /** Installs a snapshot if it is ahead of our commit. Returns true if it was installed. */
  restore(s: Snapshot): boolean {
    const meta = s.metadata;
    if (meta.index <= this.raftLog.committed) return false;
    if (this.role !== "follower") {
      // Only a follower receives snapshots; anything else is a bug somewhere.
      this.becomeFollower(this.term + 1, NO_NODE);
      return false;
    }
    const cs = meta.confState;
    const member = [...cs.voters, ...cs.learners, ...cs.votersOutgoing].includes(this.id);
    if (!member) return false;
    if (this.raftLog.matchTerm(meta.index, meta.term)) {
      // We already have the entries; just learn that they are committed.
      this.raftLog.commitTo(meta.index);
      return false;
    }
    this.raftLog.restore(s);
    this.trk.progress = new Map();
    this.#switchToConfig(configFromConfState(cs));
    return true;
  }

  // ---- membership --------------------------------------------------------

  /** Applies a committed conf change entry; returns the new membership. */
  applyConfChange(cc: ConfChange): ConfState {
    let cfg: TrackerConfig;
    try {
      cfg = applyConfChange(this.trk.config, cc);
    } catch (e) {
      // The leader validated it when proposing; a committed invalid change is a bug.
      if (e instanceof ConfChangeError) throw new RaftInvariantError(`committed ${e.message}`);
      throw e;
    }
    return this.#switchToConfig(cfg);
  }

  #switchToConfig(cfg: TrackerConfig): ConfState {
    this.trk.setConfig(cfg, this.raftLog.lastIndex() + 1);
    const cs = confStateFromConfig(cfg);
    const pr = this.trk.progress.get(this.id);
    this.isLearner = pr?.isLearner ?? false;
    if ((pr === undefined || this.isLearner) && this.role === "leader") {
      // Removed or demoted: keep leading until every new voter knows the change committed.
      if (this.stepDownOnRemoval) {
        this.pendingStepDown = this.raftLog.committed;
        this.maybeStepDownAfterRemoval();
      }
      return cs;
    }
    if (this.role !== "leader" || cs.voters.length === 0) return cs;
    if (this.maybeCommit()) this.onCommitAdvanced();
    else {
      for (const id of this.trk.progress.keys()) {
        if (id !== this.id) this.maybeSendAppend(id, false);
      }
    }
    if (this.leadTransferee !== NO_NODE && !this.trk.isVoter(this.leadTransferee)) {
      this.abortLeaderTransfer();
    }
    return cs;
  }

  /**
   * Steps down once a quorum of the configuration's voters knows the commit
   * that removed this leader: they hold its whole log (it appends nothing
   * after its removal) and can elect one of them, also while a voter is down.
   */
  maybeStepDownAfterRemoval(): void {
    if (this.pendingStepDown === 0 || this.role !== "leader") return;
    const known = jointCommittedIndex(
      this.trk.config.voters,
      (id) => id === this.id ? 0 : this.trk.progress.get(id)?.knownCommit ?? 0,
    );
    if (known < this.pendingStepDown) return;
    this.logger?.("info", `${this.id} steps down: it was removed and a quorum of voters knows it`);
    this.becomeFollower(this.term, NO_NODE);
  }

  /** True while a joint configuration is active. */
  isJoint(): boolean {
    return isJoint(this.trk.config);
  }

  /**
   * Checks a proposed conf change against the current configuration (leader
   * side): throws `ConfChangeError`, returns an error message for a drop, or
   * returns the configuration the change leads to.
   */
  validateConfChange(data: Uint8Array): string | TrackerConfig {
    if (this.pendingConfIndex > this.raftLog.applied) {
      return `a configuration change at index ${this.pendingConfIndex} is not applied yet`;
    }
    return applyConfChange(this.trk.config, decodeConfChange(data));
  }

  /** True if `cfg` gives this node a vote (in either half of a joint configuration). */
  votesIn(cfg: TrackerConfig): boolean {
    return cfg.voters.incoming.has(this.id) || cfg.voters.outgoing.has(this.id);
  }

  /**
   * The index of the last configuration change in the unapplied part of the
   * log if the configuration after all of them gives this node no vote; 0
   * otherwise (a new leader checks what its predecessor appended).
   */
  #unappliedRemoval(): number {
    const last = this.raftLog.lastIndex();
    let cfg = this.trk.config;
    let at = 0;
    for (let lo = this.raftLog.applied + 1; lo <= last;) {
      const ents = this.raftLog.slice(lo, last + 1, 1 << 20);
      for (const e of ents) {
        if (e.type !== "confChange") continue;
        try {
          cfg = applyConfChange(cfg, decodeConfChange(e.data));
          at = e.index;
        } catch {
          // A change the forecast cannot apply changes nothing (applying it will say more).
        }
      }
      lo += ents.length;
    }
    return at !== 0 && !this.votesIn(cfg) ? at : 0;
  }
}

/** A peer could not be reached: stop pipelining to it and probe instead. */
export function reportUnreachable(r: Raft, id: NodeId): void {
  if (r.role !== "leader") return;
  const pr = r.trk.progress.get(id);
  if (pr !== undefined && pr.state === "replicate") pr.becomeProbe();
}

/** Outcome of sending a snapshot to `id`. On failure the leader retries after the next heartbeat. */
export function reportSnapshot(r: Raft, id: NodeId, ok: boolean): void {
  if (r.role !== "leader") return;
  const pr = r.trk.progress.get(id);
  if (pr === undefined || pr.state !== "snapshot") return;
  if (!ok) pr.pendingSnapshot = 0;
  pr.becomeProbe();
  // Wait for a heartbeat response before probing again.
  pr.msgAppFlowPaused = true;
}
