/**
 * Restores the send order of pipelined batches. Several requests per peer are
 * in flight at once and may arrive out of order; Raft would survive that, but
 * an out-of-order append makes the leader fall back to probing, so batches are
 * delivered in sequence, waiting briefly for a missing one before skipping it
 * (a lost request is just a dropped message to Raft).
 *
 * @module
 */

interface Stream<T> {
  boot: string;
  next: number;
  held: Map<number, T>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Per-sender ordering of numbered batches.
 *
 * @example
 * ```ts
 * import { Reorderer } from "./reorder.ts";
 * const out: number[] = [];
 * const r = new Reorderer<number>((_, v) => out.push(v), { waitMs: 1000 });
 * r.accept("a", "boot1", 1, 10);
 * r.accept("a", "boot1", 3, 30);
 * r.accept("a", "boot1", 2, 20);
 * console.assert(out.join() === "10,20,30");
 * r.close();
 * ```
 */
export class Reorderer<T> {
  readonly #deliver: (from: string, batch: T) => void;
  readonly #waitMs: number;
  readonly #maxHeld: number;
  readonly #streams = new Map<string, Stream<T>>();

  constructor(
    deliver: (from: string, batch: T) => void,
    opts: { waitMs?: number; maxHeld?: number } = {},
  ) {
    this.#deliver = deliver;
    this.#waitMs = opts.waitMs ?? 30;
    this.#maxHeld = opts.maxHeld ?? 64;
  }

  /** Takes batch `seq` of `from`'s process `boot`; delivers every batch that is now in order. */
  accept(from: string, boot: string, seq: number, batch: T): void {
    let s = this.#streams.get(from);
    if (s === undefined || s.boot !== boot) {
      // A new sender process starts a new sequence; whatever it is, start from here.
      if (s?.timer !== undefined) clearTimeout(s.timer);
      s = { boot, next: seq, held: new Map(), timer: undefined };
      this.#streams.set(from, s);
    }
    if (seq < s.next) {
      // Late: its successors went ahead after a gap. Deliver anyway; Raft drops what is stale.
      this.#deliver(from, batch);
      return;
    }
    s.held.set(seq, batch);
    this.#drain(from, s);
    if (s.held.size > this.#maxHeld) this.#skipGap(from, s);
    else if (s.held.size > 0 && s.timer === undefined) {
      s.timer = setTimeout(() => {
        s.timer = undefined;
        this.#skipGap(from, s);
      }, this.#waitMs);
    }
  }

  #drain(from: string, s: Stream<T>): void {
    for (;;) {
      const b = s.held.get(s.next);
      if (b === undefined) return;
      s.held.delete(s.next);
      s.next++;
      this.#deliver(from, b);
    }
  }

  #skipGap(from: string, s: Stream<T>): void {
    if (s.held.size === 0) return;
    s.next = Math.min(...s.held.keys());
    this.#drain(from, s);
    if (s.held.size > 0 && s.timer === undefined) {
      s.timer = setTimeout(() => {
        s.timer = undefined;
        this.#skipGap(from, s);
      }, this.#waitMs);
    }
  }

  /** Cancels pending timers. */
  close(): void {
    for (const s of this.#streams.values()) if (s.timer !== undefined) clearTimeout(s.timer);
    this.#streams.clear();
  }
}
