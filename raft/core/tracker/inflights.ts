/**
 * Flow control for one follower: the append messages sent but not yet
 * acknowledged, bounded by count and by bytes.
 *
 * @module
 */

import { RaftInvariantError } from "../errors.ts";

/**
 * A FIFO of in-flight appends, identified by their last index.
 *
 * Invariant: indexes are strictly increasing from head to tail.
 *
 * @example
 * ```ts
 * import { Inflights } from "./inflights.ts";
 * const f = new Inflights(2, 0);
 * f.add(5, 10); f.add(9, 10);
 * if (!(f.full())) throw new Error("unexpected result");
 * f.freeLE(5);
 * if (!(f.count() === 1)) throw new Error("unexpected result");
 * ```
 */
export class Inflights {
  readonly #maxCount: number;
  readonly #maxBytes: number;
  #indexes: number[] = [];
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;

  /** `maxBytes` 0 means no byte limit. */
  constructor(maxCount: number, maxBytes: number) {
    this.#maxCount = maxCount;
    this.#maxBytes = maxBytes;
  }

  /** Records an append whose last entry is `index`, carrying `bytes`. */
  add(index: number, bytes: number): void {
    if (this.full()) throw new RaftInvariantError("cannot add into a full inflights window");
    const n = this.#indexes.length;
    if (n > this.#head && this.#indexes[n - 1]! >= index) {
      throw new RaftInvariantError(`inflight index ${index} is not above ${this.#indexes[n - 1]}`);
    }
    this.#indexes.push(index);
    this.#sizes.push(bytes);
    this.#bytes += bytes;
  }

  /** Frees every in-flight append whose index is at most `to`. */
  freeLE(to: number): void {
    while (this.#head < this.#indexes.length && this.#indexes[this.#head]! <= to) {
      this.#bytes -= this.#sizes[this.#head]!;
      this.#head++;
    }
    if (this.#head > 64 && this.#head * 2 > this.#indexes.length) {
      this.#indexes = this.#indexes.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
  }

  /** True when no more appends may be sent. */
  full(): boolean {
    return this.count() >= this.#maxCount || (this.#maxBytes > 0 && this.#bytes >= this.#maxBytes);
  }

  /** Number of appends in flight. */
  count(): number {
    return this.#indexes.length - this.#head;
  }

  /** Bytes in flight. */
  bytes(): number {
    return this.#bytes;
  }

  /** Forgets everything in flight. */
  reset(): void {
    this.#indexes = [];
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
  }
}
