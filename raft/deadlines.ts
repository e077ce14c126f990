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

  /** Deadlines the queue still holds: pending ones, and done ones it has not let go of yet. */
  get size(): number {
    let n = 0;
    for (const g of this.#groups.values()) n += g.items.length;
    return n;
  }

  /** Fires every deadline at or before `now`. */
  expire(now: number): void {
    for (const [ms, g] of this.#groups) {
      while (g.head < g.items.length) {
        const d = g.items[g.head]!;
        if (!d.done && d.at > now) break;
        g.head++;
        if (!d.done) {
          d.done = true;
          d.fire();
        }
      }
      // Nothing left: drop the group (timeouts computed per request make many of them).
      if (g.head === g.items.length) this.#groups.delete(ms);
      else if (g.head > 1024 && g.head * 2 > g.items.length) {
        g.items = g.items.slice(g.head);
        g.head = 0;
      }
    }
  }
}

/**
 * Deadlines of one duration for numbered requests, kept in two typed arrays
 * used as a ring: adding one allocates nothing, and cancelling is free (the
 * owner forgets the request; {@link KeyedDeadlines.expire} passes keys the
 * owner may no longer know). Suits the hot path of proposals, where a closure
 * and an object per request would live as long as the timeout.
 *
 * @example
 * ```ts
 * import { KeyedDeadlines } from "./deadlines.ts";
 * const d = new KeyedDeadlines();
 * d.add(7, 100);
 * d.add(8, 150);
 * const fired: number[] = [];
 * d.expire(120, (k) => fired.push(k));
 * console.assert(fired.join() === "7" && d.size === 1);
 * ```
 */
export class KeyedDeadlines {
  #keys = new Float64Array(64);
  #at = new Float64Array(64);
  #head = 0;
  #size = 0;

  /** Deadlines not yet expired (cancelled ones included). */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds `key`, due at `at`. Deadlines expire in the order they were added: one
   * earlier than its predecessor (a clock stepped back) waits for it.
   */
  add(key: number, at: number): void {
    let cap = this.#keys.length;
    if (this.#size === cap) {
      const keys = new Float64Array(cap * 2), ats = new Float64Array(cap * 2);
      for (let i = 0; i < this.#size; i++) {
        const j = (this.#head + i) % cap;
        keys[i] = this.#keys[j]!;
        ats[i] = this.#at[j]!;
      }
      this.#keys = keys;
      this.#at = ats;
      this.#head = 0;
      cap *= 2;
    }
    const slot = (this.#head + this.#size) % cap;
    this.#keys[slot] = key;
    this.#at[slot] = at;
    this.#size++;
  }

  /** Removes every deadline at or before `now`, oldest first, calling `fire` with its key. */
  expire(now: number, fire: (key: number) => void): void {
    const cap = this.#keys.length;
    while (this.#size > 0 && this.#at[this.#head]! <= now) {
      const key = this.#keys[this.#head]!;
      this.#head = (this.#head + 1) % cap;
      this.#size--;
      fire(key);
    }
  }
}
