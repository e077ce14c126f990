/**
 * Request deadlines checked on the node's tick, instead of one timer per
 * request: proposals are created on the hot path, and a timer each costs more
 * than the proposal itself.
 *
 * @module
 */

interface Deadline {
  readonly at: number;
  readonly fire: () => void;
  done: boolean;
}

/**
 * Deadlines grouped by duration, so each group expires in insertion order.
 *
 * @example
 * ```ts
 * import { DeadlineQueue } from "./deadlines.ts";
 * const q = new DeadlineQueue();
 * let fired = 0;
 * q.add(0, 100, () => fired++);
 * const cancel = q.add(0, 100, () => fired++);
 * cancel();
 * q.expire(99);
 * q.expire(100);
 * console.assert(fired === 1);
 * ```
 */
export class DeadlineQueue {
  readonly #groups = new Map<number, { items: Deadline[]; head: number }>();

  /** Calls `fire` at `now + ms` unless the returned function is called first. */
  add(now: number, ms: number, fire: () => void): () => void {
    let g = this.#groups.get(ms);
    if (g === undefined) this.#groups.set(ms, g = { items: [], head: 0 });
    const d: Deadline = { at: now + ms, fire, done: false };
    g.items.push(d);
    return () => {
      d.done = true;
    };
  }

  /** Fires every deadline at or before `now`. */
  expire(now: number): void {
    for (const g of this.#groups.values()) {
      while (g.head < g.items.length) {
        const d = g.items[g.head]!;
        if (!d.done && d.at > now) break;
        g.head++;
        if (!d.done) {
          d.done = true;
          d.fire();
        }
      }
      if (g.head > 1024 && g.head * 2 > g.items.length) {
        g.items = g.items.slice(g.head);
        g.head = 0;
      }
    }
  }
}
