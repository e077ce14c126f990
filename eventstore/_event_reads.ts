/**
 * Reads of events from the log through the event index: a window of event
 * records read together (a run of events costs one small read of just their
 * bytes), stream and global reads with retention applied, and the limits of
 * a read.
 *
 * @module
 */

import { fromUtf8 } from "./_bytes.ts";
import type { EventIndex, StreamState } from "./_event_index.ts";
import { DATA_JSON, EventRecordCursor, META_JSON } from "./commands.ts";
import { EventNotFoundError, StreamDeletedError, StreamNotFoundError } from "./errors.ts";
import type { LogReader } from "./log_reader.ts";
import type { RawEvent, RawReadResult } from "./raw_event.ts";
import type { ListStreamsOptions, ReadAllOptions, ReadStreamOptions, StreamList } from "./types.ts";

/**
 * Most events a read returns.
 *
 * @example
 * ```ts
 * import { MAX_READ_LIMIT } from "./state_machine.ts";
 * console.assert(MAX_READ_LIMIT === 10_000);
 * ```
 */
export const MAX_READ_LIMIT = 10_000;
/**
 * Most positions a filtered `readAll` scans per call (it then returns `next`).
 *
 * @example
 * ```ts
 * import { MAX_SCAN } from "./state_machine.ts";
 * console.assert(MAX_SCAN >= 10_000);
 * ```
 */
export const MAX_SCAN = 100_000;

function checkCount(v: number | undefined, name: string): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
    throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
  }
}

function checkLimit(limit: number | undefined): number {
  const l = limit ?? 100;
  if (!Number.isSafeInteger(l) || l < 1 || l > MAX_READ_LIMIT) {
    throw new RangeError(`limit must be an integer from 1 to ${MAX_READ_LIMIT}, got ${limit}`);
  }
  return l;
}

/** Options of {@link EventReads}. */
export interface EventReadsOptions {
  /** The index to read through (replaced by {@link EventReads.reset}). */
  readonly index: EventIndex;
  /** Where the events' records are read from. */
  readonly reader: LogReader;
  /** Wall clock for `maxAge`. */
  readonly now: () => number;
}

/** The event store state machine's reads of events. */
export class EventReads {
  #index: EventIndex;
  readonly #reader: LogReader;
  readonly #now: () => number;
  #entryHint = 0;
  /**
   * The window: whole event records of entry `#winEntry` (index in the
   * entry table, -1: none), bytes `[#winFrom, #winFrom + length)` of its
   * command, read together by {@link #records} and decoded by `#cursor`.
   */
  #cursor: EventRecordCursor | undefined;
  #winEntry = -1;
  #winFrom = 0;

  constructor(options: EventReadsOptions) {
    this.#index = options.index;
    this.#reader = options.reader;
    this.#now = options.now;
  }

  /** Reads through `index` from now on (the state was replaced); forgets the window. */
  reset(index: EventIndex): void {
    this.#index = index;
    this.#entryHint = 0;
    this.#dropWindow();
  }

