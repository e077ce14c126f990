/**
 * A simulated Raft cluster: nodes with in-memory storage on a
 * {@link SimNetwork}, driven one step at a time, following the `Ready`
 * contract exactly, with crashes that lose everything not persisted. Every
 * write, message and applied entry is reported to an {@link InvariantChecker}.
 *
 * @module
 */

import type { Config } from "../core/config.ts";
import { type ConfChange, decodeConfChange } from "../core/confchange.ts";
import { type ProposeReceipt, RawNode } from "../core/raw_node.ts";
import type { ConfState, Message, NodeId, Ready, Role, Snapshot } from "../core/types.ts";
import { MemoryStorage } from "../storage/memory_storage.ts";
import { InvariantChecker, InvariantViolation } from "./invariants.ts";
import { SimStateMachine } from "./sim_state_machine.ts";
import { type NetworkFaults, RELIABLE, SimNetwork } from "./network.ts";
import { SimRandom } from "./prng.ts";
import { SimTrace } from "./trace.ts";

/**
 * Raft settings shared by every simulated node (id, storage, seed and applied are the cluster's).
 *
 * @example
 * ```ts
 * import type { SimRaftConfig } from "./sim_cluster.ts";
 * const r: SimRaftConfig = { electionTick: 10, heartbeatTick: 1, preVote: true };
 * ```
 */
export type SimRaftConfig = Omit<Config, "id" | "storage" | "seed" | "applied" | "logger">;

/**
 * Options of a {@link SimCluster}. Probabilities are per event.
 *
 * @example
 * ```ts
 * import type { SimClusterOptions } from "./sim_cluster.ts";
 * const o: SimClusterOptions = { seed: 7, ids: ["n1", "n2", "n3"], snapshotEvery: 20 };
 * ```
 */
export interface SimClusterOptions {
  /** Seed of every random choice the cluster makes. */
  readonly seed: number;
  /** The bootstrap voters. */
  readonly ids: readonly NodeId[];
  /** Raft settings for every node. */
  readonly raft?: SimRaftConfig;
  /** Network faults at the start. Default {@link RELIABLE}. */
  readonly faults?: NetworkFaults;
  /** Probability that an up node ticks in a step. Default 1. */
  readonly tickChance?: number;
  /** Probability of handling a node's Ready right after each message it receives (else at the end of the step). Default 0.5. */
  readonly eagerReady?: number;
  /** When a Ready allows it, probability of sending before persisting (Raft thesis §10.2.1). Default 0.5. */
  readonly sendBeforePersist?: number;
  /** Probability of crashing between sending and persisting such a Ready. Default 0. */
  readonly crashBeforePersist?: number;
  /** Probability of crashing after persisting a Ready and before sending its messages. Default 0. */
  readonly crashBeforeSend?: number;
  /**
   * Probability, per Ready, that messages due to the node arrive while the
   * Ready is outstanding (after persisting, before advancing), as they do
   * with a driver that awaits its writes and applies. Default 0.
   */
  readonly stepsDuringReady?: number;
  /** Take a state machine snapshot once this many entries were applied since the last one; 0 = never. Default 0. */
  readonly snapshotEvery?: number;
  /** Entries kept before a new snapshot's index when compacting. Default 0. */
  readonly compactLag?: number;
  /** Probability of telling the sender that a lost (non-snapshot) message was unreachable. Default 0.5. */
  readonly reportUnreachable?: number;
  /** Retire (stop for good) nodes once their removal is applied. Default true. */
  readonly retireRemoved?: boolean;
  /** Events kept in the trace. Default 200. */
  readonly traceSize?: number;
}

/**
 * The outcome of a proposal, membership change, read or transfer request.
 *
 * @example
 * ```ts
 * import type { RequestResult } from "./sim_cluster.ts";
 * const r: RequestResult = { status: "forwarded" };
 * ```
 */
export type RequestResult =
  | { readonly status: "appended"; readonly receipt: ProposeReceipt }
  | { readonly status: "forwarded" }
  | { readonly status: "refused"; readonly error: Error };

