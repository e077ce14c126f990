/**
 * The linearizability check: Wing & Gong's search as refined by Lowe, with
 * memoization of (linearized set, model state) as in Knossos and Porcupine.
 *
 * The history becomes a doubly linked list of call and return entries in time
 * order. The search walks the list from its head: at a call entry it tries to
 * linearize that operation next (apply it to the model); if the model allows it
 * and the resulting (set of linearized operations, state) pair has not been seen
 * before, it "lifts" the operation's two entries out of the list, pushes an undo
 * record and restarts from the head. Reaching a return entry means the operation
 * that returns there must already have been linearized, so the search backtracks:
 * it pops the last choice, "unlifts" its entries and tries the next call after it.
 * The history is linearizable when every `"ok"` operation has been linearized;
 * operations with unknown outcome (`"info"`) return at +infinity and may be left
 * out, so they never force a backtrack.
 *
 * Partitions (e.g. keys) are independent searches, run round-robin in doubling
 * slices of steps so that a cheap violation in one is found before an expensive
 * search of another completes.
 *
 * The algorithm is pure: it never reads a clock. Bound it with `maxSteps` or a
 * `shouldStop` callback; it then answers `"unknown"` instead of running on.
 *
 * @module
 */

import type { Operation } from "./history.ts";
import type { Model } from "./model.ts";

/**
 * The answer for a history or a partition of it. `"unknown"` means the search
 * was stopped by `maxSteps` or `shouldStop` before it could decide.
 *
 * @example
 * ```ts
 * import type { Verdict } from "./check.ts";
 * const v: Verdict = "not-linearizable";
 * ```
 */
export type Verdict = "linearizable" | "not-linearizable" | "unknown";

/**
 * The outcome for one independent part of a history (one key, one stream).
 *
 * @example
 * ```ts
 * import { checkHistory } from "./check.ts";
 * import { registerModel } from "./model_register.ts";
 * const result = checkHistory(registerModel, [
 *   { process: 0, input: { f: "write", value: 1 }, call: 0, return: 1, status: "ok" },
 * ]);
 * const part = result.partitions[0]!;
 * if (part.verdict !== "linearizable" || part.longestPrefix.length !== 1) {
 *   throw new Error("expected the write to be linearized");
 * }
 * ```
 */
export interface PartitionResult<Input = unknown, Output = unknown> {
  /** The verdict for this partition alone. */
  readonly verdict: Verdict;
  /** The partition's operations, failed ones excluded. */
  readonly operations: readonly Operation<Input, Output>[];
  /**
   * The longest sequence of operations the search managed to linearize, in
   * linearization order. When the verdict is `"linearizable"` this is a complete
   * witness: every `"ok"` operation (and the `"info"` ones that took effect).
   */
  readonly longestPrefix: readonly Operation<Input, Output>[];
  /**
   * The operations that were candidates to come next after `longestPrefix`
   * (invoked before the earliest pending return) and none of which could be
   * placed there. Empty when linearizable.
   */
  readonly unplaced: readonly Operation<Input, Output>[];
  /** Search steps spent on this partition. */
  readonly steps: number;
}

/**
 * The outcome of {@linkcode checkHistory}.
 *
 * @example
 * ```ts
 * import { checkHistory } from "./check.ts";
 * import { registerModel } from "./model_register.ts";
 * // A read that sees a value nobody wrote.
 * const result = checkHistory(registerModel, [
 *   { process: 0, input: { f: "read" }, output: 7, call: 0, return: 1, status: "ok" },
 * ]);
 * if (result.ok || result.verdict !== "not-linearizable") throw new Error("missed violation");
 * if (result.unplaced?.length !== 1) throw new Error("the read should be reported");
 * ```
 */
