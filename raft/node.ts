/**
 * The async driver of one Raft node: a ticker, the Ready loop (persist ->
 * send -> apply -> advance), proposals as promises, linearizable read
 * barriers, snapshots, and events. Clock, storage and transport are injected,
 * so the same driver runs in tests and in production.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import {
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeTransition,
  decodeConfChange,
} from "./core/confchange.ts";
import { membersOf } from "./core/conf_state.ts";
import { NotLeaderError, ProposalDroppedError } from "./core/errors.ts";
import { type ProposeReceipt, RawNode } from "./core/raw_node.ts";
import type {
  ConfState,
  Entry,
  Message,
  NodeId,
  Ready,
  Role,
  SnapshotMetadata,
} from "./core/types.ts";
import { NO_NODE } from "./core/types.ts";
import { DeadlineQueue } from "./deadlines.ts";
import { Emitter } from "./emitter.ts";
import { decodeEnvelope, restampEnvelope } from "./envelope.ts";
import { OutcomeUnknownError, StoppedError, TimeoutError } from "./node_errors.ts";
import type { WritableStorage } from "./storage/writable_storage.ts";
import type { Pending } from "./_pending.ts";
import { Proposals } from "./_proposals.ts";
import { type ReadRound, ReadRounds } from "./_read_rounds.ts";
import type {
  AppliedCommand,
  NodeBackup,
  NodeEvents,
  NodeOptions,
  NodeStatus,
  StateMachine,
  Transport,
} from "./node_types.ts";

export type * from "./node_types.ts";

/** Default of {@link NodeOptions.snapshotEvery}. */
const DEFAULT_SNAPSHOT_EVERY = 10_000;

/**
 * Whether a node started with this `snapshotEvery` snapshots its state
 * machine periodically (the default does; 0 turns it off).
 *
 * @example
 * ```ts
 * import { snapshotsArePeriodic } from "./node.ts";
 * console.assert(snapshotsArePeriodic(undefined) && !snapshotsArePeriodic(0));
 * ```
 */
export function snapshotsArePeriodic(snapshotEvery: number | undefined): boolean {
  return (snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY) > 0;
}

function freshId(): string {
  return crypto.randomUUID().slice(0, 8);
}

/**
 * A running Raft node.
 *
 * @example
 * ```ts
 * import { RaftNode, type AppliedCommand } from "./node.ts";
 * import { MemoryStorage } from "./storage/memory_storage.ts";
 *
 * const node = await RaftNode.start({
 *   id: "n1",
 *   storage: MemoryStorage.withVoters(["n1"]),
 *   transport: { send() {} },
 *   stateMachine: {
 *     apply: (cmds: readonly AppliedCommand[]) => cmds.map((c) => c.payload.length),
 *     snapshot: () => new Uint8Array(),
 *     restore: () => {},
 *   },
 *   tickMs: 5,
 * });
 * await node.waitForLeader(2000);
 * const len = await node.propose(new TextEncoder().encode("hello"));
 * console.assert(len === 5);
 * await node.stop();
 * ```
 */
export class RaftNode<R = unknown> {
  /** This node's id. */
  readonly id: NodeId;
  readonly #raw: RawNode;
  readonly #storage: WritableStorage;
  readonly #transport: Transport;
  readonly #sm: StateMachine<R>;
  readonly #clock: Clock;
  readonly #tickMs: number;
  /**
   * When the last tick was counted ({@link Clock.monotonic}). A timer that
   * fires late after the process was paused fires once, not once per missed
   * interval; the missed ticks are counted from the elapsed time instead, or
   * a leader's lease would outlive the others' election timeout.
   */
  #tickedAt: number;
  /** A snapshot install in progress (see {@link RaftNode.installing}). */
  #installing: { done: Promise<void>; end: () => void } | undefined;
  /** Missed ticks counted at most (enough to end any lease and election timeout). */
  readonly #maxCatchUpTicks: number;
  readonly #electionMs: number;
  readonly #timeoutMs: number;
  readonly #snapshotEvery: number;
  /** Entries before the next snapshot: snapshotEvery plus up to half of it (see #drawSnapshotAfter). */
  #snapshotAfter = 0;
  readonly #snapshotKeep: number;
  readonly #peerUrls: Map<NodeId, string>;
  readonly #events = new Emitter<NodeEvents>();
  readonly #boot = freshId();
  /** Start of this node's proposal ids, before the sequence number. */
  readonly #idPrefix: string;

