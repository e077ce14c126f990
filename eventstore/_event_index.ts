/**
 * The event store's in-memory index: where every event is in the log, per
 * stream and globally, and which ids exist. It holds no event bodies; those
 * are read from the log (see `log_reader.ts`).
 *
 * Per event (by global position): stream id, type id, revision, and byte
 * offset of its record in the command (4 x u32 = 16 bytes). Per applied
 * append entry: log index, first position, timestamp (3 x f64). Per stream:
 * the positions of its live revisions. Plus the id table.
 *
 * @module
 */

import type { ByteReader, ByteWriter } from "./_bytes.ts";
import { F64Column, U32Column } from "./_columns.ts";
import { hashBytes, idHash, IdTable, type Liveness } from "./_id_table.ts";
import type { CurrentRevision, StreamMetadata } from "./types.ts";

/**
 * One stream's state.
 *
 * Invariants: `base <= min(truncatedBefore, next)`; positions of revisions
 * `[base, next)` are in `#positions`; revisions below `truncatedBefore` are
 * gone for good (soft delete, truncation, retention), and `truncatedBefore`
 * never decreases.
 */
export class StreamState {
  readonly id: number;
  readonly name: string;
  /** Revisions [0, next) were written. */
  next = 0;
  /** Revision of `#positions[0]`. */
  base = 0;
  truncatedBefore = 0;
  /** `next` when the stream was soft-deleted, or -1. */
  softDeletedAt = -1;
  hardDeleted = false;
  metadata: StreamMetadata | undefined = undefined;
  #positions = new F64Column(2);

  constructor(id: number, name: string) {
    this.id = id;
    this.name = name;
  }

  /** True unless never written, hard-deleted, or soft-deleted with nothing since. */
  get exists(): boolean {
    return !this.hardDeleted && this.next > 0 && this.softDeletedAt !== this.next;
  }

  /** The last revision, or `no_stream` when the stream does not exist. */
  currentRevision(): CurrentRevision {
    return this.exists ? this.next - 1 : "no_stream";
  }

  /** Lowest revision still readable, before `maxAge` (may equal `next`). */
  get firstLive(): number {
    let lo = this.truncatedBefore;
    const m = this.metadata;
    if (m?.truncateBefore !== undefined && m.truncateBefore > lo) lo = m.truncateBefore;
    if (m?.maxCount !== undefined && this.next - m.maxCount > lo) lo = this.next - m.maxCount;
    return Math.min(Math.max(lo, this.base), this.next);
  }

  /** Position of revision `rev` (`base <= rev < next`). */
  positionOf(rev: number): number {
    return this.#positions.get(rev - this.base);
  }

  /** The lowest revision in `[base, next)` whose position is above `position` (`next` if none). */
  revisionAfter(position: number): number {
    let lo = this.base, hi = this.next;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.positionOf(mid) > position) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Records the next revision's position. */
  push(position: number): void {
    this.#positions.push(position);
    this.next++;
  }

  /** Frees positions below `truncatedBefore` once they are most of the array. */
  compact(): void {
    const drop = Math.min(this.truncatedBefore, this.next) - this.base;
    if (drop <= 0) return;
    if (
      this.hardDeleted || drop === this.next - this.base ||
      (drop >= 32 && drop * 2 >= this.next - this.base)
    ) {
      this.#positions.dropFirst(drop);
      this.base += drop;
    }
  }

  write(w: ByteWriter): void {
    w.string(this.name);
    w.f64(this.next);
    w.f64(this.base);
    w.f64(this.truncatedBefore);
    w.f64(this.softDeletedAt);
    w.u8(this.hardDeleted ? 1 : 0);
    w.string(this.metadata === undefined ? "" : JSON.stringify(this.metadata));
    w.array(this.#positions.view());
  }

  static read(r: ByteReader, id: number): StreamState {
    const s = new StreamState(id, r.string());
    s.next = r.f64();
    s.base = r.f64();
    s.truncatedBefore = r.f64();
    s.softDeletedAt = r.f64();
    s.hardDeleted = r.u8() === 1;
    const meta = r.string();
    if (meta !== "") s.metadata = JSON.parse(meta) as StreamMetadata;
    s.#positions = F64Column.adopt(r.f64Array());
    return s;
  }
}

/** The index. Mutated only by the state machine's apply and restore. */
export class EventIndex {
  readonly streams = new Map<string, StreamState>();
  readonly streamsById: StreamState[] = [];
  readonly types: string[] = [];
  readonly #typeIds = new Map<string, number>();
  readonly #typeByHash = new Map<number, number[]>();
  readonly #typeBytes: Uint8Array[] = [];
  /** Streams that have a maxAge, swept as log time advances. */
  readonly maxAgeStreams = new Set<number>();

  posStream = new U32Column(4096);
  posType = new U32Column(4096);
  posRevision = new U32Column(4096);
  posOffset = new U32Column(4096);
  entLog = new F64Column(1024);
  entFirst = new F64Column(1024);
  entTime = new F64Column(1024);
  ids = new IdTable(4096);