/**
 * Counts of what happened in a cluster, to tell whether a schedule exercised
 * the paths it meant to.
 *
 * @example
 * ```ts
 * import { SimCluster } from "./sim_cluster.ts";
 * const c = new SimCluster({ seed: 2, ids: ["n1", "n2", "n3"] });
 * while (c.leader() === undefined) c.step();
 * if (!(c.counters.elections >= 1 && c.counters.delivered > 0)) throw new Error("unexpected");
 * ```
 */
export interface SimCounters {
  /** Messages delivered. */
  delivered: number;
  /** Of those, delivered while the node's Ready was outstanding. */
  deliveredDuringReady: number;
  /** Messages lost (dropped, cut off, or sent to a node that is down). */
  lost: number;
  /** Times a node became leader. */
  elections: number;
  /** Snapshots installed from a leader (InstallSnapshot). */
  snapshotsInstalled: number;
  /** Snapshots taken by state machines. */
  snapshotsTaken: number;
  /** Readies whose messages were sent before their write (thesis §10.2.1). */
  earlySends: number;
  /** Crashes between sending and persisting a Ready. */
  crashesBeforePersist: number;
  /** Crashes between persisting a Ready and sending its messages. */
  crashesBeforeSend: number;
  /** Read-index answers received. */
  reads: number;
  /** Forwarded proposals whose refusal came back to their sender. */
  refusedForwards: number;
  /** Snapshot messages sent with the snapshot before the latest (a resumed transfer). */
  olderSnapshotsSent: number;
  /** Membership changes applied (counted once per index). */
  confChangesApplied: number;
}

/**
 * What the cluster exposes about one node.
 *
 * @example
 * ```ts
 * import { SimCluster, type SimNode } from "./sim_cluster.ts";
 * const n: SimNode = new SimCluster({ seed: 1, ids: ["n1"] }).node("n1");
 * if (!(n.id === "n1" && n.raw !== undefined && !n.retired)) throw new Error("unexpected");
 * ```
 */
export interface SimNode {
  /** The node's id. */
  readonly id: NodeId;
  /** Stable storage: survives crashes. */
  readonly storage: MemoryStorage;
  /** The running Raft node, or undefined while down. */
  readonly raw: RawNode | undefined;
  /** The state machine, or undefined while down. */
  readonly sm: SimStateMachine | undefined;
  /** Role from the last Ready handled (follower while down). */
  readonly role: Role;
  /** The leader it knows of, or "". */
  readonly lead: NodeId;
  /** Term from the last Ready handled (or from storage after a restart). */
  readonly term: number;
  /** Ticks since the cluster started. */
  readonly ticks: number;
  /** Stopped for good (removed from the cluster). */
  readonly retired: boolean;
}

class NodeState implements SimNode {
  raw: RawNode | undefined = undefined;
  sm: SimStateMachine | undefined = undefined;
  role: Role = "follower";
  lead: NodeId = "";
  term = 0;
  ticks = 0;
  retired = false;
  /** A membership change was applied since the last snapshot check. */
  confChanged = false;
  /** The snapshot before the latest: a transport may resume sending it instead. */
  olderSnapshot: Snapshot | undefined = undefined;
  constructor(readonly id: NodeId, readonly storage: MemoryStorage) {}
}

function members(cs: ConfState): NodeId[] {
  return [...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext];
}

/**
 * A deterministic simulated cluster. Call {@link SimCluster.step} to advance
 * time by one step: up nodes tick, due messages are delivered, Readies are
 * handled (persist, send, apply, advance), and invariants are checked. Any
 * broken invariant, or an error thrown by the core, surfaces as an
 * {@link InvariantViolation} from the call that caused it.
 *
 * @example
 * ```ts
 * import { SimCluster } from "./sim_cluster.ts";
 * const c = new SimCluster({ seed: 1, ids: ["n1", "n2", "n3"] });
 * while (c.leader() === undefined) c.step();
 * const r = c.propose(c.leader()!, new TextEncoder().encode("x=1"));
 * for (let i = 0; i < 10; i++) c.step();
 * if (!(r.status === "appended" && c.node("n3").sm?.get("x") === "1")) throw new Error("unexpected");
 * ```
 */
