/**
 * Reads event store commands back from the Raft log: the event bodies live
 * only there (no second copy). Entries below the log's first index come from
 * the side archive. A small cache bounded in entries and bytes keeps recently
 * applied and recently read commands decoded, so live subscribers and
 * sequential readers rarely touch storage.
 *
 * @module
 */

import type { Storage } from "../raft/core/storage.ts";
import { decodeEnvelope } from "../raft/envelope.ts";
import type { EntryArchive } from "./archive.ts";

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
  #bytes = 0;

  constructor(storage: Storage, archive: EntryArchive, options: LogReaderOptions = {}) {
    this.#storage = storage;
    this.#archive = archive;
    this.#maxEntries = options.cacheEntries ?? 1024;
    this.#maxBytes = options.cacheBytes ?? 8 << 20;
  }

  /** The archive entries below the log's first index come from. */
  get archive(): EntryArchive {
    return this.#archive;
  }

  /**
   * The command at `index`. Throws the storage's `CompactedError` when the
   * entry is neither in the log nor in the archive.
   */
  command(index: number): LoggedCommand {
    const hit = this.#cache.get(index);
    if (hit !== undefined) return hit;
    const env = decodeEnvelope(this.rawEntry(index));
    const c = { payload: env.payload, timestamp: env.timestamp };
    this.remember(index, c);
    return c;
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
    if (this.#cache.has(index)) return;
    const size = c.payload.byteLength + 64;
    if (size > this.#maxBytes / 4) return;
    // Storage may hand out views into a larger read buffer: keep only our bytes,
    // or the cache would pin whole buffers and its byte bound would mean nothing.
    if (c.payload.buffer.byteLength > 2 * c.payload.byteLength + 4096) {
      c = { payload: c.payload.slice(), timestamp: c.timestamp };
    }
    this.#cache.set(index, c);
    this.#bytes += size;
    while (this.#cache.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const first = this.#cache.entries().next().value;
      if (first === undefined) break;
      this.#cache.delete(first[0]);
      this.#bytes -= first[1].payload.byteLength + 64;
    }
  }

  /** Empties the cache (after a snapshot replaced the state). */
  clear(): void {
    this.#cache.clear();
    this.#bytes = 0;
  }
}
