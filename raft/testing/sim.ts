/**
 * Random schedules for a {@link SimCluster}: from one seed, pick a cluster
 * configuration, then alternate chaos (partitions, drops, duplicates, delays,
 * crashes, membership changes, leadership transfers, proposals and reads) with
 * healed periods in which liveness must hold. Every invariant is checked after
 * every step; a seed replays exactly.
 *
 * @module
 */

import type { ConfChange } from "../core/confchange.ts";
import type { NodeId } from "../core/types.ts";
import { InvariantViolation } from "./invariants.ts";
import { awaitLiveness, healAll } from "./liveness.ts";
import type { NetworkFaults } from "./network.ts";
import { SimRandom } from "./prng.ts";
import {
  SimCluster,
  type SimClusterOptions,
  type SimCounters,
  type SimRaftConfig,
} from "./sim_cluster.ts";

/**
 * Options of {@link runSeed}.
 *
 * @example
 * ```ts
 * import type { SimOptions } from "./sim.ts";
 * const o: SimOptions = { steps: 2000, nodes: 5 };
 * ```
 */
export interface SimOptions {
  /** Steps of the schedule (healed periods included). Default {@link DEFAULT_STEPS}. */
  readonly steps?: number;
  /** Bootstrap cluster size. Default: chosen by the seed among 3, 4 and 5. */
  readonly nodes?: number;
  /** Events kept in the trace of a failing run. Default 200. */
  readonly traceSize?: number;
  /**
   * Lease-based reads on every node, and reads five times as often. Check-quorum
   * is then on and every clock ticks on every step (a lease assumes clocks that
   * drift apart by at most `maxClockDriftTicks` per election timeout).
   */
  readonly leaseReads?: boolean;
}

/**
 * Steps per seed unless told otherwise.
 *
 * @example
 * ```ts
 * import { DEFAULT_STEPS } from "./sim.ts";
 * if (!(DEFAULT_STEPS >= 1000)) throw new Error("unexpected");
 * ```
 */
export const DEFAULT_STEPS = 1000;

/**
 * What happened in one run.
 *
 * @example
 * ```ts
 * import type { SimStats } from "./sim.ts";
 * const s: SimStats = { steps: 1, proposals: 0, committed: 0, crashes: 0, partitions: 0, confChanges: 0, transfers: 0, heals: 0, maxTerm: 0 };
 * ```
 */
export interface SimStats {
  /** Steps run, healed periods included. */
  steps: number;
  /** Proposals accepted (appended or forwarded). */
  proposals: number;
  /** The highest commit index any node persisted. */
  committed: number;
  /** Crashes the schedule caused (the driver's mid-Ready crashes are in `cluster`). */
  crashes: number;
  /** Partition changes. */
  partitions: number;
  /** Membership changes proposed. */
  confChanges: number;
  /** Leadership transfers requested. */
  transfers: number;
  /** Healed periods in which liveness was required. */
  heals: number;
  /** The highest term any node reached. */
  maxTerm: number;
  /** What the cluster counted (see `SimCounters`). */
  cluster?: SimCounters;
}

/**
 * A broken invariant, with what is needed to reproduce and debug it.
 *
 * @example
 * ```ts
 * import type { SimFailure } from "./sim.ts";
 * const f: SimFailure = { invariant: "liveness", message: "no leader", step: 7, trace: [] };
 * ```
 */
export interface SimFailure {
  /** The broken invariant (see `InvariantName`). */
  readonly invariant: string;
  /** What was seen. */
  readonly message: string;
  /** The step at which it broke. */
  readonly step: number;
  /** The last events before the violation, oldest first. */
  readonly trace: readonly string[];
}

/**
 * The result of {@link runSeed}.
 *
 * @example
 * ```ts
 * import { runSeed } from "./sim.ts";
 * const r = runSeed(1, { steps: 100 });
 * if (!(r.seed === 1 && r.failure === undefined)) throw new Error("unexpected");
 * ```
 */
export interface SimResult {
  /** The seed that was run. */
  readonly seed: number;
  /** The configuration the seed chose, for humans. */
  readonly params: string;
  /** What happened. */
  readonly stats: SimStats;
  /** The first broken invariant, if any. */
  readonly failure?: SimFailure;
}

interface Params {
  readonly cluster: SimClusterOptions;
  readonly electionTick: number;
  readonly crashBeforePersist: number;
  readonly crashBeforeSend: number;
  readonly readChance: number;
  readonly leaseReads: boolean;
}

