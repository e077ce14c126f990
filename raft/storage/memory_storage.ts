/**
 * In-memory {@link Storage}: what the simulator and unit tests run on, and
 * the reference the file storage is compared against.
 *
 * @module
 */

import { CompactedError, RaftInvariantError, UnavailableError } from "../core/errors.ts";
import { limitSize } from "../core/storage.ts";
import type { InitialState, Storage } from "../core/storage.ts";
import type { ConfState, Entry, HardState, Snapshot } from "../core/types.ts";
import { EMPTY_HARD_STATE } from "../core/types.ts";
import { confStateOf } from "../core/conf_state.ts";
import { checkSliceRange, type EntrySliceReader } from "./entry_slice.ts";
import type { SaveOptions, StorageUpdate, WritableStorage } from "./writable_storage.ts";

const EMPTY_CONF: ConfState = confStateOf([]);

/**
 * A synchronous, in-memory log. Everything written is "durable" at once, so a
 * simulated crash keeps exactly what was written to it.
 *
 * Invariant: `#ents[0]` is a dummy entry at the snapshot index carrying the
 * snapshot term; real entries follow at consecutive indexes.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "./memory_storage.ts";
 * const s = MemoryStorage.withVoters(["n1", "n2", "n3"]);
 * s.append([{ term: 1, index: 1, type: "normal", data: new Uint8Array([1]) }]);
 * console.assert(s.lastIndex() === 1);
 * ```
 */
export class MemoryStorage implements Storage, WritableStorage, EntrySliceReader {
  #hardState: HardState = EMPTY_HARD_STATE;
  #snapshot: Snapshot = {
    metadata: { index: 0, term: 0, confState: EMPTY_CONF },
    data: new Uint8Array(),
  };
  #ents: Entry[] = [{ term: 0, index: 0, type: "normal", data: new Uint8Array() }];

  /** A fresh storage whose membership is `voters` (the bootstrap configuration). */
  static withVoters(voters: readonly string[], learners: readonly string[] = []): MemoryStorage {
    const s = new MemoryStorage();
    s.#snapshot = {
      metadata: {
        index: 0,
        term: 0,
        confState: confStateOf(voters, learners),
      },
      data: new Uint8Array(),
    };
    return s;
  }

  initialState(): InitialState {
    return { hardState: this.#hardState, confState: this.#snapshot.metadata.confState };
  }

  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    const offset = this.#ents[0]!.index;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    return limitSize(this.#ents.slice(lo - offset, hi - offset), maxBytes);
  }

  /** {@link EntrySliceReader.entrySlice}: a copy of bytes `[start, end)` of entry `index`. */
  entrySlice(index: number, start: number, end?: number): Uint8Array {
    if (!Number.isSafeInteger(index)) throw new TypeError(`index must be an integer, got ${index}`);
    const offset = this.#ents[0]!.index;
    if (index <= offset) throw new CompactedError(index, offset + 1);
    const e = this.#ents[index - offset];
    if (e === undefined) throw new UnavailableError(index, this.lastIndex());
    return e.data.slice(start, checkSliceRange(index, start, end, e.data.byteLength));
  }

  term(index: number): number {
    const offset = this.#ents[0]!.index;
    if (index < offset) throw new CompactedError(index, offset + 1);
    const e = this.#ents[index - offset];
    if (e === undefined) throw new UnavailableError(index, this.lastIndex());
    return e.term;
  }

  firstIndex(): number {
    return this.#ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.#ents[0]!.index + this.#ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** The hard state last saved. */
  hardState(): HardState {
    return this.#hardState;
  }

  /** Saves the hard state. */
  setHardState(hs: HardState): void {
    this.#hardState = hs;
  }

  /**
   * Appends entries; an entry whose index is already present replaces it and
   * everything after it (the new leader's log wins, Raft §5.3).
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all compacted already
    const ents = entries[0]!.index < first ? entries.slice(first - entries[0]!.index) : entries;
    const offset = ents[0]!.index - this.#ents[0]!.index;
    if (offset > this.#ents.length) {
      throw new RaftInvariantError(
        `append leaves a gap: last index ${this.lastIndex()}, appending at ${ents[0]!.index}`,
      );
    }
    this.#ents.length = offset;
    for (const e of ents) this.#ents.push(e);
  }

  /** Replaces the whole log with a snapshot (InstallSnapshot, Raft §7). */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.#snapshot.metadata.index) return;
    this.#snapshot = snap;
    this.#ents = [{
      term: snap.metadata.term,
      index: snap.metadata.index,
      type: "normal",
      data: new Uint8Array(),
    }];
  }

  /**
   * Records a snapshot taken by the state machine at `index` (which must be
   * applied) and returns it. Does not drop entries; call {@link compactSync} for that.
   */
  createSnapshotSync(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.#snapshot.metadata.index) return this.#snapshot;
    if (index > this.lastIndex()) {
      throw new UnavailableError(index, this.lastIndex());
    }
    this.#snapshot = { metadata: { index, term: this.term(index), confState }, data };
    return this.#snapshot;
  }

  /** Drops entries up to and including `index`. */
  compactSync(index: number): void {
    const offset = this.#ents[0]!.index;
    if (index <= offset) return;
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    const dummy: Entry = { term: this.term(index), index, type: "normal", data: new Uint8Array() };
    this.#ents = [dummy, ...this.#ents.slice(index - offset + 1)];
  }

  /**
   * {@link WritableStorage.save}: applies the snapshot, then the entries, then
   * the hard state, all at once. `options.sync` is accepted and ignored.
   */
  save(update: StorageUpdate, _options?: SaveOptions): Promise<void> {
    try {
      if (update.snapshot !== undefined) this.applySnapshot(update.snapshot);
      this.append(update.entries);
      if (update.hardState !== undefined) this.setHardState(update.hardState);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** {@link WritableStorage.createSnapshot}: the async form of {@link createSnapshotSync}. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    try {
      return Promise.resolve(this.createSnapshotSync(index, confState, data));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** {@link WritableStorage.compact}: the async form of {@link compactSync}. */
  compact(index: number): Promise<void> {
    try {
      this.compactSync(index);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** {@link WritableStorage.close}: nothing to release in memory. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