export interface CheckResult<Input = unknown, Output = unknown> {
  /** True iff the verdict is `"linearizable"`. */
  readonly ok: boolean;
  /**
   * `"not-linearizable"` if any checked partition is; otherwise `"unknown"` if any
   * was stopped by the budget; otherwise `"linearizable"`.
   */
  readonly verdict: Verdict;
  /** One result per checked partition, in the model's partition order. */
  readonly partitions: readonly PartitionResult<Input, Output>[];
  /**
   * Partitions left unchecked: after the first violation (unless
   * `checkAllPartitions`), or once the budget ran out.
   */
  readonly skippedPartitions: number;
  /** Search steps spent in total. */
  readonly steps: number;
  /** The `longestPrefix` of the first partition that is not linearizable (or unknown). */
  readonly longestPrefix?: readonly Operation<Input, Output>[];
  /** The `unplaced` operations of that same partition. */
  readonly unplaced?: readonly Operation<Input, Output>[];
}

/**
 * Options of {@linkcode checkHistory}.
 *
 * @example
 * ```ts
 * import type { CheckOptions } from "./check.ts";
 * let calls = 0;
 * const options: CheckOptions = { maxSteps: 1_000_000, shouldStop: () => ++calls > 100 };
 * ```
 */
export interface CheckOptions {
  /** Give up with `"unknown"` after this many search steps in total. Default: no limit. */
  readonly maxSteps?: number;
  /**
   * Polled every few thousand steps; returning true stops the search with
   * `"unknown"`. Use it for a deadline: `() => Date.now() > deadline`.
   */
  readonly shouldStop?: () => boolean;
  /** Keep checking the remaining partitions after a violation. Default: false. */
  readonly checkAllPartitions?: boolean;
}

/**
 * Decides whether a concurrent history is linearizable with respect to a model.
 *
 * Operations with status `"fail"` are dropped (they did not take effect).
 * Operations with status `"info"` may take effect at any point after their call,
 * or never, with any output. If the model has `partition`, each part is checked
 * on its own. Throws `RangeError` for a call time that is not a finite number,
 * or an `"ok"` or `"fail"` operation whose `return` precedes its `call`.
 *
 * @example
 * ```ts
 * import { checkHistory } from "./check.ts";
 * import { registerModel } from "./model_register.ts";
 * const result = checkHistory(registerModel, [
 *   { process: 0, input: { f: "write", value: 1 }, call: 0, return: 3, status: "ok" },
 *   { process: 1, input: { f: "read" }, output: 1, call: 1, return: 2, status: "ok" },
 *   { process: 2, input: { f: "read" }, output: null, call: 4, return: 5, status: "ok" },
 * ]);
 * // The last read starts after the write returned, so it cannot see the initial value.
 * if (result.verdict !== "not-linearizable") throw new Error("missed stale read");
 * ```
 */
export function checkHistory<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  options: CheckOptions = {},
): CheckResult<Input, Output> {
  for (const op of history) {
    if (!Number.isFinite(op.call)) {
      throw new RangeError(`Operation of process ${op.process} has call time ${op.call}`);
    }
    if (op.status !== "info" && !(op.return >= op.call)) {
      throw new RangeError(
        `Operation of process ${op.process} returns at ${op.return}, before its call at ${op.call}`,
      );
    }
  }
  const effective = history.filter((op) => op.status !== "fail");
  const parts = model.partition === undefined ? [effective] : model.partition(effective);
  const maxSteps = options.maxSteps ?? Infinity;
  const shouldStop = options.shouldStop;
  const searches = parts.map((part) => new Search(model, part));
  const results: (PartitionResult<Input, Output> | undefined)[] = new Array(parts.length);

  // Partitions are searched round-robin in slices that double each round, so a
  // cheap violation in one partition is found before an expensive search of
  // another runs to the end (the sequential analogue of checking them in parallel
  // and stopping at the first failure).
  let steps = 0;
  let stopped = false;
  let violation = false;
  let open = searches.map((_, i) => i);
  for (let slice = 1 << 12; open.length > 0; slice = Math.min(slice * 2, 1 << 30)) {
    const stillOpen: number[] = [];
    for (const i of open) {
      if (stopped || (violation && options.checkAllPartitions !== true)) break;
      const search = searches[i]!;
      const allowance = Math.min(slice, maxSteps - steps);
      const used = search.run(allowance, shouldStop);
      steps += used;
      // Also poll between slices: many small partitions may each stay below the
      // in-search polling interval.
      if (shouldStop !== undefined && search.verdict === "unknown" && shouldStop()) {
        search.stopped = true;
      }
      if (search.verdict === "unknown") {
        if (search.stopped || steps >= maxSteps) stopped = true;
        stillOpen.push(i);
        continue;
      }
      results[i] = search.result();
      if (search.verdict === "not-linearizable") violation = true;
    }
    if (stopped || (violation && options.checkAllPartitions !== true)) break;
    open = stillOpen;
  }

  const partitions: PartitionResult<Input, Output>[] = [];
  let unknown = false;
  let skipped = 0;
  for (let i = 0; i < searches.length; i++) {
    const r = results[i];
    if (r !== undefined) {
      partitions.push(r);
    } else if (stopped && !violation && searches[i]!.steps > 0) {
      // Stopped by the budget mid-search: report how far it got.
      partitions.push(searches[i]!.result());
      unknown = true;
    } else if (stopped && !violation) {
      skipped++;
      unknown = true;
    } else {
      skipped++;
    }
  }
  const verdict: Verdict = violation ? "not-linearizable" : unknown ? "unknown" : "linearizable";
  const result = {
    ok: verdict === "linearizable",
    verdict,
    partitions,
    skippedPartitions: skipped,
    steps,
  };
  const culprit = partitions.find((p) => p.verdict === "not-linearizable") ??
    partitions.find((p) => p.verdict === "unknown");
  return culprit === undefined
    ? result
    : { ...result, longestPrefix: culprit.longestPrefix, unplaced: culprit.unplaced };
}