function chooseParams(seed: number, rng: SimRandom, o: SimOptions): Params {
  const n = o.nodes ?? rng.pick([3, 3, 4, 5, 5]);
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const electionTick = rng.pick([5, 10, 10]);
  const raft: SimRaftConfig = {
    electionTick,
    heartbeatTick: rng.pick([1, 1, 2]),
    preVote: rng.chance(0.75),
    checkQuorum: rng.chance(0.75),
    maxInflightMsgs: rng.pick([1, 2, 8, 256]),
    maxSizePerMsg: rng.pick([1, 64, 1024 * 1024]),
    maxUncommittedEntriesSize: rng.pick([64, 1024, 64 * 1024 * 1024]),
    maxCommittedSizePerReady: rng.pick([1, 64 * 1024 * 1024]),
    disableProposalForwarding: rng.chance(0.15),
    ...(o.leaseReads ? { checkQuorum: true, readOnlyOption: "leaseBased" as const } : {}),
  };
  const tickChance = rng.pick([0.5, 0.7, 1]);
  return {
    cluster: {
      seed: rng.seed() ^ seed,
      ids,
      raft,
      tickChance: o.leaseReads ? 1 : tickChance,
      eagerReady: rng.pick([0, 0.5, 1]),
      sendBeforePersist: rng.pick([0, 0.5, 1]),
      snapshotEvery: rng.pick([0, 5, 20, 50]),
      compactLag: rng.pick([0, 0, 3]),
      reportUnreachable: rng.pick([0, 0.5]),
      ...(o.traceSize !== undefined ? { traceSize: o.traceSize } : {}),
      // Odd seeds deliver messages while Readies are outstanding (drawn from the seed, so
      // even seeds keep the schedules they had before this setting existed).
      stepsDuringReady: seed % 2 === 1 ? 0.3 : 0,
    },
    electionTick,
    crashBeforePersist: rng.pick([0, 0.002, 0.01]),
    crashBeforeSend: rng.pick([0, 0.0005, 0.002]),
    readChance: o.leaseReads ? 0.2 : 0.04,
    leaseReads: o.leaseReads ?? false,
  };
}

function describeParams(p: Params): string {
  const r = p.cluster.raft!;
  return [
    `nodes ${p.cluster.ids.length}`,
    `election ${r.electionTick} heartbeat ${r.heartbeatTick}`,
    `preVote ${r.preVote} checkQuorum ${r.checkQuorum} reads ${r.readOnlyOption ?? "safe"}`,
    `inflight ${r.maxInflightMsgs} msgSize ${r.maxSizePerMsg} uncommitted ${r.maxUncommittedEntriesSize}`,
    `forwarding ${!r.disableProposalForwarding}`,
    `tick ${p.cluster.tickChance} eager ${p.cluster.eagerReady} early-send ${p.cluster.sendBeforePersist}`,
    `steps during Ready ${p.cluster.stepsDuringReady}`,
    `snapshot every ${p.cluster.snapshotEvery} lag ${p.cluster.compactLag}`,
    `crash before persist ${p.crashBeforePersist} before send ${p.crashBeforeSend}`,
  ].join(", ");
}

/** One seed's schedule. */
class Schedule {
  readonly stats: SimStats = {
    steps: 0,
    proposals: 0,
    committed: 0,
    crashes: 0,
    partitions: 0,
    confChanges: 0,
    transfers: 0,
    heals: 0,
    maxTerm: 0,
  };
  #seq = 0;
  #nextId: number;

  constructor(
    readonly c: SimCluster,
    readonly rng: SimRandom,
    readonly p: Params,
    readonly seed: number,
  ) {
    this.#nextId = p.cluster.ids.length + 1;
  }