  /** Index in the entry table of the entry holding `position` (remembers the last one). */
  #entryOf(position: number): number {
    const ents = this.#index.entFirst;
    const e = this.#entryHint;
    if (
      e < ents.length && ents.get(e) <= position &&
      (e + 1 === ents.length || ents.get(e + 1) > position)
    ) {
      return e;
    }
    return this.#entryHint = this.#index.entryOf(position);
  }

  /** Whether the window holds the record of `position`. */
  #holds(position: number): boolean {
    const cur = this.#cursor;
    if (cur === undefined || this.#winEntry !== this.#entryOf(position)) return false;
    const off = this.#index.posOffset.get(position);
    return off >= this.#winFrom && off < this.#winFrom + cur.payload.length;
  }

  /**
   * A cursor over a window holding the record of `position`. When the
   * window does not hold it, reads the records of `position` through
   * `until` (either side of it), as far as they are in the same entry, with
   * one read of just their bytes: a run of events costs one small read, and
   * a single event a few hundred bytes, whatever the size of its entry.
   */
  #records(position: number, until: number): EventRecordCursor {
    if (this.#holds(position)) return this.#cursor!;
    const idx = this.#index;
    const e = this.#entryOf(position);
    const lo = idx.entFirst.get(e);
    const hi = e + 1 < idx.entFirst.length ? idx.entFirst.get(e + 1) : idx.positionCount;
    const first = Math.max(lo, Math.min(position, until));
    const last = Math.min(hi - 1, Math.max(position, until));
    const from = idx.posOffset.get(first);
    // Records of an entry are contiguous: one ends where the next starts,
    // and the last at the end of the command.
    const to = last + 1 < hi ? idx.posOffset.get(last + 1) : undefined;
    this.#cursor = undefined; // until the read succeeds
    const bytes = this.#reader.commandSlice(idx.entLog.get(e), from, to);
    this.#winEntry = e;
    this.#winFrom = from;
    return this.#cursor = new EventRecordCursor(bytes);
  }

  /**
   * The event at `position` (which must exist in the index), decoded from
   * the log, reading ahead through position `until` if it must read.
   */
  eventAt(position: number, until: number): RawEvent {
    const idx = this.#index;
    const cursor = this.#records(position, until);
    const payload = cursor.payload;
    const r = cursor.read(idx.posOffset.get(position) - this.#winFrom);
    return {
      id: fromUtf8(payload, r.idStart, r.idStart + r.idLen),
      stream: idx.streamsById[idx.posStream.get(position)]!.name,
      type: idx.types[idx.posType.get(position)]!,
      revision: idx.posRevision.get(position),
      position,
      timestamp: idx.entTime.get(this.#entryOf(position)),
      data: payload.subarray(r.dataStart, r.dataStart + r.dataLen),
      dataIsJson: (r.flags & DATA_JSON) !== 0,
      metadata: payload.subarray(r.metaStart, r.metaStart + r.metaLen),
      metadataIsJson: (r.flags & META_JSON) !== 0,
    };
  }

  /** Drops the window (its bytes may be held by events handed out; the state stops pinning them). */
  #dropWindow(): void {
    this.#cursor = undefined;
    this.#winEntry = -1;
  }

  #readable(name: string, action = "read"): StreamState {
    const s = this.#index.streams.get(name);
    if (s === undefined) throw new StreamNotFoundError(name, action);
    if (s.hardDeleted) throw new StreamDeletedError(name, action);
    if (!s.exists) throw new StreamNotFoundError(name, action);
    return s;
  }

  #cutoff(s: StreamState): number {
    const age = s.metadata?.maxAge;
    return age === undefined ? -Infinity : this.#now() - age * 1000;
  }

  /** {@link EventStoreStateMachine.readStream}. */
  readStream(name: string, options: ReadStreamOptions): RawReadResult {
    checkCount(options.from, "from");
    const limit = checkLimit(options.limit);
    const s = this.#readable(name);
    const lo = s.firstLive, end = s.next, cutoff = this.#cutoff(s);
    const events: RawEvent[] = [];
    const idx = this.#index;
    const forward = (options.direction ?? "forward") === "forward";
    const step = forward ? 1 : -1;
    let r = forward ? Math.max(options.from ?? lo, lo) : Math.min(options.from ?? end - 1, end - 1);
    for (; r >= lo && r < end && events.length < limit; r += step) {
      const p = s.positionOf(r);
      if (cutoff !== -Infinity && idx.timestampOf(p) < cutoff) continue;
      const until = this.#holds(p) ? p : this.#streamRun(s, r, step, limit - events.length);
      events.push(this.eventAt(p, until));
    }
    this.#dropWindow();
    return { events, next: r >= lo && r < end ? r : null };
  }

  /**
   * The last position of the run of up to `n` revisions of `s` from `r` on
   * (in direction `step`) whose positions are consecutive (read together).
   */
  #streamRun(s: StreamState, r: number, step: number, n: number): number {
    const p = s.positionOf(r);
    let k = 1;
    while (k < n) {
      const q = r + step * k;
      if (q < s.firstLive || q >= s.next || s.positionOf(q) !== p + step * k) break;
      k++;
    }
    return p + step * (k - 1);
  }

  /** {@link EventStoreStateMachine.readEvent}. */
  readEvent(name: string, revision: number): RawEvent {
    checkCount(revision, "revision");
    const s = this.#readable(name);
    if (revision < s.firstLive || revision >= s.next) throw new EventNotFoundError(name, revision);
    const p = s.positionOf(revision);
    if (this.#index.timestampOf(p) < this.#cutoff(s)) throw new EventNotFoundError(name, revision);
    return this.eventAt(p, p);
  }

  /** {@link EventStoreStateMachine.readAll}. */
  readAll(options: ReadAllOptions): RawReadResult {
    checkCount(options.from, "from");
    const limit = checkLimit(options.limit);
    const idx = this.#index, end = idx.positionCount;
    let typeIds: Set<number> | undefined;
    if (options.type !== undefined) {
      const names = typeof options.type === "string" ? [options.type] : options.type;
      typeIds = new Set();
      for (const n of names) {
        const id = idx.typeId(n);
        if (id !== undefined) typeIds.add(id);
      }
      if (typeIds.size === 0) return { events: [], next: null };
    }
    const prefix = options.prefix;
    const streamOk = new Map<number, number>(); // stream id -> cutoff, or NaN when filtered out
    const keep = (p: number): boolean => {
      if (typeIds !== undefined && !typeIds.has(idx.posType.get(p))) return false;
      const sid = idx.posStream.get(p);
      let cutoff = streamOk.get(sid);
      if (cutoff === undefined) {
        const s = idx.streamsById[sid]!;
        cutoff = prefix !== undefined && !s.name.startsWith(prefix) ? NaN : this.#cutoff(s);
        streamOk.set(sid, cutoff);
      }
      if (Number.isNaN(cutoff)) return false;
      if (!idx.isAlive(p)) return false;
      const s = idx.streamsById[sid]!;
      if (idx.posRevision.get(p) < s.firstLive) return false;
      return cutoff === -Infinity || idx.timestampOf(p) >= cutoff;
    };
    const events: RawEvent[] = [];
    // Read the records of the events after an event along with it (as far
    // as its entry goes), unless a type filter makes most of them unwanted.
    const ahead = typeIds === undefined;
    let scanned = 0;
    if ((options.direction ?? "forward") === "forward") {
      let p = options.from ?? 0;
      for (; p < end && events.length < limit && scanned < MAX_SCAN; p++, scanned++) {
        if (keep(p)) events.push(this.eventAt(p, ahead ? p + limit - events.length - 1 : p));
      }
      this.#dropWindow();
      return { events, next: p < end ? p : null };
    }
    let p = Math.min(options.from ?? end - 1, end - 1);
    for (; p >= 0 && events.length < limit && scanned < MAX_SCAN; p--, scanned++) {
      if (keep(p)) events.push(this.eventAt(p, ahead ? p - limit + events.length + 1 : p));
    }
    this.#dropWindow();
    return { events, next: p >= 0 ? p : null };
  }

  /** {@link EventStoreStateMachine.listStreams}. */
  listStreams(options: ListStreamsOptions): StreamList {
    checkCount(options.from, "from");
    const limit = checkLimit(options.limit);
    const all = this.#index.streamsById, prefix = options.prefix;
    const streams: { stream: string; revision: number }[] = [];
    let i = options.from ?? 0, scanned = 0;
    for (; i < all.length && streams.length < limit && scanned < MAX_SCAN; i++, scanned++) {
      const s = all[i]!;
      if (!s.exists || (prefix !== undefined && !s.name.startsWith(prefix))) continue;
      streams.push({ stream: s.name, revision: s.next - 1 });
    }
    return { streams, next: i < all.length ? i : null };
  }

  /** Whether the id of the event at `p` is `payload[start, start+len)` (true when unreadable). */
  idEquals(p: number, payload: Uint8Array, start: number, len: number): boolean {
    let stored: Uint8Array;
    let r;
    try {
      const cursor = this.#records(p, p);
      stored = cursor.payload;
      r = cursor.read(this.#index.posOffset.get(p) - this.#winFrom);
    } catch {
      // A live event is always readable (retention keeps it); if it is not,
      // or a removed one was compacted away, trust the 64-bit hash (or the
      // entry it shares with live ones) rather than fail the command.
      return true;
    }
    if (r.idLen !== len) return false;
    for (let i = 0; i < len; i++) {
      if (stored[r.idStart + i] !== payload[start + i]) return false;
    }
    return true;
  }
}
