/**
 * The write side of stable storage, used by the async node driver. The core
 * only reads ({@link Storage}); the driver persists each `Ready` through
 * {@link WritableStorage.save} before it sends the messages that depend on it.
 *
 * @module
 */

import type { Storage } from "../core/storage.ts";
import type { ConfState, Entry, HardState, Snapshot } from "../core/types.ts";

/**
 * What one `Ready` asks storage to persist. Applied in this order: `snapshot`,
 * then `entries`, then `hardState`.
 *
 * @example
 * ```ts
 * import type { StorageUpdate } from "./writable_storage.ts";
 * const u: StorageUpdate = {
 *   hardState: { term: 1, vote: "n1", commit: 0 },
 *   entries: [{ term: 1, index: 1, type: "normal", data: new Uint8Array([1]) }],
 * };
 * ```
 */
export interface StorageUpdate {
  /** The new hard state, when it changed. */
  readonly hardState?: HardState;
  /**
   * Entries to append. An entry whose index is already in the log replaces
   * it and everything after it (the new leader's log wins, Raft §5.3).
   */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader (InstallSnapshot, Raft §7). */
  readonly snapshot?: Snapshot;
}

/**
 * Options of {@link WritableStorage.save}.
 *
 * @example
 * ```ts
 * import type { SaveOptions } from "./writable_storage.ts";
 * const o: SaveOptions = { sync: false };
 * ```
 */
export interface SaveOptions {
  /**
   * Make the write durable before the returned promise resolves (fsync).
   * Default true. Pass `Ready.mustSync`.
   */
  readonly sync?: boolean;
}

/**
 * Stable storage the node driver writes to. Reads stay synchronous (the
 * {@link Storage} part, which the core calls); writes are async.
 *
 * Contract: once `save(update, { sync: true })` resolves, everything in
 * `update` survives a crash of the process or the machine. Calls are applied
 * in the order they are made.
 *
 * @example
 * ```ts
 * import type { WritableStorage } from "./writable_storage.ts";
 * import { MemoryStorage } from "./memory_storage.ts";
 *
 * const s: WritableStorage = MemoryStorage.withVoters(["n1"]);
 * await s.save({
 *   hardState: { term: 1, vote: "n1", commit: 1 },
 *   entries: [{ term: 1, index: 1, type: "normal", data: new Uint8Array([7]) }],
 * });
 * const snap = await s.createSnapshot(1, s.initialState().confState, new Uint8Array([42]));
 * await s.compact(1);
 * console.assert(snap.metadata.index === 1 && s.firstIndex() === 2);
 * await s.close();
 * ```
 */
export interface WritableStorage extends Storage {
  /**
   * Persists a `Ready`: the snapshot (if any), then the entries (replacing a
   * conflicting suffix), then the hard state. File-backed implementations do
   * one write and at most one data sync for the entries of a call (group
   * commit), never one per entry.
   */
  save(update: StorageUpdate, options?: SaveOptions): Promise<void>;
  /**
   * Records a snapshot the state machine took at `index` (an applied index)
   * with membership `confState`, durably, and returns it. Does not drop log
   * entries; call {@link WritableStorage.compact} for that. When `index` is not
   * above the current snapshot's index, returns the current snapshot.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot>;
  /**
   * True when the storage keeps no reference to the `data` given to
   * {@link WritableStorage.createSnapshot} once its promise settles (it reads
   * the snapshot back from its file when asked for it), so the caller may
   * write over that buffer. Absent or false: the storage may hold it.
   */
  readonly releasesSnapshotData?: boolean;
  /**
   * Drops the entries up to and including `index`: `firstIndex()` becomes
   * `index + 1` and reads below it throw `CompactedError`.
   */
  compact(index: number): Promise<void>;
  /** Flushes pending writes and releases the storage (and its directory lock). */
  close(): Promise<void>;
}