  #upNodes(): NodeId[] {
    return this.c.ids().filter((id) => this.c.isUp(id));
  }

  #live(): NodeId[] {
    return this.c.ids().filter((id) => !this.c.node(id).retired);
  }

  /** Runs chaos for `steps` steps. */
  chaos(steps: number): void {
    const rng = this.rng;
    const faults: NetworkFaults = {
      drop: rng.pick([0, 0, 0.02, 0.1, 0.3]),
      duplicate: rng.pick([0, 0.05, 0.2]),
      maxDelay: rng.pick([1, 2, 4, 12]),
    };
    this.c.network.faults = faults;
    this.c.setCrashFaults({
      crashBeforePersist: this.p.crashBeforePersist,
      crashBeforeSend: this.p.crashBeforeSend,
    });
    this.c.note(
      `chaos: drop ${faults.drop} duplicate ${faults.duplicate} delay ${faults.maxDelay}`,
    );
    for (let i = 0; i < steps; i++) {
      this.#act();
      this.c.step();
      this.stats.steps++;
    }
  }

  #act(): void {
    const rng = this.rng;
    if (rng.chance(0.3)) this.#propose();
    if (rng.chance(this.p.readChance)) this.#read();
    if (rng.chance(0.01)) this.#partition();
    if (rng.chance(0.006)) this.#crash();
    if (rng.chance(0.03)) this.#restart();
    if (rng.chance(0.01)) this.#changeMembership();
    if (rng.chance(0.003)) this.#transfer();
    if (rng.chance(0.004)) {
      this.c.network.faults = {
        drop: rng.pick([0, 0.05, 0.2]),
        duplicate: rng.pick([0, 0.1]),
        maxDelay: rng.pick([1, 3, 8]),
      };
    }
  }

  #propose(): void {
    const up = this.#upNodes();
    if (up.length === 0) return;
    const leader = this.c.leader();
    // Mostly at nodes that know a leader: a refused proposal tests little and costs an exception.
    const knowing = up.filter((id) => this.c.node(id).lead !== "");
    const at = leader !== undefined && this.rng.chance(0.5)
      ? leader
      : this.rng.pick(knowing.length > 0 && this.rng.chance(0.9) ? knowing : up);
    const k = this.#seq++;
    const text = `k${k % 7}=${this.seed}:${k}`;
    // Tagged with its own text: a refusal that comes back is checked against what is applied.
    const r = this.c.propose(at, new TextEncoder().encode(text), text);
    if (r.status !== "refused") this.stats.proposals++;
  }

  #read(): void {
    const up = this.#upNodes();
    if (up.length === 0) return;
    // With lease reads, mostly at nodes that believe they lead (a deposed one among them
    // is where a lease could serve a stale read).
    const leading = this.p.leaseReads ? up.filter((id) => this.c.node(id).role === "leader") : [];
    const at = this.rng.pick(leading.length > 0 && this.rng.chance(0.8) ? leading : up);
    this.c.readIndex(at, `${at}:r${this.#seq++}`);
  }

  #partition(): void {
    const c = this.c, rng = this.rng;
    const ids = this.#live();
    this.stats.partitions++;
    switch (rng.int(5)) {
      case 0:
        c.network.heal();
        c.note("partition healed");
        return;
      case 1: {
        const id = rng.pick(c.leader() !== undefined && rng.chance(0.5) ? [c.leader()!] : ids);
        c.network.isolate(id, ids);
        c.note(`partition: ${id} isolated`);
        return;
      }
      case 2: {
        const shuffled = rng.shuffle([...ids]);
        const cut = rng.range(1, Math.max(1, shuffled.length - 1));
        const a = shuffled.slice(0, cut), b = shuffled.slice(cut);
        c.network.partition([a, b]);
        c.note(`partition: [${a.join(",")}] | [${b.join(",")}]`);
        return;
      }
      default: {
        // Asymmetric: some directed links fail.
        const n = rng.range(1, 3);
        const cuts: string[] = [];
        for (let i = 0; i < n; i++) {
          const a = rng.pick(ids), b = rng.pick(ids);
          if (a === b) continue;
          c.network.cut(a, b);
          cuts.push(`${a}>${b}`);
        }
        c.note(`partition: one-way cuts ${cuts.join(" ")}`);
      }
    }
  }

  #crash(): void {
    const up = this.#upNodes();
    if (up.length === 0) return;
    const leader = this.c.leader();
    const id = leader !== undefined && this.rng.chance(0.4) ? leader : this.rng.pick(up);
    this.c.crash(id);
    this.stats.crashes++;
  }

  #restart(): void {
    const down = this.c.ids().filter((id) => !this.c.isUp(id) && !this.c.node(id).retired);
    if (down.length > 0) this.c.restart(this.rng.pick(down));
  }

  #transfer(): void {
    const leader = this.c.leader();
    if (leader === undefined) return;
    const voters = this.c.confState(leader).voters;
    const target = this.rng.pick(voters);
    const up = this.#upNodes();
    const at = this.rng.chance(0.7) ? leader : this.rng.pick(up);
    this.c.transferLeader(at, target);
    this.stats.transfers++;
  }

  #changeMembership(): void {
    const c = this.c, rng = this.rng;
    const leader = c.leader();
    if (leader === undefined) return;
    const cs = c.confState(leader);
    let cc: ConfChange;
    let fresh: NodeId | undefined;
    if (cs.votersOutgoing.length > 0) {
      if (cs.autoLeave) return;
      cc = { changes: [] };
    } else {
      const voters = cs.voters, learners = cs.learners;
      const one = (type: "addVoter" | "addLearner" | "removeNode", nodeId: NodeId): ConfChange => ({
        changes: [{ type, nodeId }],
      });
      const joint = (): { transition?: "implicit" | "explicit" } =>
        rng.chance(0.4) ? {} : { transition: rng.pick(["implicit", "explicit"] as const) };
      const options: (() => ConfChange)[] = [];
      if (this.#live().length < 7) {
        options.push(() => {
          fresh = `n${this.#nextId++}`;
          return one("addLearner", fresh);
        });
      }
      if (learners.length > 0) {
        options.push(() => one("addVoter", rng.pick(learners)));
        options.push(() => one("removeNode", rng.pick(learners)));
        options.push(() => ({
          changes: [{ type: "addVoter", nodeId: rng.pick(learners) }],
          ...joint(),
        }));
        if (voters.length >= 2) {
          // Swap a voter for a learner: needs joint consensus (thesis §4.3).
          options.push(() => ({
            changes: [
              { type: "addVoter", nodeId: rng.pick(learners) },
              rng.chance(0.5)
                ? { type: "removeNode", nodeId: rng.pick(voters) }
                : { type: "addLearner", nodeId: rng.pick(voters) },
            ],
            ...joint(),
          }));
        }
      }
      if (voters.length > 2) {
        options.push(() => one("removeNode", rng.pick(voters)));
        options.push(() => one("addLearner", rng.pick(voters)));
        options.push(() => ({
          changes: [{ type: "removeNode", nodeId: rng.pick(voters) }],
          ...joint(),
        }));
      }
      if (options.length === 0) return;
      cc = rng.pick(options)();
    }
    if (fresh !== undefined) c.addNode(fresh);
    const r = c.proposeConfChange(leader, cc);
    if (r.status === "refused" && fresh !== undefined) c.retire(fresh);
    else this.stats.confChanges++;
  }

  /** Heals everything and requires liveness. */
  heal(): void {
    healAll(this.c);
    this.stats.heals++;
    const r = awaitLiveness(this.c, {
      maxTicks: 50 * this.p.electionTick,
      probe: `probe${this.stats.heals}`,
    });
    this.stats.steps += r.steps;
  }
}

