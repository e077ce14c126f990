/**
 * A clock that moves only when told, so node-level tests decide outcomes
 * without waiting on real time.
 *
 * @module
 */

import type { Clock } from "../clock.ts";

interface Timer {
  at: number;
  every: number;
  fn: () => void;
  seq: number;
}

/**
 * Manual time for `RaftNode`.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./manual_clock.ts";
 * const clock = new ManualClock();
 * let n = 0;
 * clock.every(10, () => n++);
 * await clock.advance(35);
 * console.assert(n === 3);
 * ```
 */
export class ManualClock implements Clock {
  #now = 1_700_000_000_000;
  #timers = new Set<Timer>();
  #seq = 0;

  now(): number {
    return this.#now;
  }

  every(ms: number, fn: () => void): () => void {
    const t: Timer = { at: this.#now + ms, every: ms, fn, seq: this.#seq++ };
    this.#timers.add(t);
    return () => this.#timers.delete(t);
  }

  after(ms: number, fn: () => void): () => void {
    const t: Timer = { at: this.#now + ms, every: 0, fn, seq: this.#seq++ };
    this.#timers.add(t);
    return () => this.#timers.delete(t);
  }

  /**
   * Moves time forward by `ms`, firing due timers in time order and letting
   * promise callbacks run after each (so async loops make progress).
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.#timers) {
        if (
          t.at <= end &&
          (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))
        ) next = t;
      }
      if (next === undefined) break;
      this.#now = next.at;
      if (next.every > 0) next.at += next.every;
      else this.#timers.delete(next);
      next.fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }
}

/** Lets queued promise callbacks and macrotasks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setTimeout(r, 0));
}