/** Poll `shouldStop` once per this many steps (a power of two, minus one). */
const POLL_MASK = 0xfff;

/**
 * The search over one partition, resumable: `run` advances it by a number of
 * steps and can be called again until `verdict` is no longer `"unknown"`.
 */
class Search<State, Input, Output> {
  readonly #model: Model<State, Input, Output>;
  readonly #partition: readonly Operation<Input, Output>[];
  readonly #ops: readonly Operation<Input, Output>[];
  readonly #inputs: readonly Input[];
  readonly #outputs: readonly (Output | undefined)[];
  /** 1 if the operation completed "ok" and so must be linearized. */
  readonly #known: Uint8Array;
  /** Entries: the call of operation k is 2k, its return 2k + 1; the head is 2n. */
  readonly #next: Int32Array;
  readonly #prev: Int32Array;
  /** Index of each entry in time order. */
  readonly #position: Int32Array;
  /** Random keys whose XOR over the linearized set is its hash (Zobrist). */
  readonly #zobrist: Int32Array;
  readonly #bits: Uint32Array;
  /**
   * The memo of visited search points (linearized set, state), as chained
   * hash buckets over flat arrays so that remembering a point allocates nothing
   * but the state itself: `#cache` maps a hash to the newest node of its chain;
   * node i's set is `#memoBits[i * words ..]`, its state `#memoState[i]`, and the
   * next node of its chain `#memoNext[i]` (-1 ends it).
   */
  #cache: Map<number, number> = new Map();
  #memoBits: Uint32Array;
  #memoNext: Int32Array;
  #memoState: State[] = [];
  #memoCount = 0;
  readonly #stackOp: Int32Array;
  readonly #stackState: (State | undefined)[];
  #state: State;
  #depth = 0;
  #bitsHash = 0;
  /** Invariant: the number of "ok" operations not linearized in the current prefix. */
  #remaining = 0;
  #entry: number;
  #best: Int32Array = new Int32Array(0);
  verdict: Verdict = "unknown";
  steps = 0;
  stopped = false;

  constructor(model: Model<State, Input, Output>, partition: readonly Operation<Input, Output>[]) {
    this.#model = model;
    this.#partition = partition;
    // Unknown-outcome operations that cannot change the state constrain nothing.
    const readOnly = model.readOnly;
    const ops = readOnly === undefined
      ? partition
      : partition.filter((op) => op.status === "ok" || !readOnly.call(model, op.input));
    this.#ops = ops;
    const n = ops.length;
    this.#inputs = ops.map((op) => op.input);
    this.#outputs = ops.map((op) => op.output);
    const known = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      if (ops[k]!.status === "ok") {
        known[k] = 1;
        this.#remaining++;
      }
    }
    this.#known = known;

