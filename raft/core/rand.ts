/**
 * A small seeded PRNG (mulberry32), so election jitter is reproducible and a
 * simulation replays exactly from its seed.
 *
 * @module
 */

/**
 * Deterministic pseudo-random numbers from a 32-bit seed.
 *
 * @example
 * ```ts
 * import { SeededRandom } from "./rand.ts";
 * const a = new SeededRandom(7), b = new SeededRandom(7);
 * if (!(a.int(100) === b.int(100))) throw new Error("unexpected result");
 * ```
 */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/**
 * A 32-bit hash of a string (FNV-1a), used to derive a default seed from a node id.
 *
 * @example
 * ```ts
 * import { hashString } from "./rand.ts";
 * if (!(hashString("n1") === hashString("n1"))) throw new Error("unexpected result");
 * ```
 */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
