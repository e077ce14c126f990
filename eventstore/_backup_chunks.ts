/**
 * The event store's backup as chunks read on demand: the serialized index
 * first, then the archive section's entries (log index, length, bytes) a
 * mebibyte or so at a time, read from the log or the archive as the reader
 * asks for them, so the store's events are never in memory all at once.
 *
 * The log entries are those of one applied index: they never change, but
 * compaction could drop them and an installed snapshot could replace them.
 * The state machine keeps the log from the first of them while the backup is
 * read (its `retainFrom()` answers no higher), and the chunks fail when it
 * has restored a snapshot since (take the backup again).
 *
 * @module
 */

import { ByteWriter } from "./_bytes.ts";

/** Bytes a chunk of entries grows to before it is handed out. */
const CHUNK_BYTES = 1 << 20;

/** What {@link BackupChunks} reads through. */
export interface BackupSource {
  /** The bytes of the log entry at `index` (from the log or the archive). */
  readonly rawEntry: (index: number) => Uint8Array;
  /** Whether the state was replaced (a snapshot restored) since the backup was taken. */
  readonly replaced: () => boolean;
  /** Lets the log be compacted past the entries again. Called once, at the end or on `return()`. */
  readonly release: () => void;
}

/**
 * Chunks of one backup: `head`, then the entries at `indexes`.
 *
 * @example
 * ```ts
 * import { BackupChunks } from "./_backup_chunks.ts";
 * let released = 0;
 * const chunks = new BackupChunks(new Uint8Array([9]), [4, 7], {
 *   rawEntry: (i) => new Uint8Array([i]),
 *   replaced: () => false,
 *   release: () => released++,
 * });
 * const out: number[] = [];
 * for await (const c of chunks) out.push(...c);
 * console.assert(out[0] === 9 && out.length === 1 + 2 * (8 + 4 + 1) && released === 1);
 * ```
 */
export class BackupChunks implements AsyncIterableIterator<Uint8Array> {
  #head: Uint8Array | undefined;
  readonly #indexes: readonly number[];
  readonly #source: BackupSource;
  #next = 0;
  #released = false;

  /**
   * @param head The serialized state up to the entries (their count included).
   * @param indexes Log indexes of the entries, in order.
   * @param source Where the entries are read, and the end of the backup told.
   */
  constructor(head: Uint8Array, indexes: readonly number[], source: BackupSource) {
    this.#head = head;
    this.#indexes = indexes;
    this.#source = source;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    try {
      return Promise.resolve(this.#step());
    } catch (e) {
      this.#release();
      return Promise.reject(e);
    }
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    this.#release();
    this.#head = undefined;
    this.#next = this.#indexes.length;
    return Promise.resolve({ done: true, value: undefined });
  }

  #step(): IteratorResult<Uint8Array> {
    if (this.#released) return { done: true, value: undefined };
    if (this.#head !== undefined) {
      const head = this.#head;
      this.#head = undefined;
      return { done: false, value: head };
    }
    if (this.#next >= this.#indexes.length) {
      this.#release();
      return { done: true, value: undefined };
    }
    if (this.#source.replaced()) {
      throw new Error(
        "The node installed a snapshot while the backup was read: its entries may be gone; take the backup again",
      );
    }
    const w = new ByteWriter(CHUNK_BYTES + 4096);
    while (this.#next < this.#indexes.length && w.length < CHUNK_BYTES) {
      const index = this.#indexes[this.#next++]!;
      w.f64(index);
      w.bytes(this.#source.rawEntry(index));
    }
    return { done: false, value: w.finish() };
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#source.release();
  }
}
