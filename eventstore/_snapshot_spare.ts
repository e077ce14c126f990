/**
 * The next snapshot's buffer, prepared while commands apply: in a fresh
 * buffer every first write of a page faults, which for tens of megabytes
 * costs more than the snapshot's own work, all in one pause. The spare is
 * touched a page at a time as the state grows instead.
 *
 * @module
 */

import { touchPages } from "./_bytes.ts";
import type { EventIndex } from "./_event_index.ts";

/** Snapshots from this size on get a spare buffer prepared for the next one. */
const SPARE_FROM_BYTES = 4 << 20;
/** Size of a spare made before the first large snapshot, over the state's. */
const EARLY_SPARE_SIZE = 3;
/**
 * How far ahead of the state's snapshot size a spare is touched: touching
 * costs the page faults the snapshot would otherwise take at once, and no
 * more than it needs.
 */
const SPARE_TOUCH_AHEAD = 1.05;

/**
 * Room a snapshot of the state indexed by `idx` needs, or a little more;
 * `tight` counts the id table's entries as written (12 bytes each while
 * positions fit in 32 bits) rather than its slots: closer, but it leaves out
 * entries kept for the archive, which are rare, and long stream names.
 */
export function snapshotEstimate(idx: EventIndex, tight = false): number {
  // Per event: four u32 columns and its stream's f64 position list.
  return idx.positionCount * 24 + (tight ? idx.ids.size * 12 : idx.ids.capacity * 16) +
    idx.entLog.length * 24 + idx.streamsById.length * 64 + (1 << 16);
}

/** The spare snapshot buffer of an event store state machine. */
export class SnapshotSpare {
  /** The buffer, once made; touched up to {@link #touched}. */
  #spare: Uint8Array | undefined;
  #touched = 0;
  /**
   * Size the next spare is made for (the last snapshot's, or the state's, with
   * room to grow); 0 while the state is small, and -1 after a restore until
   * the next snapshot.
   */
  #bytes = 0;
  /** Spare size over the last snapshot's: grows when the state outgrew its spare. */
  #factor = 1.25;
  /**
   * The spare is for the first snapshot of a state that grew large without
   * one: sized three times the state (untouched pages cost no memory; every
   * spare is touched only a little ahead of the state), so the state
   * outgrowing it leaves little touched memory behind; and that says nothing
   * about the margin later spares need.
   */
  #early = false;
  /**
   * The buffer of the last snapshot, until the node releases it ({@link released})
   * or a restore makes it stale, and how much of it was touched by then.
   */
  #lent: ArrayBufferLike | undefined;
  #lentTouched = 0;
  /** Whether spares are made at all (`spareSnapshotBuffers`). */
  readonly #enabled: boolean;

  constructor(enabled: boolean) {
    this.#enabled = enabled;
  }

  /** Commands of `bytes` bytes were applied to the state indexed by `idx`. */
  applied(idx: EventIndex, bytes: number): void {
    if (this.#bytes === 0 && bytes > 0 && this.#enabled) {
      // No large snapshot yet: prepare for the first once the state is large.
      const need = snapshotEstimate(idx, true);
      if (need >= SPARE_FROM_BYTES) {
        this.#bytes = need * EARLY_SPARE_SIZE;
        this.#early = true;
      }
    }
    if (this.#bytes > 0) this.#touch(idx, bytes * this.#factor);
  }

  /**
   * Touches `bytes` more of the spare snapshot buffer (as many as the spare
   * is larger than the last snapshot, times the bytes applied), up to a
   * little over the state's snapshot size, so a node that snapshots once the
   * log has grown by the last snapshot's size (as RaftNode does) finds the
   * spare ready.
   */
  #touch(idx: EventIndex, bytes: number): void {
    let s = this.#spare;
    const early = this.#early;
    const need = snapshotEstimate(idx, true);
    if (s !== undefined && need > s.length && (early || this.#touched >= s.length)) {
      // Outgrown: a bigger one (and, after a snapshot, a bigger margin).
      if (early) this.#bytes = need * EARLY_SPARE_SIZE;
      else {
        this.#factor = Math.min(2, this.#factor + 0.25);
        this.#bytes = Math.ceil(need * this.#factor);
      }
      s = this.#spare = undefined;
    }
    if (s === undefined) {
      s = this.#spare = new Uint8Array(this.#bytes);
      this.#touched = 0;
    }
    const limit = Math.min(s.length, Math.ceil(need * SPARE_TOUCH_AHEAD));
    if (this.#touched < limit) {
      this.#touched = touchPages(s, this.#touched, Math.min(bytes, limit - this.#touched));
    }
  }

  /**
   * What a snapshot of the state indexed by `idx` is written into: the
   * spare when the state fits, else the size to allocate. The spare is
   * handed over (the next one is made after {@link taken}).
   */
  take(idx: EventIndex): Uint8Array | number {
    const estimate = snapshotEstimate(idx);
    const spare = this.#spare;
    // A spare the state has outgrown is dropped (growing the writer would copy it all), and
    // the next is made bigger: the state grows faster than the log for small events.
    const fits = spare !== undefined && spare.length >= snapshotEstimate(idx, true);
    if (spare !== undefined && !fits && !this.#early) {
      this.#factor = Math.min(2, this.#factor + 0.25);
    }
    this.#early = false;
    this.#spare = undefined;
    return fits ? spare : estimate;
  }

  /**
   * A snapshot was written into `out` (a view of the spare or of fresh
   * memory): the next spare is sized after it, and its buffer may come back.
   */
  taken(out: Uint8Array, fromSpare: boolean): void {
    const size = out.length;
    // Small states snapshot quickly from fresh memory; a spare pays off for large ones.
    this.#bytes = size >= SPARE_FROM_BYTES && this.#enabled ? Math.ceil(size * this.#factor) : 0;
    this.#lent = this.#bytes > 0 ? out.buffer : undefined;
    this.#lentTouched = Math.max(out.byteOffset + size, fromSpare ? this.#touched : 0);
  }

  /**
   * The snapshot written into `data` is on disk and nothing else holds its
   * buffer: it becomes the spare (its pages are touched already), unless a
   * larger spare was made meanwhile or a restore came in between.
   */
  released(data: Uint8Array): void {
    if (this.#lent === undefined || data.buffer !== this.#lent) return;
    const buf = new Uint8Array(this.#lent);
    this.#lent = undefined;
    if (this.#bytes <= 0 || (this.#spare !== undefined && this.#spare.length > buf.length)) return;
    this.#spare = buf;
    this.#touched = Math.min(this.#lentTouched, buf.length);
  }

  /** The state was restored from a snapshot. */
  restored(): void {
    this.#spare = undefined;
    this.#lent = undefined;
    // A restarted node has just faulted in its whole state: no spare until its first snapshot.
    this.#bytes = -1;
    this.#early = false;
  }
}
