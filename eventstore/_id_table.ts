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
 * the table grows; until then the caller's liveness check skips them.
 *
 * @module
 */

import type { ByteReader, ByteWriter } from "./_bytes.ts";

/**
 * Slots hold position + 1, so that an empty slot is 0: a new table needs no
 * filling, and its memory is touched a little at a time as it fills.
 */
const EMPTY = 0;
/** An old-table slot whose entry was moved (probing goes on past it). */
const MOVED = -1;
/** Old-table slots moved per insert: a move ends within a quarter of the old size in inserts. */
const MOVE_STEP = 4;
/**
 * From this many slots on, the next table is allocated at half full and its
 * pages touched a few per insert until the move starts at 70%: a page's first
 * touch faults, and inserts into a cold table of tens of megabytes fault at
 * nearly every one.
 */
const PREPARE_FROM_SLOTS = 1 << 16;
const PAGE = 4096;

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

/** Whether position `v` still holds an event (always, without liveness columns). */
function isAlive(l: Liveness | undefined, v: number): boolean {
  return l === undefined || v >= l.stream.length || l.revision[v]! >= l.floor[l.stream[v]!]!;
}

/**
 * Hash table of (64-bit key -> position); a key may map to several positions.
 *
 * Growing never stops the caller for long: at 70% full a new table is
 * allocated and the old one is moved into it a few slots per insert
 * (lookups search both meanwhile), dropping entries whose event is gone. The
 * new table is twice the size unless the last move found most entries dead.
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
  /** Occupied slots of the current table. */
  #size = 0;
  /** The table being moved into the current one, if any. */
  #old: { keys: Uint32Array; values: Float64Array; mask: number } | undefined;
  /** Next slot of the old table to move, and its entries not moved yet. */
  #cursor = 0;
  #oldLeft = 0;
  /** Liveness when the move started (floors only rise, so it never drops a live entry). */
  #moveLiveness: Liveness | undefined;
  /** Entries the current move looked at and kept. */
  #seen = 0;
  #kept = 0;
  /** Share of live entries the last completed move found. */
  #liveShare = 1;
  /** The next table, allocated ahead of the move, and how many of its bytes are touched. */
  #ahead: { keys: Uint32Array; values: Float64Array } | undefined;
  #aheadTouched = 0;
  /** Bytes of the next table to touch per insert (a fraction: touched when the sum passes a page). */
  #aheadRate = 0;
  #aheadDebt = 0;

  readonly #prepareFrom: number;

  /** `prepareFrom`: from what size the next table is prepared ahead (tests set it low). */
  constructor(capacity = 1024, prepareFrom = PREPARE_FROM_SLOTS) {
    this.#prepareFrom = prepareFrom;
    let cap = 16;
    while (cap < capacity) cap *= 2;
    this.#keys = new Uint32Array(cap * 2);
    this.#values = new Float64Array(cap);
    this.#mask = cap - 1;
  }

  /** Occupied slots. */
  get size(): number {
    return this.#size + this.#oldLeft;
  }

  /** Slot count (of both tables while one is moved into the other). */
  get capacity(): number {
    return this.#mask + 1 + (this.#old === undefined ? 0 : this.#old.mask + 1);
  }

  /** Whether a move is in progress (for tests). */
  get moving(): boolean {
    return this.#old !== undefined;
  }

  /**
   * The next slot after `after` (start with -1) holding key (h1, h2), or -1.
   * Probing starts at the key's home slot, in the current table and then in
   * the one being moved (whose slots are numbered after the current's).
   */
  next(h1: number, h2: number, after: number): number {
    const cap = this.#mask + 1;
    if (after < cap) {
      const mask = this.#mask, keys = this.#keys, values = this.#values;
      let i = after < 0 ? h1 & mask : (after + 1) & mask;
      for (;;) {
        if (values[i]! === EMPTY) break;
        if (keys[2 * i] === h1 && keys[2 * i + 1] === h2) return i;
        i = (i + 1) & mask;
      }
      if (this.#old === undefined) return -1;
    }
    const old = this.#old!;
    let i = after < cap ? h1 & old.mask : (after - cap + 1) & old.mask;
    for (;;) {
      const v = old.values[i]!;
      if (v === EMPTY) return -1;
      if (v !== MOVED && old.keys[2 * i] === h1 && old.keys[2 * i + 1] === h2) return cap + i;
      i = (i + 1) & old.mask;
    }
  }

  /** Position stored in `slot` (from {@link next}). */
  positionAt(slot: number): number {
    const cap = this.#mask + 1;
    return (slot < cap ? this.#values[slot]! : this.#old!.values[slot - cap]!) - 1;
  }

  /**
   * Adds (h1, h2) -> position. At 70% full a move into a new table starts
   * (see the class comment); each insert moves a few more slots.
   */
  insert(h1: number, h2: number, position: number, liveness?: () => Liveness | undefined): void {
    if (this.#old !== undefined) {
      this.#move(MOVE_STEP);
      // The new table was sized from a guess (see #startMove); it must never fill up.
      if (this.#old !== undefined && (this.#size + 1) * 20 > (this.#mask + 1) * 17) {
        this.#rebuildNow();
      }
    }
    if (this.#old === undefined) {
      const cap = this.#mask + 1;
      if ((this.#size + 1) * 10 > cap * 7) this.#startMove(liveness?.());
      else if (this.#ahead !== undefined) this.#touchAhead();
      else if (cap >= this.#prepareFrom && this.#size * 2 >= cap) this.#prepareNext(cap);
    }
    this.#place(h1, h2, position + 1);
    this.#size++;
  }

  /** Puts (h1, h2) -> `stored` (a position + 1) in the current table. */
  #place(h1: number, h2: number, stored: number): void {
    const mask = this.#mask, keys = this.#keys, values = this.#values;
    let i = h1 & mask;
    while (values[i]! !== EMPTY) i = (i + 1) & mask;
    keys[2 * i] = h1;
    keys[2 * i + 1] = h2;
    values[i] = stored;
  }

  /** Size of the table a move starting now would go into. */
  #nextSlots(cap: number): number {
    // A table mostly full of dead entries is cleaned into one of the same size.
    return this.#liveShare < 0.5 ? cap : cap * 2;
  }

  #prepareNext(cap: number): void {
    const next = this.#nextSlots(cap);
    this.#ahead = { keys: new Uint32Array(next * 2), values: new Float64Array(next) };
    this.#aheadTouched = 0;
    this.#aheadDebt = 0;
    // All of it touched in the inserts from half full to 65% full.
    this.#aheadRate = (next * 24) / Math.max(1, Math.floor(cap * 0.15));
  }

  /** Touches the next table's pages (writing the empty value they hold), a few per insert. */
  #touchAhead(): void {
    const a = this.#ahead!;
    const keyBytes = a.keys.byteLength, total = keyBytes + a.values.byteLength;
    if (this.#aheadTouched >= total) return;
    this.#aheadDebt += this.#aheadRate;
    while (this.#aheadDebt >= PAGE && this.#aheadTouched < total) {
      const at = this.#aheadTouched;
      if (at < keyBytes) a.keys[at >>> 2] = 0;
      else a.values[(at - keyBytes) >>> 3] = EMPTY;
      this.#aheadTouched = at + PAGE;
      this.#aheadDebt -= PAGE;
    }
  }

  #startMove(l: Liveness | undefined): void {
    const cap = this.#mask + 1;
    const next = this.#nextSlots(cap);
    const ahead = this.#ahead;
    this.#ahead = undefined;
    this.#old = { keys: this.#keys, values: this.#values, mask: this.#mask };
    this.#oldLeft = this.#size;
    this.#cursor = 0;
    this.#seen = 0;
    this.#kept = 0;
    this.#moveLiveness = l;
    if (ahead !== undefined && ahead.values.length === next) {
      this.#keys = ahead.keys;
      this.#values = ahead.values;
    } else {
      this.#keys = new Uint32Array(next * 2);
      this.#values = new Float64Array(next);
    }
    this.#mask = next - 1;
    this.#size = 0;
    this.#move(MOVE_STEP);
  }

  /**
   * The rare fallback when a move's new table would fill up: the new table is
   * replaced by one at least twice the size of both tables' entries, and the
   * rest of the old one is moved at once.
   */
  #rebuildNow(): void {
    const keys = this.#keys, values = this.#values;
    let cap = this.#mask + 1;
    while ((this.#size + this.#oldLeft + 1) * 2 > cap) cap *= 2;
    this.#keys = new Uint32Array(cap * 2);
    this.#values = new Float64Array(cap);
    this.#mask = cap - 1;
    for (let i = 0; i < values.length; i++) {
      if (values[i]! > 0) this.#place(keys[2 * i]!, keys[2 * i + 1]!, values[i]!);
    }
    this.#move(Infinity);
  }

  /** Moves up to `slots` slots of the old table. */
  #move(slots: number): void {
    const old = this.#old!, l = this.#moveLiveness;
    const end = Math.min(old.mask + 1, this.#cursor + slots);
    for (let i = this.#cursor; i < end; i++) {
      const v = old.values[i]!;
      if (v <= 0) continue;
      old.values[i] = MOVED;
      this.#oldLeft--;
      this.#seen++;
      if (isAlive(l, v - 1)) {
        this.#place(old.keys[2 * i]!, old.keys[2 * i + 1]!, v);
        this.#size++;
        this.#kept++;
      }
    }
    this.#cursor = end;
    if (end > old.mask) {
      this.#old = undefined;
      this.#moveLiveness = undefined;
      this.#oldLeft = 0;
      this.#liveShare = this.#seen === 0 ? 1 : this.#kept / this.#seen;
    }
  }

  /**
   * Writes the occupied slots only (12 bytes each while positions fit in 32
   * bits, else 16); the reader rebuilds the table. Snapshots stay about half
   * the size of the table itself. (Entries of removed events go too: they are
   * dropped when the table next grows, and skipped by liveness checks until then.)
   */
  write(w: ByteWriter): void {
    const tables = [{ keys: this.#keys, values: this.#values }];
    if (this.#old !== undefined) tables.push(this.#old);
    let n = 0, wide = false;
    for (const { values } of tables) {
      for (let i = 0; i < values.length; i++) {
        const v = values[i]! - 1;
        if (v < 0) continue;
        n++;
        if (v > 0xffff_ffff) wide = true;
      }
    }
    w.u32(n);
    w.u8(wide ? 1 : 0);
    // Straight into the writer: a temporary array would be fresh memory, costly to touch.
    let o = w.u32Block(n * (wide ? 4 : 3));
    const view = w.view;
    for (const { keys, values } of tables) {
      for (let i = 0; i < values.length; i++) {
        const v = values[i]! - 1;
        if (v < 0) continue;
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
      t.#place(a[i]!, a[i + 1]!, v + 1);
    }
    t.#size = n;
    return t;
  }
}
