/**
 * A bounded cache of the most recent log entries, so the leader's reads of
 * entries it just wrote (to replicate them) never touch the disk.
 *
 * @module
 */

import type { Entry } from "../core/types.ts";
import { entrySize } from "../core/storage.ts";

/** Slack of {@link pinsLittle}: the size of the buffers small decoded entries share. */
const POOL_BYTES = 8 << 10;

/**
 * Whether keeping `data` alive keeps little else alive: its buffer is at most
 * twice its size plus 8 KiB. Small entries decoded from base64 share 8 KiB
 * buffers (transport/base64.ts), and copying them would cost a new buffer each (microseconds apiece);
 * a view into a large read buffer or message fails the test and is copied.
 *
 * @example
 * ```ts
 * import { pinsLittle } from "./entry_cache.ts";
 * console.assert(pinsLittle(new Uint8Array(10)));
 * console.assert(!pinsLittle(new Uint8Array(1 << 20).subarray(0, 10)));
 * ```
 */
export function pinsLittle(data: Uint8Array): boolean {
  return data.buffer.byteLength <= 2 * data.byteLength + POOL_BYTES;
}

/**
 * Holds a contiguous run of entries `[first, last]` ending at the log's tail,
 * evicting the oldest once their total {@link entrySize} exceeds `maxBytes`.
 * An entry whose data is a view into a much larger buffer (say, a message it
 * was decoded from) is cached as a copy, so the byte bound is close to what
 * the cache really keeps alive (see {@link pinsLittle}).
 *
 * Invariant: `#ents[#head + k].index === first + k`; `#bytes` is the size of
 * the entries held.
 *
 * @example
 * ```ts
 * import { EntryCache } from "./entry_cache.ts";
 * const c = new EntryCache(1 << 20);
 * const e = (index: number) => ({ index, term: 1, type: "normal" as const, data: new Uint8Array(8) });
 * c.append([e(1), e(2), e(3)]);
 * c.truncateFrom(3);
 * console.assert(c.first === 1 && c.last === 2 && c.slice(2, 3)[0]?.index === 2);
 * ```
 */
export class EntryCache {
  readonly maxBytes: number;
  #ents: Entry[] = [];
  #head = 0;
  #bytes = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Index of the oldest cached entry (meaningless when empty). */
  get first(): number {
    const e = this.#ents[this.#head];
    return e === undefined ? 0 : e.index;
  }

  /** Index of the newest cached entry (`first - 1` when empty). */
  get last(): number {
    return this.first + this.count - 1;
  }

  /** Number of cached entries. */
  get count(): number {
    return this.#ents.length - this.#head;
  }

  /** Bytes the cached entries count for. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether entry `index` is cached. */
  has(index: number): boolean {
    return this.count > 0 && index >= this.first && index <= this.last;
  }

  /**
   * Adds entries that were just written at the log's tail. When they do not
   * follow the cached run, the cache restarts with them. Entries whose data
   * {@link pinsLittle} are kept by reference, others as copies.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0 || this.maxBytes === 0) return;
    if (this.count > 0 && entries[0]!.index !== this.last + 1) this.clear();
    // Only the newest maxBytes can stay; skip (and do not copy) the rest.
    const n = entries.length;
    let from = n;
    let size = 0;
    while (from > 0) {
      const add = entrySize(entries[from - 1]!);
      if (size + add > this.maxBytes && from < n) break;
      size += add;
      from--;
    }
    if (from > 0) this.clear();
    for (let i = from; i < n; i++) {
      const e = entries[i]!;
      const d = e.data;
      this.#ents.push(
        pinsLittle(d) ? e : { index: e.index, term: e.term, type: e.type, data: d.slice() },
      );
    }
    this.#bytes += size;
    this.#evict();
  }

  /** Entries [lo, hi), which must all be cached. */
  slice(lo: number, hi: number): Entry[] {
    const base = this.#head - this.first;
    return this.#ents.slice(base + lo, base + hi);
  }

  /** Drops entries from `index` on (a conflicting suffix was replaced). */
  truncateFrom(index: number): void {
    if (this.count === 0 || index > this.last) return;
    if (index <= this.first) {
      this.clear();
      return;
    }
    const keep = this.#head + index - this.first;
    for (let i = keep; i < this.#ents.length; i++) this.#bytes -= entrySize(this.#ents[i]!);
    this.#ents.length = keep;
  }

  /** Drops entries below `index` (compacted). */
  dropBefore(index: number): void {
    while (this.count > 0 && this.first < index) this.#dropOldest();
    this.#reclaim();
  }

  /** Empties the cache. */
  clear(): void {
    this.#ents = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  #dropOldest(): void {
    this.#bytes -= entrySize(this.#ents[this.#head]!);
    this.#ents[this.#head] = undefined as unknown as Entry; // let the entry be collected
    this.#head++;
  }

  #evict(): void {
    while (this.#bytes > this.maxBytes && this.count > 0) this.#dropOldest();
    this.#reclaim();
  }

  // Dropping from the front only advances #head (O(1)); the array is
  // compacted once the dead prefix is at least half of it, so appends and
  // evictions stay amortised O(1).
  #reclaim(): void {
    if (this.count === 0) {
      this.clear();
    } else if (this.#head > 1024 && this.#head * 2 >= this.#ents.length) {
      this.#ents = this.#ents.slice(this.#head);
      this.#head = 0;
    }
  }
}