  /** Number of positions ever assigned (the next position). */
  get positionCount(): number {
    return this.posStream.length;
  }

  /** The stream named `name`, created if absent. */
  stream(name: string): StreamState {
    let s = this.streams.get(name);
    if (s === undefined) {
      s = new StreamState(this.streamsById.length, name);
      this.streams.set(name, s);
      this.streamsById.push(s);
    }
    return s;
  }

  /** Type id of the type spelled by `b[start, start+len)`, interned on first sight. */
  internType(b: Uint8Array, start: number, len: number): number {
    hashBytes(b, start, len);
    const h = idHash.h1;
    const bucket = this.#typeByHash.get(h);
    if (bucket !== undefined) {
      for (const id of bucket) {
        const t = this.#typeBytes[id]!;
        if (t.length !== len) continue;
        let same = true;
        for (let i = 0; i < len; i++) {
          if (t[i] !== b[start + i]) {
            same = false;
            break;
          }
        }
        if (same) return id;
      }
    }
    const bytes = b.slice(start, start + len);
    const name = new TextDecoder().decode(bytes);
    return this.#addType(name, bytes, h);
  }

  #addType(name: string, bytes: Uint8Array, hash: number): number {
    const existing = this.#typeIds.get(name);
    if (existing !== undefined) return existing;
    const id = this.types.length;
    this.types.push(name);
    this.#typeIds.set(name, id);
    this.#typeBytes.push(bytes);
    const bucket = this.#typeByHash.get(hash);
    if (bucket === undefined) this.#typeByHash.set(hash, [id]);
    else bucket.push(id);
    return id;
  }

  /** Type id of `name`, or undefined when no event has it. */
  typeId(name: string): number | undefined {
    return this.#typeIds.get(name);
  }

  /** Index in the entry table of the entry holding `position`. */
  entryOf(position: number): number {
    return this.entFirst.floorIndex(position);
  }

  /** Log index of the entry holding `position`. */
  logIndexOf(position: number): number {
    return this.entLog.get(this.entryOf(position));
  }

  /** Timestamp of the event at `position`. */
  timestampOf(position: number): number {
    return this.entTime.get(this.entryOf(position));
  }

  /** True while the event at `position` exists (not deleted or truncated). */
  isAlive(position: number): boolean {
    const s = this.streamsById[this.posStream.get(position)]!;
    return !s.hardDeleted && this.posRevision.get(position) >= s.truncatedBefore;
  }

  /**
   * Liveness of every position as raw columns (see {@link Liveness}), or
   * undefined while no event was ever removed (every position holds one, and
   * the id table need not look each up as it grows).
   */
  liveness(): Liveness | undefined {
    const floor = new Float64Array(this.streamsById.length);
    let removed = false;
    for (let i = 0; i < floor.length; i++) {
      const s = this.streamsById[i]!;
      const f = s.hardDeleted ? Infinity : s.truncatedBefore;
      floor[i] = f;
      if (f > 0) removed = true;
    }
    if (!removed) return undefined;
    return { stream: this.posStream.view(), revision: this.posRevision.view(), floor };
  }

  write(w: ByteWriter): void {
    w.u32(this.types.length);
    for (const t of this.types) w.string(t);
    w.u32(this.streamsById.length);
    for (const s of this.streamsById) s.write(w);
    w.array(this.posStream.view());
    w.array(this.posType.view());
    w.array(this.posRevision.view());
    w.array(this.posOffset.view());
    w.array(this.entLog.view());
    w.array(this.entFirst.view());
    w.array(this.entTime.view());
    this.ids.write(w);
  }

  static read(r: ByteReader): EventIndex {
    const x = new EventIndex();
    const nTypes = r.u32();
    const enc = new TextEncoder();
    for (let i = 0; i < nTypes; i++) {
      const name = r.string();
      const bytes = enc.encode(name);
      hashBytes(bytes, 0, bytes.length);
      x.#addType(name, bytes, idHash.h1);
    }
    const nStreams = r.u32();
    for (let i = 0; i < nStreams; i++) {
      const s = StreamState.read(r, i);
      x.streams.set(s.name, s);
      x.streamsById.push(s);
      if (s.metadata?.maxAge !== undefined && !s.hardDeleted) x.maxAgeStreams.add(i);
    }
    x.posStream = U32Column.adopt(r.u32Array());
    x.posType = U32Column.adopt(r.u32Array());
    x.posRevision = U32Column.adopt(r.u32Array());
    x.posOffset = U32Column.adopt(r.u32Array());
    x.entLog = F64Column.adopt(r.f64Array());
    x.entFirst = F64Column.adopt(r.f64Array());
    x.entTime = F64Column.adopt(r.f64Array());
    x.ids = IdTable.read(r);
    const n = x.posStream.length;
    if (x.posType.length !== n || x.posRevision.length !== n || x.posOffset.length !== n) {
      throw new RangeError("Event index in snapshot has columns of different lengths");
    }
    return x;
  }
}
