/**
 * Entries and a snapshot not yet written to stable storage.
 *
 * @module
 */

import { RaftInvariantError } from "./errors.ts";
import type { Entry, Snapshot } from "./types.ts";

/**
 * The unstable tail of the log.
 *
 * Invariant: `entries[i].index === offset + i`; if `snapshot` is set,
 * `snapshot.metadata.index < offset`.
 *
 * @example
 * ```ts
 * import { Unstable } from "./log_unstable.ts";
 * const u = new Unstable(1);
 * u.truncateAndAppend([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
 * if (!(u.maybeLastIndex() === 1)) throw new Error("unexpected result");
 * ```
 */
export class Unstable {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];
  /** Index of `entries[0]` (or where it will be). */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  /** First index, if a pending snapshot defines it. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  /** Last index, if unstable entries or a pending snapshot define it. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  /** Term at `i`, if known here. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      return this.snapshot !== undefined && this.snapshot.metadata.index === i
        ? this.snapshot.metadata.term
        : undefined;
    }
    const e = this.entries[i - this.offset];
    return e?.term;
  }

  /** Entries up to (`i`, `t`) are now stable. Ignored if that entry was replaced meanwhile. */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(i + 1 - this.offset);
      this.offset = i + 1;
    }
  }

  /** The snapshot at `i` is now stable. */
  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
      this.snapshot = undefined;
    }
  }

  /** Replaces everything with a snapshot. */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  /** Appends, replacing any entries at or after `ents[0].index`. */
  truncateAndAppend(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const after = ents[0]!.index;
    if (after === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replaces the unstable entries and (in storage, when written) the stable suffix from `after`.
      this.offset = after;
      this.entries = [...ents];
    } else {
      this.entries = this.entries.slice(0, after - this.offset);
      for (const e of ents) this.entries.push(e);
    }
  }

  /** Entries in [lo, hi). */
  slice(lo: number, hi: number): Entry[] {
    const upper = this.offset + this.entries.length;
    if (lo > hi || lo < this.offset || hi > upper) {
      throw new RaftInvariantError(
        `unstable.slice[${lo},${hi}) out of bounds [${this.offset},${upper})`,
      );
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