export class SimCluster {
  /** The network; change its faults and partitions freely. */
  readonly network: SimNetwork;
  /** The invariants checked as the cluster runs. */
  readonly checker: InvariantChecker = new InvariantChecker();
  /** The recent history, for reports. */
  readonly trace: SimTrace;
  /** What happened so far. */
  readonly counters: SimCounters = {
    delivered: 0,
    lost: 0,
    elections: 0,
    snapshotsInstalled: 0,
    snapshotsTaken: 0,
    earlySends: 0,
    deliveredDuringReady: 0,
    crashesBeforePersist: 0,
    crashesBeforeSend: 0,
    reads: 0,
    refusedForwards: 0,
    olderSnapshotsSent: 0,
    confChangesApplied: 0,
  };
  #maxConfIndex = 0;
  readonly #rng: SimRandom;
  readonly #nodes = new Map<NodeId, NodeState>();
  readonly #bootstrap: readonly NodeId[];
  readonly #raft: SimRaftConfig;
  readonly #o: Omit<
    Required<SimClusterOptions>,
    "raft" | "faults" | "ids" | "seed" | "crashBeforePersist" | "crashBeforeSend"
  >;
  #crashBeforePersist: number;
  #crashBeforeSend: number;
  /** Removed nodes -> the index of their removal and the members that must apply it first. */
  readonly #toRetire = new Map<NodeId, { index: number; members: readonly NodeId[] }>();
  #now = 0;
  readonly #resumeRng: SimRandom;

  /** Starts the bootstrap voters `options.ids`, all up, with nothing in flight. */
  constructor(options: SimClusterOptions) {
    if (options.ids.length === 0) throw new RangeError("A cluster needs at least one node");
    this.#rng = new SimRandom(options.seed);
    // Its own stream: choices about snapshot messages leave every other choice of a seed as is.
    this.#resumeRng = new SimRandom(options.seed ^ 0x5eed5);
    this.network = new SimNetwork(new SimRandom(this.#rng.seed()), options.faults ?? RELIABLE);
    this.network.onDuplicate = (m) => this.checker.onDuplicate(m);
    this.#bootstrap = [...options.ids];
    this.#raft = options.raft ?? {};
    this.#o = {
      tickChance: options.tickChance ?? 1,
      eagerReady: options.eagerReady ?? 0.5,
      sendBeforePersist: options.sendBeforePersist ?? 0.5,
      stepsDuringReady: options.stepsDuringReady ?? 0,
      snapshotEvery: options.snapshotEvery ?? 0,
      compactLag: options.compactLag ?? 0,
      reportUnreachable: options.reportUnreachable ?? 0.5,
      retireRemoved: options.retireRemoved ?? true,
      traceSize: options.traceSize ?? 200,
    };
    this.#crashBeforePersist = options.crashBeforePersist ?? 0;
    this.#crashBeforeSend = options.crashBeforeSend ?? 0;
    this.trace = new SimTrace(this.#o.traceSize);
    for (const id of options.ids) this.#spawn(id);
  }

  /** The current step. */
  get now(): number {
    return this.#now;
  }

  /** Every node ever started, in creation order. */
  ids(): NodeId[] {
    return [...this.#nodes.keys()];
  }

  /** A node; throws `RangeError` for an unknown id. */
  node(id: NodeId): SimNode {
    return this.#get(id);
  }

  #get(id: NodeId): NodeState {
    const n = this.#nodes.get(id);
    if (n === undefined) throw new RangeError(`Unknown node ${id}`);
    return n;
  }

  /** True if `id` is running. */
  isUp(id: NodeId): boolean {
    return this.#nodes.get(id)?.raw !== undefined;
  }

  /** The running node that leads the highest term, if any. */
  leader(): NodeId | undefined {
    let best: NodeState | undefined;
    for (const n of this.#nodes.values()) {
      if (
        n.raw !== undefined && n.role === "leader" && (best === undefined || n.term > best.term)
      ) {
        best = n;
      }
    }
    return best?.id;
  }

  /** Membership as `id` currently sees it. */
  confState(id: NodeId): ConfState {
    const raw = this.#get(id).raw;
    if (raw === undefined) throw new RangeError(`Node ${id} is down`);
    return raw.status().confState;
  }

  /** Members (voters and learners, both halves when joint) as `id` sees them. */
  members(id: NodeId): NodeId[] {
    return members(this.confState(id));
  }

  /**
   * Changes how often the driver crashes a node in the middle of handling a
   * Ready (see {@link SimClusterOptions.crashBeforePersist} and `crashBeforeSend`).
   */
  setCrashFaults(faults: { crashBeforePersist: number; crashBeforeSend: number }): void {
    this.#crashBeforePersist = faults.crashBeforePersist;
    this.#crashBeforeSend = faults.crashBeforeSend;
  }

  /** Records a note in the trace. */
  note(text: string): void {
    this.trace.note(this.#now, text);
  }

  // ---- time -----------------------------------------------------------------

  /** Advances one step: ticks, deliveries, Readies, invariant checks. */
  step(): void {
    this.#guard(() => {
      this.#now++;
      for (const n of this.#nodes.values()) {
        if (n.raw !== undefined && this.#rng.chance(this.#o.tickChance)) {
          n.raw.tick();
          n.ticks++;
        }
      }
      this.#drainAll();
      const { delivered, lost } = this.network.take(this.#now);
      for (const { message, reason } of lost) this.#lose(message, reason);
      for (const m of delivered) this.#deliver(m);
      this.#drainAll();
      this.checker.checkLeaders();
    });
  }

  #guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof InvariantViolation) throw e;
      const err = e instanceof Error ? e : new Error(String(e));
      throw new InvariantViolation("core-error", `${err.name}: ${err.message}\n${err.stack ?? ""}`);
    }
  }

