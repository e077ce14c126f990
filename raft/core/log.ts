/**
 * The Raft log: stable storage plus the unstable tail, with the commit and
 * apply cursors.
 *
 * @module
 */

import { CompactedError, RaftInvariantError, UnavailableError } from "./errors.ts";
import { Unstable } from "./log_unstable.ts";
import { entrySize, limitSize, type Storage } from "./storage.ts";
import type { Entry, Snapshot } from "./types.ts";

/**
 * A node's log.
 *
 * Invariants: `applied <= committed <= lastIndex()`;
 * `firstIndex() - 1 <= applied` (nothing compacted is unapplied).
 *
 * @example
 * ```ts
 * import { RaftLog } from "./log.ts";
 * import { MemoryStorage } from "../storage/memory_storage.ts";
 * const log = new RaftLog(new MemoryStorage());
 * log.append([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
 * if (!(log.lastIndex() === 1 && log.lastTerm() === 1)) throw new Error("unexpected result");
 * ```
 */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known committed. */
  committed: number;
  /** Highest index applied by the state machine. Invariant: applied <= committed. */
  applied: number;
  readonly #maxApplyBytes: number;

  constructor(storage: Storage, opts: { maxApplyBytes?: number; applied?: number } = {}) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.#maxApplyBytes = opts.maxApplyBytes ?? Infinity;
  }

  /** First available index. */
  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /** Last index. */
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Highest index that is on stable storage with nothing unstable before it. */
  stableIndex(): number {
    if (this.unstable.snapshot !== undefined) return this.unstable.snapshot.metadata.index - 1;
    return this.unstable.entries.length > 0 ? this.unstable.offset - 1 : this.lastIndex();
  }

  /** Term at `i`; throws `CompactedError` below the first index - 1 and `UnavailableError` past the end. */
  term(i: number): number {
    const t = this.termOrUndefined(i);
    if (t !== undefined) return t;
    const dummy = this.firstIndex() - 1;
    if (i < dummy) throw new CompactedError(i, dummy + 1);
    throw new UnavailableError(i, this.lastIndex());
  }

  /**
   * Term at `i`, or undefined if `i` is compacted or beyond the end. Checks
   * bounds first: this runs on every append and must not build exceptions.
   */
  termOrUndefined(i: number): number | undefined {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return undefined;
      throw e;
    }
  }

  /** True if the entry at `i` has term `t` (Log Matching, Raft §5.3). */
  matchTerm(i: number, t: number): boolean {
    return this.termOrUndefined(i) === t;
  }

  /**
   * A candidate's log (`lastIndex`, `lastTerm`) is at least as up-to-date as
   * ours (Raft §5.4.1).
   */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries (Raft §5.3): if our entry at `index` has
   * `logTerm`, append `ents` (dropping a conflicting suffix) and learn commit
   * as min(leaderCommit, last new entry). Returns the last new index, or
   * undefined when the consistency check fails.
   */
  maybeAppend(
    index: number,
    logTerm: number,
    leaderCommit: number,
    ents: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new RaftInvariantError(
          `entry ${ci} conflicts with committed entry (committed ${this.committed})`,
        );
      }
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** Appends entries at the end (replacing any suffix they overlap). Returns the last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    if (after < this.committed) {
      throw new RaftInvariantError(`append after ${after} is below committed ${this.committed}`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * Index of the first entry of `ents` that is new or conflicts with ours
   * (same index, different term), or 0 when all are already present.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with its term: where
   * a log ending at (`index`, `term`) may match ours (fast backtracking).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (; i >= 0; i--) {
      const t = this.termOrUndefined(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Entries not yet on stable storage. */
  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }

  /** Committed entries not yet applied, bounded by the apply size limit. */
  nextCommittedEntries(): Entry[] {
    if (this.unstable.snapshot !== undefined) return []; // apply the snapshot first
    const lo = this.applied + 1;
    const hi = this.committed + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, this.#maxApplyBytes);
  }

  /** True if there are committed entries to apply. */
  hasNextCommittedEntries(): boolean {
    return this.unstable.snapshot === undefined && this.committed > this.applied;
  }

  /** Advances commit to `index` if it is higher. */
  commitTo(index: number): void {
    if (this.committed < index) {
      if (this.lastIndex() < index) {
        throw new RaftInvariantError(`commit ${index} is past the last index ${this.lastIndex()}`);
      }
      this.committed = index;
    }
  }

  /**
   * Leader commit rule (Raft §5.4.2): advance commit to `maxIndex` only if
   * that entry is of the current term.
   */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrUndefined(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** The state machine applied up to `index`. */
  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied) {
      throw new RaftInvariantError(
        `applied ${index} is out of range [applied ${this.applied}, committed ${this.committed}]`,
      );
    }
    this.applied = index;
  }

  /** Entries through (`i`, `t`) are on stable storage. */
  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  /** The snapshot at `i` is on stable storage. */
  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Replaces the log with a snapshot (Raft §7). */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** The pending unstable snapshot, or the storage's latest. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Entries in [lo, hi), at most `maxBytes` (but at least one). */
  slice(lo: number, hi: number, maxBytes?: number): Entry[] {
    if (lo === hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    const last = this.lastIndex();
    if (hi > last + 1) throw new UnavailableError(hi - 1, last);
    let ents: Entry[] = [];
    const off = this.unstable.offset;
    if (lo < off) {
      const stored = this.storage.entries(lo, Math.min(hi, off), maxBytes);
      if (stored.length < Math.min(hi, off) - lo) return stored; // hit the size limit
      ents = stored;
    }
    if (hi > off) {
      const u = this.unstable.slice(Math.max(lo, off), hi);
      ents = ents.length > 0 ? ents.concat(u) : u;
    }
    return limitSize(ents, maxBytes);
  }

  /** Entries from `i` to the end, at most `maxBytes`. */
  entries(i: number, maxBytes?: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /** Total size of entries, as counted by size limits. */
  static sizeOf(ents: readonly Entry[]): number {
    let n = 0;
    for (const e of ents) n += entrySize(e);
    return n;
  }
}
