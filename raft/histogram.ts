/**
 * A cumulative histogram in seconds, rendered in Prometheus text format:
 * proposal latencies, peer round trips, disk syncs.
 *
 * @module
 */

/** Upper bounds, in seconds: from 100 µs (a fast disk's sync) to 10 s. */
const BUCKETS = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.002,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/**
 * A cumulative histogram in seconds.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
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

  /** Observations so far. */
  get count(): number {
    return this.#count;
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
