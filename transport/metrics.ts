/**
 * Prometheus text metrics of a node: term, commit, applied, proposals,
 * proposal latency histogram, peer round trips.
 *
 * @module
 */

const BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A cumulative histogram in seconds.
 *
 * @example
 * ```ts
 * import { Histogram } from "./metrics.ts";
 * const h = new Histogram();
 * h.observe(0.003);
 * console.assert(h.render("x").includes('x_bucket{le="0.005"} 1'));
 * ```
 */
export class Histogram {
  readonly #counts = new Array<number>(BUCKETS.length).fill(0);
  #sum = 0;
  #count = 0;

  /** Records one observation. */
  observe(seconds: number): void {
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) this.#counts[i]!++;
    this.#sum += seconds;
    this.#count++;
  }

  /** Prometheus exposition lines for metric `name`. */
  render(name: string, labels = ""): string {
    const l = labels === "" ? "" : `${labels},`;
    const lines = BUCKETS.map((b, i) => `${name}_bucket{${l}le="${b}"} ${this.#counts[i]}`);
    lines.push(`${name}_bucket{${l}le="+Inf"} ${this.#count}`);
    const plain = labels === "" ? "" : `{${labels}}`;
    lines.push(`${name}_sum${plain} ${this.#sum}`, `${name}_count${plain} ${this.#count}`);
    return lines.join("\n");
  }
}

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
  return out.join("\n") + "\n";
}

/** A Prometheus label value: backslash, double quote and newline escaped. */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