    const head = 2 * n;
    const time = (e: number): number => {
      const op = ops[e >> 1]!;
      return (e & 1) === 0 ? op.call : known[e >> 1] === 1 ? op.return : Infinity;
    };
    const order = Array.from({ length: 2 * n }, (_, i) => i);
    // Calls before returns at equal times: such operations count as concurrent.
    order.sort((a, b) => {
      const ta = time(a), tb = time(b);
      if (ta !== tb) return ta < tb ? -1 : 1;
      if ((a & 1) !== (b & 1)) return (a & 1) - (b & 1);
      return a - b;
    });
    const next = new Int32Array(2 * n + 1);
    const prev = new Int32Array(2 * n + 1);
    const position = new Int32Array(2 * n);
    let p = head;
    prev[head] = -1;
    for (let i = 0; i < order.length; i++) {
      const e = order[i]!;
      position[e] = i;
      next[p] = e;
      prev[e] = p;
      p = e;
    }
    next[p] = -1;
    this.#next = next;
    this.#prev = prev;
    this.#position = position;
    this.#entry = next[head]!;

    const zobrist = new Int32Array(n);
    let seed = 0x2545f491;
    for (let k = 0; k < n; k++) {
      seed = (seed + 0x9e3779b9) | 0;
      let z = seed;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      zobrist[k] = z ^ (z >>> 16);
    }
    this.#zobrist = zobrist;
    this.#bits = new Uint32Array((n + 31) >>> 5);
    this.#memoBits = new Uint32Array(1024 * this.#bits.length);
    this.#memoNext = new Int32Array(1024);
    this.#stackOp = new Int32Array(n);
    this.#stackState = new Array(n);
    this.#state = model.init();
    if (this.#remaining === 0) this.#finish("linearizable");
  }