  /** Proposals and membership changes not settled yet; the source of request ids. */
  readonly #proposals: Proposals<R>;
  /** Timeouts of proposals and reads, checked every tick. */
  readonly #deadlines = new DeadlineQueue();
  /** When the oldest unanswered heartbeat to each peer was sent (round-trip measurement). */
  readonly #heartbeatSentAt = new Map<NodeId, number>();
  /** Proposals this node appended as leader, by index: lost if that index commits with another term. */
  readonly #byIndex = new Map<number, { term: number; seq: number }>();
  /** {@link RaftNode.removed}. */
  #removed = false;
  /** When this node lost its leader (monotonic ms), while it knows none. */
  #leaderlessSince: number | undefined;
  readonly #reads = new ReadRounds((e) => this.#withUrl(e));
  #appliedWaiters: { index: number; p: Pending<void> }[] = [];
  /** Callers of {@link RaftNode.backup}, answered by the loop between two Readies. */
  #backupWaiters: Pending<NodeBackup>[] = [];
  /** Callers of waitForLeader, rejected by a stop. */
  readonly #leaderWaiters = new Set<(e: unknown) => void>();

  #applied: number;
  #confState: ConfState;
  #snapshotIndex: number;
  /** Take a snapshot at the next opportunity, whatever `snapshotEvery` says. */
  #snapshotDue = false;
  /** Size of the last snapshot, and bytes of entries applied since. */
  #snapshotBytes = 0;
  #appliedBytes = 0;
  /** The snapshot being written, if any. */
  #snapshotTask: Promise<void> | undefined;
  /** Snapshots installed from the leader so far. */
  #restores = 0;
  /** Membership changes applied in the Ready being handled, settled after `advance`. */
  #confApplied: [string, ConfState][] = [];
  #role: Role = "follower";
  #leader: NodeId = NO_NODE;
  #term: number;
  #commit: number;

  #stopped = false;
  #stopError: unknown = undefined;
  #stopTicker: () => void = () => {};
  #wakeUp: (() => void) | undefined;
  #woken = false;
  #loopDone: Promise<void> = Promise.resolve();