/**
 * Runs one seed: a random schedule of `steps` steps mixing chaos and healed
 * periods, then a final heal that must reach liveness. Never throws for a
 * broken invariant: it is returned as `failure`.
 *
 * @example
 * ```ts
 * import { runSeed } from "./sim.ts";
 * const a = runSeed(42, { steps: 200 }), b = runSeed(42, { steps: 200 });
 * if (!(a.failure === undefined && a.stats.committed === b.stats.committed)) throw new Error("unexpected");
 * ```
 */
export function runSeed(seed: number, options: SimOptions = {}): SimResult {
  const steps = options.steps ?? DEFAULT_STEPS;
  const rng = new SimRandom(seed);
  const p = chooseParams(seed, rng, options);
  const c = new SimCluster(p.cluster);
  const s = new Schedule(c, rng, p, seed);
  let failure: SimFailure | undefined;
  try {
    while (s.stats.steps < steps) {
      s.chaos(Math.min(steps - s.stats.steps, rng.range(100, 400)));
      if (s.stats.steps < steps) s.heal();
    }
    s.heal();
  } catch (e) {
    if (!(e instanceof InvariantViolation)) throw e;
    failure = {
      invariant: e.invariant,
      message: e.message,
      step: c.now,
      trace: c.trace.lines(),
    };
  }
  s.stats.committed = c.checker.maxCommit();
  s.stats.cluster = { ...c.counters };
  for (const id of c.ids()) s.stats.maxTerm = Math.max(s.stats.maxTerm, c.node(id).term);
  return {
    seed,
    params: describeParams(p),
    stats: s.stats,
    ...(failure !== undefined ? { failure } : {}),
  };
}
