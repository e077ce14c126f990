/**
 * The read side of stable storage as the core sees it. The core only reads
 * through this interface; writes happen outside the core, driven by `Ready`.
 *
 * @module
 */

import type { ConfState, Entry, HardState, Snapshot } from "./types.ts";

/** What storage recovered on start. */
export interface InitialState {
  /** The last hard state saved. */
  readonly hardState: HardState;
  /** The membership as of the last entry or snapshot. */
  readonly confState: ConfState;
}

/**
 * Stable storage, read synchronously by the core. Implementations keep an
 * in-memory index so every call here is cheap; file-backed ones may read
 * from disk synchronously.
 *
 * Invariant: `firstIndex() - 1` is the index of the last snapshot (or 0), and
 * `term(firstIndex() - 1)` answers with that snapshot's term.
 *
 * @example
 * ```ts
 * import type { Storage } from "./storage.ts";
 * function lastTerm(s: Storage): number {
 *   return s.term(s.lastIndex());
 * }
 * ```
 */
export interface Storage {
  /** Hard state and membership recovered from disk. */
  initialState(): InitialState;
  /**
   * Entries in [lo, hi), at least one (if any exist in the range) and at most
   * `maxBytes` of data in total. Throws `CompactedError` when `lo` is below
   * `firstIndex()` and `UnavailableError` when `hi` is above `lastIndex() + 1`.
   */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /** Term of the entry at `index`, for `index` in [firstIndex()-1, lastIndex()]. Throws otherwise. */
  term(index: number): number;
  /** Index of the first entry still available (last snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (the snapshot index when the log is empty). */
  lastIndex(): number;
  /** The most recent snapshot. May throw `SnapshotTemporarilyUnavailableError`. */
  snapshot(): Snapshot;
}

/** Bytes an entry counts for in size limits: its data plus a fixed overhead. */
export function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
}

/**
 * Keeps the longest prefix of `entries` whose total size is at most
 * `maxBytes`, but always at least one entry.
 *
 * @example
 * ```ts
 * import { limitSize } from "./storage.ts";
 * const e = { term: 1, index: 1, type: "normal" as const, data: new Uint8Array(100) };
 * if (!(limitSize([e, { ...e, index: 2 }], 150).length === 1)) throw new Error("unexpected result");
 * ```
 */
export function limitSize<T extends Entry>(entries: T[], maxBytes: number | undefined): T[] {
  if (maxBytes === undefined || entries.length === 0) return entries;
  let size = entrySize(entries[0]!);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySize(entries[n]!);
    if (size > maxBytes) break;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}
