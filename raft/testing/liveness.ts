/**
 * Liveness of a simulated cluster: once faults heal, a leader is elected and
 * a new proposal commits on every member within a bounded number of ticks.
 *
 * @module
 */

import type { NodeId } from "../core/types.ts";
import { InvariantViolation } from "./invariants.ts";
import { RELIABLE } from "./network.ts";
import type { SimCluster } from "./sim_cluster.ts";

/**
 * While a quorum waits for members to catch up (each match rising), the
 * proposal may take this many times `maxTicks` to commit, and no more.
 */
const CATCH_UP_LIMIT = 20;

/**
 * Removes every fault: partitions, drops, duplicates and long delays are gone,
 * crashed nodes restart, and the driver stops crashing nodes mid-Ready.
 *
 * @example
 * ```ts
 * import { healAll } from "./liveness.ts";
 * import { SimCluster } from "./sim_cluster.ts";
 * const c = new SimCluster({ seed: 3, ids: ["n1", "n2", "n3"] });
 * c.network.isolate("n1", c.ids());
 * c.crash("n2");
 * healAll(c);
 * if (!(!c.network.partitioned() && c.isUp("n2"))) throw new Error("unexpected");
 * ```
 */
export function healAll(cluster: SimCluster): void {
  cluster.network.heal();
  cluster.network.faults = RELIABLE;
  cluster.setCrashFaults({ crashBeforePersist: 0, crashBeforeSend: 0 });
  for (const id of cluster.ids()) if (!cluster.isUp(id)) cluster.restart(id);
  cluster.note("healed: no partitions, drops or crashes");
}

/**
 * Options of {@link awaitLiveness}.
 *
 * @example
 * ```ts
 * import type { LivenessOptions } from "./liveness.ts";
 * const o: LivenessOptions = { maxTicks: 500, probe: "after-partition" };
 * ```
 */
export interface LivenessOptions {
  /**
   * The proposal must commit before every running node has ticked this many
   * times, and a member catching up must not go this many ticks without progress.
   */
  readonly maxTicks: number;
  /** Data of the proposal that must commit; a counter is appended on retries. */
  readonly probe?: string;
}

/**
 * How liveness was reached.
 *
 * @example
 * ```ts
 * import type { LivenessReport } from "./liveness.ts";
 * const r: LivenessReport = { steps: 12, ticks: 9, commitTicks: 7, leader: "n1", index: 4 };
 * ```
 */
export interface LivenessReport {
  /** Steps taken. */
  readonly steps: number;
  /** Ticks of the slowest running node until every member applied the proposal. */
  readonly ticks: number;
  /** Ticks of the slowest running node until the proposal committed. */
  readonly commitTicks: number;
  /** The leader that committed the probe. */
  readonly leader: NodeId;
  /** Index of the committed probe entry. */
  readonly index: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Steps `cluster` (whose faults must already be healed) until a leader has
 * committed a fresh proposal, then until every member (as the leader sees
 * membership) has applied it. Throws an {@link InvariantViolation} named
 * `liveness` if the proposal is not committed before every running node has
 * ticked `maxTicks` times, or if a member that is behind then makes no
 * progress for `maxTicks` ticks (catching up may take longer than committing,
 * e.g. one entry per round trip with tiny messages; it must not stall). The
 * commit itself may take longer only while the leader keeps raising a
 * follower's match (a quorum, say the new half of a joint configuration,
 * needs a member that is far behind), and never more than 20 times
 * `maxTicks`. A proposal lost to a leader change is proposed again.
 *
 * @example
 * ```ts
 * import { awaitLiveness } from "./liveness.ts";
 * import { SimCluster } from "./sim_cluster.ts";
 * const c = new SimCluster({ seed: 5, ids: ["n1", "n2", "n3"] });
 * const r = awaitLiveness(c, { maxTicks: 500 });
 * if (!(c.node("n2").sm!.applied >= r.index && r.commitTicks <= r.ticks)) throw new Error("unexpected");
 * ```
 */
