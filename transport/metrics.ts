/**
 * Prometheus text metrics of a node: term, commit, applied, leadership,
 * proposals, proposal latency histogram, peer round trips, and what the
 * storage and the application register (disk syncs, log size, events), and
 * the process's CPU, memory and file descriptors (see process_metrics.ts).
 *
 * @module
 */

import { Histogram } from "../raft/histogram.ts";
import { renderProcessMetrics } from "./process_metrics.ts";

export { Histogram };

/**
 * Counters a node's HTTP layer keeps.
 *
 * @example
 * ```ts
 * import { NodeMetrics } from "./metrics.ts";
 * const m = new NodeMetrics();
 * m.proposals++;
 * console.assert(m.proposals === 1);
 * ```
 */
export class NodeMetrics {
  /** Client proposals this node took. */
  proposals = 0;
  /** Of those, the ones that failed. */
  proposalsFailed = 0;
  /** How long proposals took to be applied, in seconds. */
  readonly proposalSeconds: Histogram = new Histogram();
  /** Heartbeat round trips to each peer, in seconds. */
  readonly peerRtt: Map<string, Histogram> = new Map();
  /** Times this node learned of a new leader (etcd's `leader_changes_seen_total`). */
  leaderChanges = 0;
  readonly #gauges = new Map<string, () => number>();
  readonly #histograms = new Map<string, Histogram>();

  /** Renders gauge `name` with the value `read()` gives at each scrape (a later call replaces it). */
  addGauge(name: string, read: () => number): void {
    this.#gauges.set(name, read);
  }

  /** Renders histogram `name` (a later call replaces it). */
  addHistogram(name: string, h: Histogram): void {
    this.#histograms.set(name, h);
  }

  /** Exposition lines of the gauges and histograms added. */
  renderAdded(): string[] {
    const out: string[] = [];
    for (const [name, read] of this.#gauges) {
      let v: number;
      try {
        v = read();
      } catch {
        continue; // e.g. storage closed: left out of this scrape
      }
      out.push(`# TYPE ${name} gauge`, `${name} ${v}`);
    }
    for (const [name, h] of this.#histograms) out.push(`# TYPE ${name} histogram`, h.render(name));
    return out;
  }

  /** Records a heartbeat round trip to `peer`. */
  observeRtt(peer: string, ms: number): void {
    let h = this.peerRtt.get(peer);
    if (h === undefined) this.peerRtt.set(peer, h = new Histogram());
    h.observe(ms / 1000);
  }
}

/** Node gauges rendered next to the counters. */
export interface Gauges {
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly isLeader: boolean;
  /** Whether this node knows a leader (itself or another). */
  readonly hasLeader?: boolean;
}

/**
 * Renders all metrics in Prometheus text format.
 *
 * @example
 * ```ts
 * import { NodeMetrics, renderMetrics } from "./metrics.ts";
 * const text = renderMetrics(new NodeMetrics(), { term: 2, commit: 5, applied: 5, lastIndex: 5, isLeader: true });
 * console.assert(text.includes("raftlog_term 2"));
 * ```
 */
export function renderMetrics(m: NodeMetrics, g: Gauges): string {
  const out = [
    "# TYPE raftlog_term gauge",
    `raftlog_term ${g.term}`,
    "# TYPE raftlog_commit_index gauge",
    `raftlog_commit_index ${g.commit}`,
    "# TYPE raftlog_applied_index gauge",
    `raftlog_applied_index ${g.applied}`,
    "# TYPE raftlog_last_index gauge",
    `raftlog_last_index ${g.lastIndex}`,
    "# TYPE raftlog_is_leader gauge",
    `raftlog_is_leader ${g.isLeader ? 1 : 0}`,
    "# TYPE raftlog_has_leader gauge",
    `raftlog_has_leader ${(g.hasLeader ?? g.isLeader) ? 1 : 0}`,
    "# TYPE raftlog_leader_changes_seen_total counter",
    `raftlog_leader_changes_seen_total ${m.leaderChanges}`,
    "# TYPE raftlog_proposals_total counter",
    `raftlog_proposals_total ${m.proposals}`,
    "# TYPE raftlog_proposals_failed_total counter",
    `raftlog_proposals_failed_total ${m.proposalsFailed}`,
    "# TYPE raftlog_proposal_duration_seconds histogram",
    m.proposalSeconds.render("raftlog_proposal_duration_seconds"),
    "# TYPE raftlog_peer_rtt_seconds histogram",
  ];
  for (const [peer, h] of m.peerRtt) {
    out.push(h.render("raftlog_peer_rtt_seconds", `peer="${escapeLabel(peer)}"`));
  }
  out.push(...m.renderAdded(), ...renderProcessMetrics());
  return out.join("\n") + "\n";
}

/** A Prometheus label value: backslash, double quote and newline escaped. */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