  private constructor(opts: NodeOptions<R>, applied: number, snapshotBytes: number) {
    this.id = opts.id;
    this.#storage = opts.storage;
    this.#transport = opts.transport;
    this.#sm = opts.stateMachine;
    this.#clock = opts.clock ?? systemClock;
    this.#tickedAt = this.#elapsed();
    this.#tickMs = opts.tickMs ?? 10;
    const electionTick = opts.raft?.electionTick ?? 30;
    const heartbeatTick = opts.raft?.heartbeatTick ??
      Math.min(5, Math.max(1, Math.floor(electionTick / 6)));
    this.#electionMs = electionTick * this.#tickMs;
    this.#maxCatchUpTicks = 2 * electionTick + 2;
    this.#timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.#snapshotEvery = opts.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
    this.#snapshotKeep = opts.snapshotKeep ?? 5_000;
    this.#idPrefix = `${opts.id}:${this.#boot}:`;
    this.#proposals = new Proposals<R>({
      idPrefix: this.#idPrefix,
      clock: this.#clock,
      deadlines: this.#deadlines,
      timeoutMs: this.#timeoutMs,
    });
    this.#peerUrls = new Map(Object.entries(opts.peerUrls ?? {}));
    this.#raw = new RawNode({
      ...opts.raft,
      electionTick,
      heartbeatTick,
      id: opts.id,
      storage: opts.storage,
      applied,
    });
    this.#applied = applied;
    this.#snapshotIndex = applied;
    this.#snapshotAfter = this.#drawSnapshotAfter();
    this.#snapshotBytes = snapshotBytes;
    this.#confState = opts.storage.initialState().confState;
    // A node only ever holds a snapshot of a membership it was part of (a leader sends none to
    // others): one that no longer lists it is its own, taken after it applied its removal.
    const members = membersOf(this.#confState);
    this.#removed = members.size > 0 && !members.has(opts.id);
    const hs = opts.storage.initialState().hardState;
    this.#term = hs.term;
    this.#commit = hs.commit;
  }

  /** Restores the state machine from the latest snapshot and starts the node. */
  static async start<R>(opts: NodeOptions<R>): Promise<RaftNode<R>> {
    const snap = opts.storage.snapshot();
    if (snap.metadata.index > 0) await opts.stateMachine.restore(snap.data);
    const node = new RaftNode(opts, snap.metadata.index, snap.data.length);
    // A fresh member of the initial cluster puts the membership in its log for later joiners.
    node.#raw.bootstrap();
    node.#stopTicker = node.#clock.every(node.#tickMs, () => node.#tick());
    node.#loopDone = node.#loop();
    return node;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof NodeEvents>(event: K, listener: (payload: NodeEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** True once {@link RaftNode.stop} was called or the node failed. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Current role (as of the last message or tick handled). */
  get role(): Role {
    return this.#raw.softState().role;
  }

  /**
   * True once this node applied a membership (change or snapshot) that no
   * longer lists it, having been listed before, and has applied every entry
   * it knows to be committed: it was removed from the cluster, and is no more
   * if added again. A node that is joining (catching up on memberships from
   * before its addition) is not removed. A node restarted after its removal
   * knows it from its snapshot, when that was taken after the removal, or
   * from replaying its log. While a node catches up, a later committed entry
   * may add it again (an id used before), so it is not called removed until
   * it has applied them all.
   */
  get removed(): boolean {
    return this.#removed && this.#applied >= this.#commit;
  }

  /** Applies a new membership, noting whether it removed this node. */
  #setConfState(cs: ConfState): void {
    if (membersOf(cs).has(this.id)) this.#removed = false;
    else if (membersOf(this.#confState).has(this.id)) this.#removed = true;
    this.#confState = cs;
  }

  /** How long a proposal or read waits by default (`requestTimeoutMs`), in ms. */
  get requestTimeoutMs(): number {
    return this.#timeoutMs;
  }

  /** Known leader, or "" when none. */
  get leader(): NodeId {
    return this.#raw.softState().leader;
  }

  /** Highest applied index. */
  get applied(): number {
    return this.#applied;
  }

  /** URL of a peer, if known. */
  peerUrl(id: NodeId): string | undefined {
    return this.#peerUrls.get(id);
  }

  /** Records a peer's URL (e.g. learned from a membership change). */
  setPeerUrl(id: NodeId, url: string): void {
    this.#peerUrls.set(id, url);
  }

  /**
   * Proposes a command; resolves with the state machine's result once it is
   * committed and applied on this node. Rejects with `NotLeaderError`
   * (forwarding disabled), `ProposalDroppedError`, `TimeoutError` (outcome
   * unknown), `OutcomeUnknownError` or `StoppedError` (outcome unknown when
   * its `outcomeUnknown` is set: the node stopped after taking the command).
   * The command's bytes are copied before this returns: the caller may reuse
   * its buffer at once.
   */
  propose(command: Uint8Array, opts: { timeoutMs?: number } = {}): Promise<R> {
    if (this.#stopped) return Promise.reject(new StoppedError(this.id, this.#stopError));
    const p = this.#proposals.add(command, this.#clock.now(), opts.timeoutMs);
    this.#wake();
    return p;
  }

  /**
   * Proposes several commands in one batch; resolves with their results in
   * order. Like {@link propose}, copies the bytes before it returns.
   */
  proposeMany(commands: readonly Uint8Array[], opts: { timeoutMs?: number } = {}): Promise<R[]> {
    if (this.#stopped) return Promise.reject(new StoppedError(this.id, this.#stopError));
    if (commands.length === 0) return Promise.resolve([]);
    const now = this.#clock.now();
    // Proposals made while the loop is busy go to Raft together: one append per peer, not one each.
    return Promise.all(commands.map((c) => {
      const p = this.#proposals.add(c, now, opts.timeoutMs);
      this.#wake();
      return p;
    }));
  }

  #flushProposals(): void {
    const queued = this.#proposals.takeQueued();
    if (queued === undefined) return;
    const { seqs, datas } = queued;
    let receipt: ProposeReceipt | undefined;
    const context = this.#idPrefix + seqs[0]!;
    try {
      receipt = this.#raw.proposeBatch(datas, context);
    } catch (e) {
      for (const seq of seqs) this.#proposals.reject(seq, this.#withUrl(e));
      return;
    }
    if (receipt !== undefined) {
      for (let i = 0; i < seqs.length; i++) {
        this.#byIndex.set(receipt.firstIndex + i, { term: receipt.term, seq: seqs[i]! });
      }
    } else {
      this.#proposals.forwarded(context, seqs);
    }
  }

  /** Forwarded batches whose refusal this node would still act on (at most a few per pending one). */
  get forwardedBatches(): number {
    return this.#proposals.forwardedBatches;
  }

  /**
   * Proposes a membership change; resolves with the new membership once it is
   * applied on this node. `context` travels with the change (e.g. the new
   * member's URL) and reaches `addPeer` listeners.
   */
  changeMembership(
    changes: readonly ConfChangeSingle[],
    opts: { transition?: ConfChangeTransition; context?: string; timeoutMs?: number } = {},
  ): Promise<ConfState> {
    if (this.#stopped) return Promise.reject(new StoppedError(this.id, this.#stopError));
    const pid = this.#proposals.nextId();
    const cc: ConfChange = {
      changes,
      context: JSON.stringify({ pid, context: opts.context ?? "" }),
      ...(opts.transition !== undefined ? { transition: opts.transition } : {}),
    };
    const p = this.#proposals.addConfChange(pid, opts.timeoutMs);
    try {
      this.#raw.proposeConfChange(cc, pid);
    } catch (e) {
      this.#proposals.settleConfChange(pid, undefined, this.#withUrl(e));
      return p;
    }
    this.#wake();
    return p;
  }

  /**
   * A linearizable read barrier (Raft thesis §6.4): resolves with a read
   * index once this node has applied it; reading local state after that
   * reflects every write committed before the call. Concurrent calls share
   * one leadership confirmation round.
   */
  readIndex(opts: { timeoutMs?: number } = {}): Promise<number> {
    if (this.#stopped) return Promise.reject(new StoppedError(this.id, this.#stopError));
    return new Promise<number>((resolve, reject) => {
      const cancelTimer = this.#deadlines.add(
        this.#clock.now(),
        opts.timeoutMs ?? this.#timeoutMs,
        () => {
          this.#reads.forget(pending);
          reject(new TimeoutError("read index", opts.timeoutMs ?? this.#timeoutMs));
        },
      );
      const pending: Pending<number> = { resolve, reject, cancelTimer };
      this.#reads.add(pending);
      this.#wake();
    });
  }

  /** Resolves once this node has applied `index` (read-your-writes on any node). */
  waitForApplied(index: number, opts: { timeoutMs?: number } = {}): Promise<void> {
    if (index <= this.#applied) return Promise.resolve();
    if (this.#stopped) return Promise.reject(new StoppedError(this.id, this.#stopError));
    return new Promise<void>((resolve, reject) => {
      const ms = opts.timeoutMs ?? this.#timeoutMs;
      const cancelTimer = this.#deadlines.add(this.#clock.now(), ms, () => {
        this.#appliedWaiters = this.#appliedWaiters.filter((w) => w.p !== p);
        reject(new TimeoutError(`waiting for index ${index} to be applied`, ms));
      });
      const p: Pending<void> = { resolve, reject, cancelTimer };
      this.#appliedWaiters.push({ index, p });
    });
  }

  /**
   * This node's state at its applied index, for a backup: the state
   * machine's `backup()` (or `snapshot()`), with that index, its term and the
   * membership there. Taken between two batches of applied entries, so the
   * data and the index agree. The index is this node's: call
   * {@link RaftNode.readIndex} first for a backup holding every write
   * acknowledged before the call.
   */
  backup(): Promise<NodeBackup> {
    if (this.#stopped) return Promise.reject(new StoppedError(this.id, this.#stopError));
    return new Promise<NodeBackup>((resolve, reject) => {
      this.#backupWaiters.push({ resolve, reject, cancelTimer: () => {} });
      this.#wake();
    });
  }

  async #takeBackups(): Promise<void> {
    const waiters = this.#backupWaiters;
    this.#backupWaiters = [];
    const index = this.#applied;
    const confState = this.#confState;
    // One each: a backup's chunks are read once.
    for (const w of waiters) {
      try {
        const term = index === 0 ? 0 : this.#storage.term(index);
        const data = await (this.#sm.backup?.() ?? this.#sm.snapshot());
        w.resolve({ metadata: { index, term, confState }, data });
      } catch (e) {
        w.reject(e);
      }
    }
  }

  /** Resolves once a leader is known (this node or another). */
  async waitForLeader(timeoutMs: number = this.#timeoutMs): Promise<NodeId> {
    if (this.#stopped) throw new StoppedError(this.id, this.#stopError);
    if (this.#leader !== NO_NODE) return this.#leader;
    return await new Promise<NodeId>((resolve, reject) => {
      const done = () => {
        off();
        cancel();
        this.#leaderWaiters.delete(stopped);
      };
      const stopped = (e: unknown) => (done(), reject(e));
      const off = this.on("leaderChange", ({ leader }) => {
        if (leader === NO_NODE) return;
        done();
        resolve(leader);
      });
      const cancel = this.#clock.after(timeoutMs, () => {
        done();
        reject(new TimeoutError("waiting for a leader", timeoutMs));
      });
      this.#leaderWaiters.add(stopped);
    });
  }

  /**
   * While a snapshot from the leader is being installed (from the write that
   * replaces the log to the state machine's restore), a promise that
   * resolves when it is done; otherwise undefined. The state machine still
   * holds its old state then, whose log entries may be gone: readers of the
   * log wait for this first.
   */
  get installing(): Promise<void> | undefined {
    return this.#installing?.done;
  }

  #startInstall(): void {
    if (this.#installing !== undefined) return;
    let end!: () => void;
    const done = new Promise<void>((r) => (end = r));
    this.#installing = { done, end };
  }

  #endInstall(): void {
    const i = this.#installing;
    this.#installing = undefined;
    i?.end();
  }

  /** Hands a message from a peer to Raft. Messages for other nodes are ignored. */
  step(m: Message): void {
    if (this.#stopped || m.to !== this.id) return;
    if (m.type === "prop" && this.#raw.softState().role === "leader") {
      // The log carries the leader's time, whichever node proposed (one clock for all events).
      const now = this.#clock.now();
      m = {
        ...m,
        entries: m.entries.map((e) =>
          e.type === "normal" ? { ...e, data: restampEnvelope(e.data, now) } : e
        ),
      };
    }
    if (m.type === "heartbeatResp") {
      const sent = this.#heartbeatSentAt.get(m.from);
      if (sent !== undefined) {
        this.#heartbeatSentAt.delete(m.from);
        this.observeRoundTrip(m.from, this.#clock.now() - sent);
      }
    }
    this.#raw.step(m);
    this.#wake();
  }

  /** Starts an election now. */
  campaign(): void {
    this.#raw.campaign();
    this.#wake();
  }

  /** Asks the leader to hand leadership to `to` (Raft thesis §3.10). */
  transferLeadership(to: NodeId): void {
    this.#raw.transferLeader(to);
    this.#wake();
  }

  /**
   * A peer could not be reached; Raft probes it instead of pipelining. A
   * heartbeat sent to it may never be answered: its round trip is measured
   * again from the next one.
   */
  reportUnreachable(id: NodeId): void {
    if (this.#stopped) return;
    this.#heartbeatSentAt.delete(id);
    this.#raw.reportUnreachable(id);
  }

  /**
   * A new connection to a peer opened (after it was down, or restarted):
   * heartbeats sent before may never be answered, so its round trip is
   * measured from the next one, not from a heartbeat of before its restart.
   */
  reportConnected(id: NodeId): void {
    this.#heartbeatSentAt.delete(id);
  }

  /** Outcome of sending a snapshot to a peer. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    if (this.#stopped) return;
    this.#raw.reportSnapshot(id, ok);
    this.#wake();
  }

  /** Records a heartbeat round trip; warns when it exceeds 80% of the election timeout. */
  observeRoundTrip(peer: NodeId, ms: number): void {
    this.#events.emit("roundTrip", { peer, ms });
    if (ms > 0.8 * this.#electionMs) {
      this.#events.emit("warning", {
        message: `Round trip to ${peer} took ${
          Math.round(ms)
        } ms, over 80% of the ${this.#electionMs} ms election timeout`,
      });
    }
  }

  /** The node's state. */
  status(): NodeStatus {
    const s = this.#raw.status();
    return {
      id: this.id,
      role: s.softState.role,
      term: s.hardState.term,
      leader: s.softState.leader,
      commit: s.hardState.commit,
      applied: this.#applied,
      lastIndex: s.lastIndex,
      firstIndex: this.#storage.firstIndex(),
      confState: this.#confState,
      members: [...s.progress].map(([id, p]) => ({
        id,
        match: p.match,
        next: p.next,
        state: p.state,
        learner: p.isLearner,
      })),
    };
  }

  /**
   * Stops the node: finishes the write in flight, rejects every pending
   * request with `StoppedError`, and closes storage.
   */
  async stop(): Promise<void> {
    if (!this.#stopped) this.#halt(undefined);
    await this.#loopDone;
  }

  // ---- internals ---------------------------------------------------------

  #withUrl(e: unknown): unknown {
    if (e instanceof NotLeaderError && e.leaderHint !== NO_NODE) {
      const url = this.#peerUrls.get(e.leaderHint);
      if (url !== undefined) {
        return new NotLeaderError(this.id, e.leaderHint, { url });
      }
    }
    return e;
  }

  #tick(): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    this.#deadlines.expire(now);
    this.#proposals.expire(now);
    this.#catchUpTicks(1);
    // A read request or its answer may be lost (messages are): ask again after an election
    // timeout (an answer to the earlier request still counts).
    if (this.#reads.size > 0 && this.#leader !== NO_NODE) {
      this.#retryReadRounds(this.#electionMs);
    } else if (
      this.#reads.size > 0 && this.#leaderlessSince !== undefined &&
      this.#elapsed() - this.#leaderlessSince >= this.#electionMs
    ) {
      this.#failUnansweredReads();
    }
    this.#wake();
  }

  /**
   * Fails the read rounds nobody answered once this node has known no leader
   * for an election timeout (it lost its leader, or was a leader cut off
   * from the others): reads are safe to retry, elsewhere or later, rather
   * than wait for their timeout.
   */
  #failUnansweredReads(): void {
    this.#reads.failUnanswered(new NotLeaderError(this.id, NO_NODE));
  }

  #elapsed(): number {
    return this.#clock.monotonic?.() ?? this.#clock.now();
  }

  /** Ticks Raft once per tick interval elapsed since the last tick counted, at least `min` times. */
  #catchUpTicks(min: number): void {
    const now = this.#elapsed();
    let due = Math.max(min, Math.floor((now - this.#tickedAt) / this.#tickMs));
    if (due <= 0) return;
    if (due > this.#maxCatchUpTicks) {
      due = this.#maxCatchUpTicks;
      this.#tickedAt = now;
    } else this.#tickedAt += due * this.#tickMs;
    for (let i = 0; i < due; i++) this.#raw.tick();
  }

  #wake(): void {
    this.#woken = true;
    const w = this.#wakeUp;
    this.#wakeUp = undefined;
    w?.();
  }

  async #loop(): Promise<void> {
    try {
      while (!this.#stopped) {
        if (!this.#woken) await new Promise<void>((r) => (this.#wakeUp = r));
        this.#woken = false;
        if (this.#stopped) break;
        this.#flushProposals();
        this.#flushReads();
        while (!this.#stopped && this.#raw.hasReady()) {
          await this.#handleReady(this.#raw.ready());
          // Between two Readies, so that a steady stream of writes cannot hold a backup back.
          if (this.#backupWaiters.length > 0 && !this.#stopped) await this.#takeBackups();
          this.#flushProposals();
          this.#flushReads();
        }
        if (this.#backupWaiters.length > 0 && !this.#stopped) await this.#takeBackups();
      }
    } catch (e) {
      this.#events.emit("warning", {
        message: `Node ${this.id} failed: ${e instanceof Error ? e.message : e}`,
      });
      this.#halt(e);
    }
    await this.#snapshotTask;
    try {
      await this.#storage.close();
    } catch (e) {
      this.#stopError ??= e;
    }
    this.#events.emit("stopped", this.#stopError === undefined ? {} : { error: this.#stopError });
  }

  #halt(error: unknown): void {
    this.#stopped = true;
    this.#endInstall();
    this.#stopError = error;
    this.#stopTicker();
    const err = new StoppedError(this.id, error);
    // Proposals it took may be in the log already, and commit after all.
    this.#proposals.stop(new StoppedError(this.id, error, { outcomeUnknown: true }));
    this.#reads.stop(err);
    for (const w of this.#appliedWaiters) (w.p.cancelTimer(), w.p.reject(err));
    this.#appliedWaiters = [];
    for (const w of this.#backupWaiters) w.reject(err);
    this.#backupWaiters = [];
    for (const stopped of [...this.#leaderWaiters]) stopped(err);
    this.#wake();
  }

  #flushReads(): void {
    if (!this.#reads.queued) return;
    // A lease is only as good as the node's count of elapsed time: bring it up to date first.
    this.#catchUpTicks(0);
    this.#askRound(this.#reads.takeRound());
  }

  /** Hands a read round to Raft under a new context (its earlier ones stay valid). */
  #askRound(round: ReadRound): void {
    const ctx = this.#proposals.nextId("r");
    try {
      this.#raw.readIndex(ctx);
    } catch (e) {
      this.#reads.abandon(round, e);
      return;
    }
    this.#reads.asked(round, ctx, this.#elapsed());
  }

  #send(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    for (const m of messages) {
      if (m.type === "heartbeat" && !this.#heartbeatSentAt.has(m.to)) {
        this.#heartbeatSentAt.set(m.to, this.#clock.now());
      }
    }
    this.#transport.send(messages);
  }

  async #handleReady(rd: Ready): Promise<void> {
    // Answers to read rounds count at once (the reads are released once applied, below).
    for (const rs of rd.readStates) this.#reads.answered(rs.context, rs.index);
    for (const rp of rd.refusedProposals) this.#proposals.refused(rp.context, rp.reason);
    if (rd.canSendBeforePersist) this.#send(rd.messages);
    // Committed entries already in local storage are applied while this Ready's write is in
    // flight: they are on a quorum of disks, and readers of the log can already find them.
    const firstNew = rd.entries[0]?.index ?? Infinity;
    let split = 0;
    while (split < rd.committedEntries.length && rd.committedEntries[split]!.index < firstNew) {
      split++;
    }
    const early = rd.snapshot === undefined && split > 0 ? rd.committedEntries.slice(0, split) : [];
    const late = early.length > 0 ? rd.committedEntries.slice(split) : rd.committedEntries;
    if (rd.snapshot !== undefined) this.#startInstall();
    if (rd.snapshot !== undefined || rd.entries.length > 0 || rd.hardState !== undefined) {
      const saved = this.#storage.save(
        {
          entries: rd.entries,
          ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
          ...(rd.snapshot !== undefined ? { snapshot: rd.snapshot } : {}),
        },
        { sync: rd.mustSync },
      );
      if (early.length > 0) {
        // Wait for both even if one fails, so no write is left running unobserved.
        const [s, a] = await Promise.allSettled([saved, this.#apply(early)]);
        if (s.status === "rejected") throw s.reason;
        if (a.status === "rejected") throw a.reason;
      } else {
        await saved;
      }
    } else if (early.length > 0) {
      await this.#apply(early);
    }
    if (!rd.canSendBeforePersist) this.#send(rd.messages);
    if (rd.snapshot !== undefined) {
      await this.#sm.restore(rd.snapshot.data);
      this.#applied = rd.snapshot.metadata.index;
      this.#snapshotIndex = rd.snapshot.metadata.index;
      this.#snapshotBytes = rd.snapshot.data.length;
      this.#appliedBytes = 0;
      this.#restores++;
      this.#setConfState(rd.snapshot.metadata.confState);
      this.#settleCoveredProposals(rd.snapshot.metadata);
      this.#endInstall();
    }
    this.#observeState(rd);
    await this.#apply(late);
    this.#raw.advance(rd);
    for (const [pid, cs] of this.#confApplied) this.#proposals.settleConfChange(pid, cs);
    this.#confApplied = [];
    this.#reads.release(this.#applied);
    this.#releaseAppliedWaiters();
    await this.#maybeSnapshot();
  }

  /**
   * Settles this node's proposals at indexes an installed snapshot covers: they
   * will never be applied here. By log matching, the snapshot's term at its
   * index tells what became of them: a term earlier than theirs means the
   * committed log holds entries of earlier terms at their indexes (dropped);
   * their own term means this node, as leader of that term, wrote both
   * (committed, result not known here); a later term, either.
   */
  #settleCoveredProposals(meta: SnapshotMetadata): void {
    for (const [index, mine] of this.#byIndex) {
      if (index > meta.index) continue;
      this.#byIndex.delete(index);
      const err = mine.term > meta.term
        ? new ProposalDroppedError(
          `entry ${index} of term ${mine.term} is not in the committed log (the snapshot at ${meta.index} ends in term ${meta.term})`,
        )
        : new OutcomeUnknownError(
          mine.term === meta.term
            ? `entry ${index} was committed, but its result went into a snapshot this node installed`
            : `entry ${index} of term ${mine.term} is covered by a snapshot this node installed (term ${meta.term} at ${meta.index})`,
        );
      this.#proposals.reject(mine.seq, err);
    }
  }

  #observeState(rd: Ready): void {
    let newTerm = false;
    if (rd.hardState !== undefined) {
      if (rd.hardState.term !== this.#term) {
        this.#term = rd.hardState.term;
        newTerm = true;
        this.#events.emit("termChange", { term: this.#term });
      }
      if (rd.hardState.commit !== this.#commit) {
        this.#commit = rd.hardState.commit;
        this.#events.emit("commit", { index: this.#commit });
      }
    }
    if (rd.softState !== undefined) {
      if (rd.softState.role !== this.#role) {
        this.#role = rd.softState.role;
        // Heartbeats of an earlier leadership say nothing about round trips now.
        this.#heartbeatSentAt.clear();
        this.#events.emit("stateChange", { role: this.#role, term: this.#term });
      }
      if (rd.softState.leader !== this.#leader) {
        this.#leader = rd.softState.leader;
        this.#leaderlessSince = this.#leader === NO_NODE ? this.#elapsed() : undefined;
        newTerm = true;
        this.#events.emit("leaderChange", { leader: this.#leader, term: this.#term });
      }
    }
    // Read rounds sent to an earlier leader, or to this leader in an earlier term (a new term
    // resets its pending reads), will never be answered: ask again.
    if (newTerm && this.#leader !== NO_NODE) this.#retryReadRounds(Infinity);
  }

  /**
   * Asks again for the unanswered read rounds last asked more than `ms` ago.
   * An answer to an earlier request of the round still counts (it may be on
   * its way, or in a Ready being handled), whichever comes first.
   */
  #retryReadRounds(ms: number): void {
    const before = ms === Infinity ? Infinity : this.#elapsed() - ms;
    for (const round of this.#reads.unanswered(before)) this.#askRound(round);
  }

  async #apply(entries: readonly Entry[]): Promise<void> {
    let batch: AppliedCommand[] = [];
    // Entries up to `upTo` are handled; `applied` moves there only once the state machine has
    // them (its apply may be async, and waitForApplied readers then read it).
    let upTo = this.#applied, bytes = 0;
    const done = () => {
      this.#applied = upTo;
      this.#appliedBytes += bytes;
      bytes = 0;
    };
    const flush = async () => {
      if (batch.length === 0) return;
      const cmds = batch;
      batch = [];
      const results = await this.#sm.apply(cmds);
      done();
      for (let i = 0; i < cmds.length; i++) {
        const c = cmds[i]!;
        this.#proposals.resolve(c.id, results[i] as R);
      }
    };
    for (const e of entries) {
      const mine = this.#byIndex.get(e.index);
      if (mine !== undefined) {
        this.#byIndex.delete(e.index);
        if (mine.term !== e.term) {
          this.#proposals.reject(
            mine.seq,
            new ProposalDroppedError(
              `entry ${e.index} was overwritten by a leader of term ${e.term}`,
            ),
          );
        }
      }
      if (e.type === "confChange") {
        await flush();
        this.#applyConfChange(e);
      } else if (e.data.length > 0) {
        let env;
        try {
          env = decodeEnvelope(e.data);
        } catch {
          env = { id: "", timestamp: 0, payload: e.data };
        }
        batch.push({
          index: e.index,
          term: e.term,
          id: env.id,
          timestamp: env.timestamp,
          payload: env.payload,
        });
      }
      upTo = e.index;
      bytes += e.data.length;
      if (batch.length === 0) done();
    }
    await flush();
  }

  #applyConfChange(e: Entry): void {
    const cc = decodeConfChange(e.data);
    const before = membersOf(this.#confState);
    this.#setConfState(this.#raw.applyConfChange(cc));
    let pid = "", context = "";
    try {
      const c = JSON.parse(cc.context ?? "{}");
      pid = typeof c.pid === "string" ? c.pid : "";
      context = typeof c.context === "string" ? c.context : "";
    } catch {
      context = cc.context ?? "";
    }
    const after = membersOf(this.#confState);
    for (const ch of cc.changes) {
      if (ch.type !== "removeNode" && !before.has(ch.nodeId)) {
        if (context !== "" && /^https?:\/\//.test(context)) this.#peerUrls.set(ch.nodeId, context);
        this.#events.emit("addPeer", { id: ch.nodeId, context, learner: ch.type === "addLearner" });
      }
    }
    for (const id of before) {
      if (after.has(id)) continue;
      this.#events.emit("removePeer", { id });
      if (id === this.id) this.#events.emit("removed", { id });
    }
    // Settled after advance: Raft accepts the next change only once this one counts as applied.
    if (pid !== "") this.#confApplied.push([pid, this.#confState]);
    // The leader sends its latest snapshot to members that need one, and a member rejects a
    // snapshot whose membership does not include it: snapshot after every membership change.
    this.#snapshotDue = true;
  }

  #releaseAppliedWaiters(): void {
    if (this.#appliedWaiters.length === 0) return;
    const keep: { index: number; p: Pending<void> }[] = [];
    for (const w of this.#appliedWaiters) {
      if (w.index <= this.#applied) (w.p.cancelTimer(), w.p.resolve());
      else keep.push(w);
    }
    this.#appliedWaiters = keep;
  }

  /**
   * Members that applied the same entries do not all pause to snapshot at the
   * same one: the extra entries come from a hash of the node id and the
   * snapshot's place (reproducible, unlike a random draw, in seeded tests).
   */
  #drawSnapshotAfter(): number {
    let h = 0x811c9dc5 ^ this.#snapshotIndex;
    for (let i = 0; i < this.id.length; i++) h = Math.imul(h ^ this.id.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    return this.#snapshotEvery + ((h >>> 0) % (Math.floor(this.#snapshotEvery / 2) + 1));
  }

  async #maybeSnapshot(): Promise<void> {
    // One at a time: the next is considered once the last one is on disk.
    if (this.#snapshotTask !== undefined) return;
    const due = this.#snapshotDue && this.#applied > this.#snapshotIndex;
    if (
      !due &&
      (this.#snapshotEvery <= 0 || this.#applied - this.#snapshotIndex < this.#snapshotAfter ||
        this.#appliedBytes < this.#snapshotBytes)
    ) {
      return;
    }
    this.#snapshotDue = false;
    const index = this.#applied;
    const confState = this.#confState;
    const data = await this.#sm.snapshot();
    this.#snapshotIndex = index;
    this.#snapshotBytes = data.length;
    this.#appliedBytes = 0;
    this.#snapshotAfter = this.#drawSnapshotAfter();
    let upTo = index - this.#snapshotKeep;
    const retain = this.#sm.retainFrom?.();
    if (retain !== undefined) upTo = Math.min(upTo, retain - 1);
    const restores = this.#restores;
    // Written in the background: the loop goes on persisting, sending and applying.
    this.#snapshotTask = (async () => {
      await this.#storage.createSnapshot(index, confState, data);
      if (this.#storage.releasesSnapshotData === true) this.#sm.snapshotReleased?.(data);
      // A snapshot installed meanwhile replaced the state this compaction was planned for.
      if (restores === this.#restores && upTo >= this.#storage.firstIndex()) {
        await this.#storage.compact(upTo);
      }
    })().catch((e) => {
      if (this.#stopped) return;
      this.#events.emit("warning", {
        message: `Node ${this.id} failed to write a snapshot: ${
          e instanceof Error ? e.message : e
        }`,
      });
      this.#halt(e);
    }).finally(() => {
      this.#snapshotTask = undefined;
      this.#wake();
    });
  }
}