export function awaitLiveness(cluster: SimCluster, options: LivenessOptions): LivenessReport {
  const startTicks = new Map<NodeId, number>();
  for (const id of cluster.ids()) startTicks.set(id, cluster.node(id).ticks);
  const enc = new TextEncoder();
  let attempt = 0;
  let probe: { index: number; term: number; data: Uint8Array } | undefined;
  let commitTicks: number | undefined;
  // Catch-up phase: each member's applied index and the tick it last advanced.
  const progress = new Map<NodeId, { applied: number; at: number }>();
  // Commit phase: each follower's match as its leader saw it ("leader>id"), and the tick a
  // match last rose under the same leader (a quorum that needs a member far behind waits for it).
  const matches = new Map<string, number>();
  let lastRise = 0;
  for (let steps = 1;; steps++) {
    cluster.step();
    const ticks = minTicks(cluster, startTicks);
    const leader = cluster.leader();
    if (commitTicks === undefined) {
      if (leader !== undefined) {
        const term = cluster.node(leader).term;
        if (probe !== undefined) {
          const committed = cluster.checker.committedData(probe.index);
          if (committed !== undefined && sameBytes(committed, probe.data)) commitTicks = ticks;
          else if (committed !== undefined || probe.term !== term) probe = undefined;
        }
        if (probe === undefined) {
          const data = enc.encode(`${options.probe ?? "probe"}#${attempt++}`);
          const r = cluster.propose(leader, data);
          if (r.status === "appended") probe = { index: r.receipt.lastIndex, term, data };
        }
      }
      if (commitTicks === undefined && leader !== undefined) {
        for (const [id, pr] of cluster.node(leader).raw!.status().progress) {
          const key = `${leader}>${id}`, seen = matches.get(key);
          if (seen === undefined || pr.match > seen) matches.set(key, pr.match);
          if (seen !== undefined && pr.match > seen) lastRise = ticks;
        }
      }
      if (
        commitTicks === undefined && ticks >= options.maxTicks &&
        (ticks - lastRise >= options.maxTicks || ticks >= CATCH_UP_LIMIT * options.maxTicks)
      ) {
        throw new InvariantViolation(
          "liveness",
          `no proposal committed within ${options.maxTicks} ticks after healing, nor a follower's match raised in the last ${options.maxTicks} (leader: ${
            leader ?? "none"
          }, probe: ${probe === undefined ? "none" : `${probe.index}/t${probe.term}`}, ${
            describeNodes(cluster)
          })`,
        );
      }
    }
    if (commitTicks === undefined || probe === undefined) continue;
    const lagging = behind(cluster, leader, probe.index);
    if (lagging.length === 0) {
      return { steps, ticks, commitTicks, leader: leader ?? "", index: probe.index };
    }
    for (const id of lagging) {
      const applied = cluster.node(id).sm?.applied ?? -1;
      const p = progress.get(id);
      if (p === undefined || applied > p.applied) progress.set(id, { applied, at: ticks });
      else if (ticks - p.at >= options.maxTicks) {
        throw new InvariantViolation(
          "liveness",
          `${id} made no progress towards the committed proposal ${probe.index} for ${options.maxTicks} ticks ` +
            `(stuck at ${applied}; ${describeNodes(cluster)})`,
        );
      }
    }
  }
}

/** Members (as `leader`, or any running node, sees them) that have not applied `index`. */
function behind(cluster: SimCluster, leader: NodeId | undefined, index: number): NodeId[] {
  const view = leader ?? cluster.ids().find((id) => cluster.isUp(id));
  if (view === undefined) return [];
  return cluster.members(view).filter((id) => {
    const n = cluster.node(id);
    return !n.retired && (n.sm === undefined || n.sm.applied < index);
  });
}

function minTicks(cluster: SimCluster, start: ReadonlyMap<NodeId, number>): number {
  let min = Infinity;
  for (const id of cluster.ids()) {
    const n = cluster.node(id);
    if (n.raw === undefined) continue;
    min = Math.min(min, n.ticks - (start.get(id) ?? n.ticks));
  }
  return min === Infinity ? 0 : min;
}

/**
 * One line per node: role, term, commit, applied, log range, and the leader's
 * view of each follower's progress.
 *
 * @example
 * ```ts
 * import { describeNodes } from "./liveness.ts";
 * import { SimCluster } from "./sim_cluster.ts";
 * if (!(describeNodes(new SimCluster({ seed: 1, ids: ["n1"] })).startsWith("n1: follower"))) throw new Error("unexpected");
 * ```
 */
export function describeNodes(cluster: SimCluster): string {
  return cluster.ids().map((id) => {
    const n = cluster.node(id);
    if (n.retired) return `${id}: retired`;
    if (n.raw === undefined) return `${id}: down`;
    const st = n.raw.status();
    let s = `${id}: ${st.softState.role} t${st.hardState.term} lead ${
      st.softState.leader || "-"
    } commit ${st.hardState.commit} applied ${n.sm?.applied} log ${n.storage.firstIndex()}..${n.storage.lastIndex()}`;
    if (st.progress.size > 0) {
      const prs = [...st.progress].map(([p, pr]) =>
        `${p} ${pr.state} match ${pr.match} next ${pr.next}${pr.recentActive ? "" : " inactive"}`
      );
      const cs = st.confState;
      s += ` progress {${prs.join(", ")}} voters ${cs.voters.join(",")}` +
        (cs.votersOutgoing.length > 0 ? ` outgoing ${cs.votersOutgoing.join(",")}` : "");
    }
    return s;
  }).join("; ");
}
