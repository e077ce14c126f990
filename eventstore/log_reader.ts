/**
 * Reads event store commands back from the Raft log: the event bodies live
 * only there (no second copy). Entries below the log's first index come from
 * the side archive. A small cache bounded in entries and bytes keeps recently
 * applied commands decoded, so live subscribers rarely touch storage.
 *
 * Reads of a few events use {@link LogReader.commandSlice}: it fetches only
 * the bytes asked for (through the storage's `entrySlice` when it has one),
 * not the whole entry, which may hold an append of hundreds of events. What
 * is read is never cached: random reads over a large store would otherwise
 * keep whole entries alive for the sake of one event each.
 *
 * @module
 */

import type { Storage } from "../raft/core/storage.ts";
import { decodeEnvelope, ENVELOPE_PREFIX_BYTES, envelopeHeaderBytes } from "../raft/envelope.ts";
import { checkSliceRange, readEntrySlice } from "../raft/storage/entry_slice.ts";
import { pinsLittle } from "../raft/storage/entry_cache.ts";
import type { EntryArchive } from "./archive.ts";

// Envelope header sizes of this many entries are remembered (direct-mapped
// by log index), so reading several events of one entry reads its header once.
const HEADER_SLOTS = 4096;

/**
 * A command read from the log: its payload and the proposer's timestamp.
 *
 * @example
 * ```ts
 * import type { LoggedCommand } from "./log_reader.ts";
 * const c: LoggedCommand = { payload: new Uint8Array(), timestamp: 0 };
 * ```
 */
export interface LoggedCommand {
  readonly payload: Uint8Array;
  readonly timestamp: number;
}

/**
 * Options of {@link LogReader}.
 *
 * @example
 * ```ts
 * import type { LogReaderOptions } from "./log_reader.ts";
 * const o: LogReaderOptions = { cacheEntries: 256, cacheBytes: 8 << 20 };
 * ```
 */
export interface LogReaderOptions {
  /** Most cached entries. Default 1024. */
  readonly cacheEntries?: number;
  /** Most cached bytes. Default 8 MiB. */
  readonly cacheBytes?: number;
}

/**
 * Synchronous access to committed commands by log index.
 *
 * @example
 * ```ts
 * import { LogReader } from "./log_reader.ts";
 * import { MemoryArchive } from "./archive.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * import { encodeEnvelope } from "../raft/envelope.ts";
 * const s = MemoryStorage.withVoters(["n1"]);
 * s.append([{ term: 1, index: 1, type: "normal", data: encodeEnvelope({ id: "", timestamp: 9, payload: new Uint8Array([4]) }) }]);
 * const r = new LogReader(s, new MemoryArchive());
 * console.assert(r.command(1).timestamp === 9 && r.command(1).payload[0] === 4);
 * ```
 */
export class LogReader {
  readonly #storage: Storage;
  readonly #archive: EntryArchive;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #cache = new Map<number, LoggedCommand>();
  /** The cached indexes, oldest first: a ring of `#maxEntries` slots from `#head`. */
  #order: Float64Array;
  #head = 0;
  #bytes = 0;
  /** Slot `i % HEADER_SLOTS`: log index `#headerOf[i]` (0: none) has envelope header `#headerBytes[i]`. */
  #headerOf = new Float64Array(HEADER_SLOTS);
  #headerBytes = new Uint16Array(HEADER_SLOTS);

  constructor(storage: Storage, archive: EntryArchive, options: LogReaderOptions = {}) {
    this.#storage = storage;
    this.#archive = archive;
    this.#maxEntries = options.cacheEntries ?? 1024;
    this.#maxBytes = options.cacheBytes ?? 8 << 20;
    this.#order = new Float64Array(Math.max(1, this.#maxEntries));
  }

  /** The archive entries below the log's first index come from. */
  get archive(): EntryArchive {
    return this.#archive;
  }