  #deliver(m: Message): void {
    const to = this.#nodes.get(m.to);
    if (to === undefined || to.raw === undefined) {
      this.#lose(m, "down");
      return;
    }
    this.trace.message(this.#now, "deliver", m);
    this.counters.delivered++;
    to.raw.step(m);
    if (m.type === "snap") this.#nodes.get(m.from)?.raw?.reportSnapshot(m.to, true);
    if (this.#rng.chance(this.#o.eagerReady)) this.#drain(to);
  }

  /** Delivers a few messages due to `n` now or next step while its Ready is outstanding. */
  #deliverDuringReady(n: NodeState, raw: RawNode): void {
    const { delivered, lost } = this.network.takeFor(n.id, this.#now + 1, 1 + this.#rng.int(3));
    for (const { message, reason } of lost) this.#lose(message, reason);
    for (const m of delivered) {
      this.trace.message(this.#now, "deliver (Ready outstanding)", m);
      this.counters.delivered++;
      this.counters.deliveredDuringReady++;
      raw.step(m);
      if (m.type === "snap") this.#nodes.get(m.from)?.raw?.reportSnapshot(m.to, true);
    }
  }

  #lose(m: Message, reason: string): void {
    this.trace.message(this.#now, `lost (${reason})`, m);
    this.counters.lost++;
    const from = this.#nodes.get(m.from)?.raw;
    if (from === undefined) return;
    if (m.type === "snap") from.reportSnapshot(m.to, false);
    else if (this.#rng.chance(this.#o.reportUnreachable)) from.reportUnreachable(m.to);
  }

  #drainAll(): void {
    for (const n of this.#nodes.values()) this.#drain(n);
    this.#retirePending();
  }

  #drain(n: NodeState): void {
    while (n.raw !== undefined && n.raw.hasReady()) this.#handleReady(n, n.raw);
  }

  /** Handles one Ready in the order its contract demands (see `Ready` in the core). */
  #handleReady(n: NodeState, raw: RawNode): void {
    const rd = raw.ready();
    if (rd.hardState !== undefined) n.term = rd.hardState.term;
    if (rd.softState !== undefined) {
      if (rd.softState.role !== n.role) {
        this.trace.note(this.#now, `${n.id} is ${rd.softState.role} in term ${n.term}`);
        if (rd.softState.role === "leader") this.counters.elections++;
      }
      n.role = rd.softState.role;
      n.lead = rd.softState.leader;
      this.checker.onRole(n.id, n.role, n.term);
    }
    for (const m of rd.messages) this.checker.onSend(m);
    const early = rd.canSendBeforePersist && rd.messages.length > 0 &&
      this.#rng.chance(this.#o.sendBeforePersist);
    if (early) {
      this.counters.earlySends++;
      this.#send(rd.messages);
      if (this.#rng.chance(this.#crashBeforePersist)) {
        this.counters.crashesBeforePersist++;
        this.#crash(n, "after sending, before persisting its Ready");
        return;
      }
    }
    this.#persist(n, rd);
    if (this.#o.stepsDuringReady > 0 && this.#rng.chance(this.#o.stepsDuringReady)) {
      this.#deliverDuringReady(n, raw);
    }
    if (!early) {
      if (rd.messages.length > 0 && this.#rng.chance(this.#crashBeforeSend)) {
        this.counters.crashesBeforeSend++;
        this.#crash(n, "after persisting, before sending its Ready");
        return;
      }
      this.#send(rd.messages);
    }
    this.#apply(n, raw, rd);
    raw.advance(rd);
    this.#maybeSnapshot(n, raw);
  }

  #persist(n: NodeState, rd: Ready): void {
    const s = n.storage;
    if (rd.snapshot !== undefined) s.applySnapshot(rd.snapshot);
    s.append(rd.entries);
    if (rd.hardState !== undefined) s.setHardState(rd.hardState);
    this.checker.afterPersist(n.id, {
      entries: rd.entries,
      ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
      ...(rd.snapshot !== undefined ? { snapshotIndex: rd.snapshot.metadata.index } : {}),
    });
  }

  #send(msgs: readonly Message[]): void {
    for (const m of msgs) this.network.send(this.#resumed(m), this.#now);
  }

  /**
   * Half the time, a snapshot message carries the sender's snapshot before
   * the latest, while its log still follows it: what a transport does when
   * it resumes a transfer that failed part way (the follower then catches up
   * from the log, from an older point than the leader expected).
   */
  #resumed(m: Message): Message {
    if (m.type !== "snap") return m;
    const older = this.#nodes.get(m.from)?.olderSnapshot;
    const first = this.#nodes.get(m.from)?.storage.firstIndex() ?? Infinity;
    if (
      older === undefined || older.metadata.index >= m.snapshot.metadata.index ||
      older.metadata.index + 1 < first || !this.#resumeRng.chance(0.5)
    ) {
      return m;
    }
    this.counters.olderSnapshotsSent++;
    return { ...m, snapshot: older };
  }

