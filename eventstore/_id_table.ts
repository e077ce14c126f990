/**
 * The idempotency index: event id -> global position, as an open-addressing
 * hash table over typed arrays (16 bytes a slot) instead of a `Map` of
 * strings (about 100 bytes an id).
 *
 * Keys are a 64-bit hash of the id's UTF-8 bytes (two 32-bit lanes). The
 * hash is not trusted for identity: several positions may share a key, and
 * the state machine confirms a match by comparing the id stored in the log.
 * So a collision, even a crafted one, costs a log read, never a lost event.
 *
 * Entries whose event no longer exists (deleted, truncated) are dropped when
 * the table is rebuilt; until then the caller's liveness check skips them.
 *
 * @module
 */

import type { ByteReader, ByteWriter } from "./_bytes.ts";

const EMPTY = -1;

/**
 * Which positions still hold an event, as raw columns (checked in tight
 * loops over the whole table, so no callback per slot): position `p` is
 * live when `revision[p] >= floor[stream[p]]`.
 */
export interface Liveness {
  readonly stream: Uint32Array;
  readonly revision: Uint32Array;
  readonly floor: Float64Array;
}

/** The two hash lanes of the last {@link hashBytes} call. */
export const idHash: { h1: number; h2: number } = { h1: 0, h2: 0 };

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Hashes `b[start, start+len)` into {@link idHash} (no allocation).
 *
 * @example
 * ```ts
 * import { hashBytes, idHash } from "./_id_table.ts";
 * hashBytes(new TextEncoder().encode("e1"), 0, 2);
 * const a = idHash.h1;
 * hashBytes(new TextEncoder().encode("e2"), 0, 2);
 * console.assert(a !== idHash.h1);
 * ```
 */
export function hashBytes(b: Uint8Array, start: number, len: number): void {
  let h1 = 0x811c9dc5 ^ len, h2 = 0x9747b28c ^ Math.imul(len, 0x27d4eb2d);
  for (let i = start, end = start + len; i < end; i++) {
    const c = b[i]!;
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 + c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  idHash.h1 = fmix(h1);
  idHash.h2 = fmix(h2 ^ h1);
}

/**
 * Hash table of (64-bit key -> position); a key may map to several positions.
 *
 * @example
 * ```ts
 * import { IdTable } from "./_id_table.ts";
 * const t = new IdTable();
 * t.insert(1, 2, 40);
 * const slot = t.next(1, 2, -1);
 * console.assert(slot >= 0 && t.positionAt(slot) === 40 && t.next(1, 2, slot) === -1);
 * ```
 */
export class IdTable {
  #keys: Uint32Array;
  #values: Float64Array;
  #mask: number;
  #size = 0;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity) cap *= 2;
    this.#keys = new Uint32Array(cap * 2);
    this.#values = new Float64Array(cap).fill(EMPTY);
    this.#mask = cap - 1;
  }

  /** Occupied slots. */
  get size(): number {
    return this.#size;
  }

  /** Slot count. */
  get capacity(): number {
    return this.#mask + 1;
  }

  /**
   * The next slot after `after` (start with -1) holding key (h1, h2), or -1.
   * Probing starts at the key's home slot.
   */
  next(h1: number, h2: number, after: number): number {
    const mask = this.#mask, keys = this.#keys, values = this.#values;
    let i = after < 0 ? h1 & mask : (after + 1) & mask;
    for (;;) {
      if (values[i]! === EMPTY) return -1;
      if (keys[2 * i] === h1 && keys[2 * i + 1] === h2) return i;
      i = (i + 1) & mask;
    }
  }

  /** Position stored in `slot`. */
  positionAt(slot: number): number {
    return this.#values[slot]!;
  }

  /** Replaces the position of `slot` (for a key whose old event no longer exists). */
  setPositionAt(slot: number, position: number): void {
    this.#values[slot] = position;
  }

  /**
   * Adds (h1, h2) -> position. When the table is 70% full it is rebuilt,
   * keeping only live positions (per `liveness`), and doubled if
   * still over half full.
   */
  insert(h1: number, h2: number, position: number, liveness?: () => Liveness): void {
    if ((this.#size + 1) * 10 > (this.#mask + 1) * 7) this.#rebuild(liveness?.());
    this.#place(h1, h2, position);
    this.#size++;
  }

  #place(h1: number, h2: number, position: number): void {
    const mask = this.#mask, keys = this.#keys, values = this.#values;
    let i = h1 & mask;
    while (values[i]! !== EMPTY) i = (i + 1) & mask;
    keys[2 * i] = h1;
    keys[2 * i + 1] = h2;
    values[i] = position;
  }

  #rebuild(l?: Liveness): void {
    const oldKeys = this.#keys, oldValues = this.#values;
    const alive = (v: number) => l === undefined || l.revision[v]! >= l.floor[l.stream[v]!]!;
    let live = 0;
    for (let i = 0; i < oldValues.length; i++) {
      const v = oldValues[i]!;
      if (v !== EMPTY && alive(v)) live++;
    }
    let cap = this.#mask + 1;
    while ((live + 1) * 2 > cap) cap *= 2;
    this.#keys = new Uint32Array(cap * 2);
    this.#values = new Float64Array(cap).fill(EMPTY);
    this.#mask = cap - 1;
    this.#size = 0;
    for (let i = 0; i < oldValues.length; i++) {
      const v = oldValues[i]!;
      if (v === EMPTY || !alive(v)) continue;
      this.#place(oldKeys[2 * i]!, oldKeys[2 * i + 1]!, v);
      this.#size++;
    }
  }

  /**
   * Writes the occupied slots only (12 bytes each while positions fit in 32
   * bits, else 16); the reader rebuilds the table. Snapshots stay about half
   * the size of the table itself. (Entries of removed events go too: they are
   * dropped at the next rebuild, and skipped by liveness checks until then.)
   */
  write(w: ByteWriter): void {
    const keys = this.#keys, values = this.#values;
    let n = 0, wide = false;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v === EMPTY) continue;
      n++;
      if (v > 0xffff_ffff) wide = true;
    }
    w.u32(n);
    w.u8(wide ? 1 : 0);
    // Straight into the writer: a temporary array would be fresh memory, costly to touch.
    let o = w.u32Block(n * (wide ? 4 : 3));
    const view = w.view;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v === EMPTY) continue;
      view.setUint32(o, keys[2 * i]!, true);
      view.setUint32(o + 4, keys[2 * i + 1]!, true);
      if (wide) {
        view.setUint32(o + 8, v % 2 ** 32, true);
        view.setUint32(o + 12, Math.floor(v / 2 ** 32), true);
        o += 16;
      } else {
        view.setUint32(o + 8, v, true);
        o += 12;
      }
    }
  }

  /** Reads a table written by {@link IdTable.write}. */
  static read(r: ByteReader): IdTable {
    const n = r.u32();
    const wide = r.u8() === 1;
    const a = r.u32Array();
    const stride = wide ? 4 : 3;
    if (a.length !== n * stride) throw new RangeError("Id table in snapshot has a bad length");
    let cap = 16;
    while ((n + 1) * 2 > cap) cap *= 2;
    const t = new IdTable(cap);
    for (let i = 0; i < a.length; i += stride) {
      const v = wide ? a[i + 2]! + a[i + 3]! * 2 ** 32 : a[i + 2]!;
      t.#place(a[i]!, a[i + 1]!, v);
    }
    t.#size = n;
    return t;
  }
}