  /**
   * The command at `index` (read whole; not cached). Throws the storage's
   * `CompactedError` when the entry is neither in the log nor in the archive.
   */
  command(index: number): LoggedCommand {
    const hit = this.#cache.get(index);
    if (hit !== undefined) return hit;
    const env = decodeEnvelope(this.rawEntry(index));
    return { payload: env.payload, timestamp: env.timestamp };
  }

  /**
   * Bytes `[from, to)` of the payload of the command at `index` (`to`
   * defaults to the payload's end). A view into the cached command when the
   * cache holds it; otherwise a copy of just those bytes from the log or the
   * archive (the envelope header is read once and remembered). Nothing is
   * added to the cache. Throws `RangeError` for a range outside the payload,
   * `TypeError` when the entry is not a command envelope, and the storage's
   * `CompactedError` when the entry is neither in the log nor in the archive.
   */
  commandSlice(index: number, from: number, to?: number): Uint8Array {
    const hit = this.#cache.get(index);
    if (hit !== undefined) {
      const p = hit.payload;
      return p.subarray(from, checkSliceRange(index, from, to, p.byteLength));
    }
    const h = this.#envelopeHeader(index);
    return this.#slice(index, h + from, to === undefined ? undefined : h + to);
  }

  #envelopeHeader(index: number): number {
    const slot = index % HEADER_SLOTS;
    if (this.#headerOf[slot] === index) return this.#headerBytes[slot]!;
    const h = envelopeHeaderBytes(this.#slice(index, 0, ENVELOPE_PREFIX_BYTES));
    this.#headerOf[slot] = index;
    this.#headerBytes[slot] = h;
    return h;
  }

  /** Bytes `[start, end)` of the entry data at `index`, from the archive or the log. */
  #slice(index: number, start: number, end: number | undefined): Uint8Array {
    if (index < this.#storage.firstIndex()) {
      const a = this.#archive;
      if (a.slice !== undefined) {
        const s = a.slice(index, start, end);
        if (s !== undefined) return s;
      } else {
        const d = a.get(index);
        if (d !== undefined) return d.slice(start, checkSliceRange(index, start, end, d.length));
      }
    }
    return readEntrySlice(this.#storage, index, start, end);
  }

  /** The entry data (the envelope) at `index`, from the log or the archive. */
  rawEntry(index: number): Uint8Array {
    if (index < this.#storage.firstIndex()) {
      const a = this.#archive.get(index);
      if (a !== undefined) return a;
    }
    const e = this.#storage.entries(index, index + 1)[0];
    if (e === undefined) throw new RangeError(`Log entry ${index} is not available`);
    return e.data;
  }

  /** Caches a command (the state machine calls this as it applies). */
  remember(index: number, c: LoggedCommand): void {
    const cache = this.#cache;
    if (cache.has(index)) return;
    const size = c.payload.byteLength + 64;
    if (size > this.#maxBytes / 4 || this.#maxEntries < 1) return;
    // Storage may hand out views into a larger read buffer: keep only our bytes,
    // or the cache would pin whole buffers and its byte bound would mean nothing.
    if (!pinsLittle(c.payload)) {
      c = { payload: c.payload.slice(), timestamp: c.timestamp };
    }
    // Evict the oldest first (a Map iterator would step over every deleted slot).
    const order = this.#order, cap = order.length;
    while (cache.size > 0 && (cache.size >= cap || this.#bytes + size > this.#maxBytes)) {
      const oldest = order[this.#head]!;
      this.#head = (this.#head + 1) % cap;
      const old = cache.get(oldest);
      if (old === undefined) continue;
      cache.delete(oldest);
      this.#bytes -= old.payload.byteLength + 64;
    }
    cache.set(index, c);
    order[(this.#head + cache.size - 1) % cap] = index;
    this.#bytes += size;
  }

  /** Empties the caches (after a snapshot replaced the state). */
  clear(): void {
    this.#cache.clear();
    this.#head = 0;
    this.#bytes = 0;
    this.#headerOf.fill(0);
  }
}