  /** Advances the search by at most `limit` steps; returns the steps taken. */
  run(limit: number, shouldStop: (() => boolean) | undefined): number {
    if (this.verdict !== "unknown" || limit <= 0) return 0;
    const model = this.#model;
    const inputs = this.#inputs;
    const outputs = this.#outputs;
    const known = this.#known;
    const next = this.#next;
    const prev = this.#prev;
    const zobrist = this.#zobrist;
    const bits = this.#bits;
    const words = bits.length;
    const cache = this.#cache;
    const stackOp = this.#stackOp;
    const stackState = this.#stackState;
    const head = next.length - 1;
    let state = this.#state;
    let depth = this.#depth;
    let bitsHash = this.#bitsHash;
    let remaining = this.#remaining;
    let entry = this.#entry;
    let bestDepth = this.#best.length;
    let steps = 0;
    let verdict: Verdict = "unknown";

    const memoState = this.#memoState;
    let memoBits = this.#memoBits;
    let memoNext = this.#memoNext;
    let memoCount = this.#memoCount;
    // Adds (bits, s) to the memo; false if it was already there.
    const remember = (key: number, s: State): boolean => {
      const first = cache.get(key);
      if (first !== undefined) {
        for (let node = first; node !== -1; node = memoNext[node]!) {
          let same = true;
          for (let w = 0, base = node * words; w < words; w++) {
            if (memoBits[base + w] !== bits[w]) {
              same = false;
              break;
            }
          }
          if (same && model.equal(memoState[node]!, s)) return false;
        }
      }
      if (memoCount === memoNext.length) {
        const grownNext = new Int32Array(memoCount * 2);
        grownNext.set(memoNext);
        memoNext = grownNext;
        const grownBits = new Uint32Array(memoCount * 2 * words);
        grownBits.set(memoBits);
        memoBits = grownBits;
      }
      memoBits.set(bits, memoCount * words);
      memoNext[memoCount] = first ?? -1;
      memoState[memoCount] = s;
      cache.set(key, memoCount++);
      return true;
    };

    while (remaining > 0) {
      if (steps === limit) break;
      steps++;
      if ((steps & POLL_MASK) === 0 && shouldStop !== undefined && shouldStop()) {
        this.stopped = true;
        break;
      }
      if ((entry & 1) === 0) {
        // A call entry: try to linearize its operation now.
        const k = entry >> 1;
        const r = known[k] === 1
          ? model.step(state, inputs[k]!, outputs[k])
          : model.stepUnknown(state, inputs[k]!);
        if (r.ok) {
          const word = k >>> 5, mask = 1 << (k & 31);
          bits[word] = bits[word]! | mask;
          const nextHash = bitsHash ^ zobrist[k]!;
          const key = (nextHash ^ Math.imul(model.hash(r.state), 0x9e3779b1)) & 0x3fffffff;
          if (remember(key, r.state)) {
            stackOp[depth] = k;
            stackState[depth] = state;
            depth++;
            state = r.state;
            bitsHash = nextHash;
            remaining -= known[k]!;
            // Lift the call and return entries out of the list.
            const c = entry, rt = entry + 1;
            next[prev[c]!] = next[c]!;
            if (next[c] !== -1) prev[next[c]!] = prev[c]!;
            next[prev[rt]!] = next[rt]!;
            if (next[rt] !== -1) prev[next[rt]!] = prev[rt]!;
            if (depth > bestDepth) {
              bestDepth = depth;
              this.#best = stackOp.slice(0, depth);
            }
            entry = next[head]!;
            continue;
          }
          bits[word] = bits[word]! & ~mask;
        }
        entry = next[entry]!;
      } else {
        // A return entry: its operation should already be linearized; backtrack.
        if (depth === 0) {
          verdict = "not-linearizable";
          break;
        }
        depth--;
        const k = stackOp[depth]!;
        state = stackState[depth]!;
        stackState[depth] = undefined; // let the state be collected
        bits[k >>> 5] = bits[k >>> 5]! & ~(1 << (k & 31));
        bitsHash ^= zobrist[k]!;
        remaining += known[k]!;
        // Unlift: the exact inverse of the lift, return entry first.
        const c = 2 * k, rt = c + 1;
        if (next[rt] !== -1) prev[next[rt]!] = rt;
        next[prev[rt]!] = rt;
        if (next[c] !== -1) prev[next[c]!] = c;
        next[prev[c]!] = c;
        entry = next[c]!;
      }
    }

    this.#memoBits = memoBits;
    this.#memoNext = memoNext;
    this.#memoCount = memoCount;
    this.#state = state;
    this.#depth = depth;
    this.#bitsHash = bitsHash;
    this.#remaining = remaining;
    this.#entry = entry;
    this.steps += steps;
    if (remaining === 0) {
      this.#best = stackOp.slice(0, depth);
      this.#finish("linearizable");
    } else if (verdict === "not-linearizable") {
      this.#finish(verdict);
    }
    return steps;
  }

  #finish(verdict: Verdict): void {
    this.verdict = verdict;
    // Free the memo: a finished search is only asked for its result.
    this.#cache = new Map();
    this.#memoBits = new Uint32Array(0);
    this.#memoNext = new Int32Array(0);
    this.#memoState = [];
    this.#stackState.length = 0;
  }

  /** The partition's result as it stands. */
  result(): PartitionResult<Input, Output> {
    const ops = this.#ops;
    const best = this.#best;
    const base = {
      verdict: this.verdict,
      operations: this.#partition,
      longestPrefix: Array.from(best, (k) => ops[k]!),
      steps: this.steps,
    };
    if (this.verdict === "linearizable") return { ...base, unplaced: [] };
    // The candidates after the best prefix: operations not in it that were
    // invoked before the earliest return of an "ok" operation not in it.
    const n = ops.length;
    const placed = new Uint8Array(n);
    for (const k of best) placed[k] = 1;
    let firstReturn = Infinity;
    for (let k = 0; k < n; k++) {
      if (placed[k] === 0 && this.#known[k] === 1) {
        firstReturn = Math.min(firstReturn, this.#position[2 * k + 1]!);
      }
    }
    const unplaced: Operation<Input, Output>[] = [];
    for (let k = 0; k < n; k++) {
      if (placed[k] === 0 && this.#position[2 * k]! < firstReturn) unplaced.push(ops[k]!);
    }
    unplaced.sort((a, b) => a.call - b.call);
    return { ...base, unplaced };
  }
}
