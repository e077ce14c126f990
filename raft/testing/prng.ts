/**
 * Seeded randomness for simulations: every choice a simulation makes comes
 * from one {@link SimRandom}, so a run replays exactly from its seed.
 *
 * @module
 */

import { SeededRandom } from "../core/rand.ts";

/**
 * A seeded PRNG with the helpers a schedule needs. Built on the core's
 * mulberry32 generator.
 *
 * @example
 * ```ts
 * import { SimRandom } from "./prng.ts";
 * const a = new SimRandom(42), b = new SimRandom(42);
 * if (!(a.pick(["x", "y", "z"]) === b.pick(["x", "y", "z"]))) throw new Error("unexpected");
 * if (!(a.int(10) === b.int(10))) throw new Error("unexpected");
 * ```
 */
export class SimRandom {
  readonly #rng: SeededRandom;

  /** A generator whose whole sequence is determined by `seed`. */
  constructor(seed: number) {
    this.#rng = new SeededRandom(seed);
  }

  /** A float in [0, 1). */
  next(): number {
    return this.#rng.next();
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return this.#rng.int(n);
  }

  /** An integer in [lo, hi] (both included). */
  range(lo: number, hi: number): number {
    return lo + this.#rng.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.#rng.next() < p;
  }

  /** A uniformly chosen element; throws `RangeError` on an empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Cannot pick from an empty array");
    return items[this.#rng.int(items.length)]!;
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.#rng.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }

  /** A 32-bit seed for an independent generator. */
  seed(): number {
    return this.#rng.int(4294967296);
  }
}
