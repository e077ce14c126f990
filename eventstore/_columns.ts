/**
 * Growable typed-array columns: the event index keeps a few numbers per
 * event in these instead of one object per event, so a million events cost
 * megabytes, not hundreds of them, and snapshot as raw bytes.
 *
 * @module
 */

/** Next capacity: doubling while small, then +50% so big columns waste less. */
function grow(n: number): number {
  return n < 1 << 20 ? n * 2 : Math.ceil(n * 1.5);
}

/**
 * Columns of at least this many values grow ahead of need: once 3/4 full,
 * the next array is allocated and each push copies a few values into it, so
 * no push stops to copy (and first-touch) tens of megabytes at once.
 */
const PREGROW_FROM = 1 << 16;
/** Values copied ahead per push: the copy ends before the last eighth of the array fills. */
const COPY_STEP = 8;

type Typed = Uint32Array | Float64Array;

/** Copies ahead into `next` from `from`; returns where the copy stopped. */
function copyAhead(a: Typed, next: Typed, from: number, n: number): number {
  const end = Math.min(n, from + COPY_STEP);
  for (let i = from; i < end; i++) next[i] = a[i]!;
  return end;
}

/** How a column's array grows: at once while small, ahead of need from `from` values on. */
class Growth<T extends Typed> {
  /** The next, larger array while values are copied ahead into it, and how far the copy got. */
  #next: T | undefined;
  #copied = 0;

  constructor(readonly make: (length: number) => T, readonly from: number) {}

  /** The array to push value `n` into: `a`, or the larger one replacing it. */
  room(a: T, n: number): T {
    const next = this.#next;
    if (next !== undefined) {
      if (n < a.length) {
        this.#copied = copyAhead(a, next, this.#copied, n);
        return a;
      }
      // Full: the rest of the copy (small, as most went ahead) and the switch.
      next.set(a.subarray(this.#copied, n), this.#copied);
      this.#next = undefined;
      return next;
    }
    if (n === a.length) {
      const bigger = this.make(grow(a.length));
      bigger.set(a);
      return bigger;
    }
    if (n >= this.from && n * 4 >= a.length * 3) {
      this.#next = this.make(grow(a.length));
      this.#copied = copyAhead(a, this.#next, 0, n);
    }
    return a;
  }

  /** Forgets a copy ahead (the values moved). */
  cancel(): void {
    this.#next = undefined;
  }
}

/**
 * A growable `Uint32Array`.
 *
 * @example
 * ```ts
 * import { U32Column } from "./_columns.ts";
 * const c = new U32Column();
 * c.push(5);
 * console.assert(c.length === 1 && c.get(0) === 5);
 * ```
 */
export class U32Column {
  #a: Uint32Array;
  #n = 0;
  readonly #growth: Growth<Uint32Array>;

  /** `pregrowFrom`: from what size the column grows ahead of need (tests set it low). */
  constructor(capacity = 1024, pregrowFrom = PREGROW_FROM) {
    this.#a = new Uint32Array(Math.max(1, capacity));
    this.#growth = new Growth((n) => new Uint32Array(n), pregrowFrom);
  }

  /** A column over `values`, which it takes ownership of (no copy). */
  static adopt(values: Uint32Array): U32Column {
    const c = new U32Column(1);
    c.#a = values.length > 0 ? values : new Uint32Array(1);
    c.#n = values.length;
    return c;
  }

  /** Number of values. */
  get length(): number {
    return this.#n;
  }

  /** Appends a value. */
  push(v: number): void {
    const a = this.#growth.room(this.#a, this.#n);
    this.#a = a;
    a[this.#n++] = v;
  }

  /** Value at `i` (undefined behaviour past the end: returns 0 or a stale value). */
  get(i: number): number {
    return this.#a[i]!;
  }

  /** The values (a view, valid until the next push). */
  view(): Uint32Array {
    return this.#a.subarray(0, this.#n);
  }
}

/**
 * A growable `Float64Array` (for numbers that may exceed 2^32, exact up to 2^53).
 *
 * @example
 * ```ts
 * import { F64Column } from "./_columns.ts";
 * const c = new F64Column();
 * c.push(2 ** 40);
 * console.assert(c.get(0) === 2 ** 40);
 * ```
 */
export class F64Column {
  #a: Float64Array;
  #n = 0;
  readonly #growth: Growth<Float64Array>;

  /** `pregrowFrom`: from what size the column grows ahead of need (tests set it low). */
  constructor(capacity = 1024, pregrowFrom = PREGROW_FROM) {
    this.#a = new Float64Array(Math.max(1, capacity));
    this.#growth = new Growth((n) => new Float64Array(n), pregrowFrom);
  }

  /** A column over `values`, which it takes ownership of (no copy). */
  static adopt(values: Float64Array): F64Column {
    const c = new F64Column(1);
    c.#a = values.length > 0 ? values : new Float64Array(1);
    c.#n = values.length;
    return c;
  }

  /** Number of values. */
  get length(): number {
    return this.#n;
  }

  /** Appends a value. */
  push(v: number): void {
    const a = this.#growth.room(this.#a, this.#n);
    this.#a = a;
    a[this.#n++] = v;
  }

  /** Value at `i`. */
  get(i: number): number {
    return this.#a[i]!;
  }

  /** Drops the first `n` values (shifts the rest down). */
  dropFirst(n: number): void {
    if (n <= 0) return;
    // Values move: a copy ahead would hold stale ones.
    this.#growth.cancel();
    if (n >= this.#n) {
      this.#n = 0;
      if (this.#a.length > 64) this.#a = new Float64Array(4);
      return;
    }
    this.#a.copyWithin(0, n, this.#n);
    this.#n -= n;
    if (this.#a.length > 64 && this.#n < this.#a.length / 4) {
      this.#a = this.#a.slice(0, Math.max(4, this.#n * 2));
    }
  }

  /** Index of the last value `<= v` in a column sorted ascending, or -1. */
  floorIndex(v: number): number {
    let lo = 0, hi = this.#n - 1, ans = -1;
    const a = this.#a;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! <= v) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }

  /** The values (a view, valid until the next push). */
  view(): Float64Array {
    return this.#a.subarray(0, this.#n);
  }
}