  #apply(n: NodeState, raw: RawNode, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      const sm = SimStateMachine.restore(rd.snapshot.data);
      if (sm.applied !== rd.snapshot.metadata.index) {
        throw new RangeError(
          `snapshot ${rd.snapshot.metadata.index} carries state at ${sm.applied}`,
        );
      }
      n.sm = sm;
      this.counters.snapshotsInstalled++;
      this.trace.note(this.#now, `${n.id} installed snapshot ${sm.applied}`);
      this.checker.onRestore(n.id, sm.applied, sm.hash);
    }
    const sm = n.sm!;
    for (const e of rd.committedEntries) {
      if (e.type === "confChange") {
        n.confChanged = true;
        if (e.index > this.#maxConfIndex) {
          this.#maxConfIndex = e.index;
          this.counters.confChangesApplied++;
        }
        const cc = decodeConfChange(e.data);
        const before = this.#o.retireRemoved ? members(raw.status().confState) : [];
        const after = raw.applyConfChange(cc);
        this.trace.note(this.#now, `${n.id} applied ${e.index} conf ${describeConf(cc, after)}`);
        const now = members(after);
        for (const id of before) {
          if (!now.includes(id) && !this.#toRetire.has(id)) {
            this.#toRetire.set(id, { index: e.index, members: now });
          }
        }
      }
      sm.apply(e);
      this.checker.onApply(n.id, e, sm.hash);
    }
    for (const rs of rd.readStates) {
      this.counters.reads++;
      this.checker.onReadState(n.id, rs);
    }
    for (const rp of rd.refusedProposals) {
      this.counters.refusedForwards++;
      this.trace.note(this.#now, `${n.id} heard ${JSON.stringify(rp.context)} was refused`);
      this.checker.onRefused(n.id, rp.context);
    }
  }

  /**
   * Takes a snapshot every `snapshotEvery` applied entries, and after every
   * membership change: the leader sends its latest snapshot to a member that
   * is too far behind, and a member refuses a snapshot whose membership does
   * not include it, so a snapshot older than a member's addition would leave
   * that member stuck (etcd's server rebuilds such snapshots for the same reason).
   */
  #maybeSnapshot(n: NodeState, raw: RawNode): void {
    const every = this.#o.snapshotEvery;
    const sm = n.sm;
    if (every <= 0 || sm === undefined) return;
    const s = n.storage;
    const due = sm.applied - s.snapshot().metadata.index >= every ||
      (n.confChanged && sm.applied > s.snapshot().metadata.index);
    n.confChanged = false;
    if (!due) return;
    if (s.snapshot().metadata.index > 0) n.olderSnapshot = s.snapshot();
    s.createSnapshotSync(sm.applied, raw.status().confState, sm.snapshot());
    const upTo = sm.applied - this.#o.compactLag;
    if (upTo >= s.firstIndex()) s.compactSync(upTo);
    this.counters.snapshotsTaken++;
    this.trace.note(this.#now, `${n.id} snapshot at ${sm.applied}, log from ${s.firstIndex()}`);
  }

  // ---- nodes ----------------------------------------------------------------

  #spawn(id: NodeId): NodeState {
    const n = new NodeState(id, MemoryStorage.withVoters(this.#bootstrap));
    this.#nodes.set(id, n);
    this.checker.register(id, n.storage);
    this.#start(n);
    return n;
  }

  #start(n: NodeState): void {
    const snap = n.storage.snapshot();
    n.raw = new RawNode({
      ...this.#raft,
      id: n.id,
      storage: n.storage,
      seed: this.#rng.seed(),
      applied: snap.metadata.index,
    });
    n.sm = SimStateMachine.restore(snap.data);
    n.role = "follower";
    n.lead = "";
    n.term = n.storage.hardState().term;
    this.checker.onRestore(n.id, n.sm.applied, n.sm.hash);
    this.checker.onRole(n.id, "follower", n.term);
  }

  #crash(n: NodeState, why: string): void {
    n.raw = undefined;
    n.sm = undefined;
    n.role = "follower";
    n.lead = "";
    this.checker.onDown(n.id);
    this.trace.note(this.#now, `${n.id} crashed ${why}`);
  }

  /**
   * Adds a node that is not a member yet (its storage holds the bootstrap
   * membership, like every node's). Propose `addLearner`/`addVoter` for it.
   */
  addNode(id: NodeId): void {
    if (this.#nodes.has(id)) throw new RangeError(`Node ${id} already exists`);
    this.#guard(() => this.#spawn(id));
    this.note(`${id} started (not a member yet)`);
  }

  /** Crashes `id`: its Raft node, state machine and anything not persisted are lost. */
  crash(id: NodeId): void {
    const n = this.#get(id);
    if (n.raw !== undefined) this.#crash(n, "");
  }

  /** Restarts a crashed node from its storage. No-op if it is up or retired. */
  restart(id: NodeId): void {
    const n = this.#get(id);
    if (n.raw !== undefined || n.retired) return;
    this.#guard(() => this.#start(n));
    this.note(
      `${id} restarted at term ${n.term}, log ${n.storage.firstIndex()}..${n.storage.lastIndex()}`,
    );
  }

  /** Stops `id` for good. */
  retire(id: NodeId): void {
    const n = this.#get(id);
    if (n.retired) return;
    if (n.raw !== undefined) this.#crash(n, "(retired)");
    n.retired = true;
  }

  /**
   * Stops removed nodes once every remaining member has applied their removal,
   * as an operator would. Stopping one earlier can leave a member that has not
   * learned the removal is committed waiting for the removed node's vote.
   */
  #retirePending(): void {
    if (this.#toRetire.size === 0) return;
    for (const [id, { index, members }] of this.#toRetire) {
      const done = members.every((m) => {
        const n = this.#nodes.get(m);
        return n === undefined || n.retired || (n.sm !== undefined && n.sm.applied >= index);
      });
      if (!done) continue;
      this.#toRetire.delete(id);
      this.retire(id);
      this.note(`${id} retired: every member applied its removal at ${index}`);
    }
  }

  // ---- requests -------------------------------------------------------------

  #request(
    id: NodeId,
    what: string,
    f: (raw: RawNode) => ProposeReceipt | undefined,
  ): RequestResult {
    const n = this.#get(id);
    const raw = n.raw;
    if (raw === undefined) {
      return { status: "refused", error: new RangeError(`Node ${id} is down`) };
    }
    return this.#guard(() => {
      let receipt: ProposeReceipt | undefined;
      try {
        receipt = f(raw);
      } catch (e) {
        const err = e as Error;
        if (
          err.name === "NotLeaderError" || err.name === "ProposalDroppedError" ||
          err.name === "ConfChangeError" || err instanceof RangeError
        ) {
          this.note(`${id} refused ${what}: ${err.message}`);
          return { status: "refused", error: err };
        }
        throw e;
      }
      this.note(
        `${id} accepted ${what}${receipt ? ` at ${receipt.lastIndex}/t${receipt.term}` : ""}`,
      );
      this.#drain(n);
      this.#retirePending();
      return receipt === undefined ? { status: "forwarded" } : { status: "appended", receipt };
    });
  }

  /**
   * Proposes `data` at `id` (forwarded to the leader unless `id` leads).
   * With `context`, a refusal of the forwarded proposal comes back to `id`.
   */
  propose(id: NodeId, data: Uint8Array, context?: string): RequestResult {
    return this.#request(
      id,
      `proposal ${JSON.stringify(new TextDecoder().decode(data))}`,
      (raw) => raw.proposeBatch([data], context),
    );
  }

  /** Proposes a membership change at `id`. */
  proposeConfChange(id: NodeId, cc: ConfChange): RequestResult {
    return this.#request(id, `conf change ${describeConf(cc)}`, (raw) => {
      raw.proposeConfChange(cc);
      return undefined;
    });
  }

  /** Asks `id` to hand leadership to `target`. */
  transferLeader(id: NodeId, target: NodeId): RequestResult {
    return this.#request(id, `transfer to ${target}`, (raw) => {
      raw.transferLeader(target);
      return undefined;
    });
  }

  /** Requests a read index at `id`; `context` must be unique. The answer is checked when it arrives. */
  readIndex(id: NodeId, context: string): RequestResult {
    this.checker.onReadRequest(context);
    return this.#request(id, `read ${context}`, (raw) => {
      raw.readIndex(context);
      return undefined;
    });
  }
}

/**
 * A short description of a membership change, e.g. `+v n4 -n2 (explicit)`.
 *
 * @example
 * ```ts
 * import { describeConf } from "./sim_cluster.ts";
 * const s = describeConf({ changes: [{ type: "removeNode", nodeId: "n2" }] });
 * if (!(s === "-n2")) throw new Error("unexpected");
 * ```
 */
export function describeConf(cc: ConfChange, after?: ConfState): string {
  const parts = cc.changes.map((c) =>
    c.type === "addVoter"
      ? `+v ${c.nodeId}`
      : c.type === "addLearner"
      ? `+l ${c.nodeId}`
      : `-${c.nodeId}`
  );
  let s = parts.length === 0 ? "leave-joint" : parts.join(" ");
  if (cc.transition !== undefined) s += ` (${cc.transition})`;
  if (after !== undefined) {
    s += ` -> voters [${after.voters.join(",")}]`;
    if (after.votersOutgoing.length > 0) s += ` outgoing [${after.votersOutgoing.join(",")}]`;
    if (after.learners.length > 0) s += ` learners [${after.learners.join(",")}]`;
  }
  return s;
}
