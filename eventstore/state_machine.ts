/**
 * The event store's Raft state machine: applies committed commands to an
 * index of streams, positions and ids, serves reads by decoding events
 * straight from the Raft log, runs projections, and snapshots.
 *
 * ## Rules it enforces (deterministically, from the log alone)
 *
 * - Commands are applied once, by log index; an index at or below the last
 *   applied one is skipped (after a restart the node replays the tail).
 * - An append writes all its events or none. Revisions count from 0 per
 *   stream without gaps; positions count from 0 globally without gaps, in
 *   commit order. A failed append consumes nothing.
 * - Idempotency: when every event id of an append already exists, as one run
 *   in this stream, the append is a retry: nothing is written and the
 *   original revisions and position are returned. That holds as long as the
 *   events exist (not for a time window); a retry whose first events
 *   retention has removed since (ids gone at the head, the rest in the same
 *   entry) is still the original append. Other partial overlaps, or an id
 *   existing in another stream, are an {@link EventIdConflictError}.
 * - Soft delete hides the stream's events (reads 404) and a later append
 *   continues the numbering; hard delete is a tombstone (reads and appends 410).
 * - Retention (`maxCount`, `maxAge`, `truncateBefore`) applies to reads at
 *   once. As commands are applied it also advances each stream's
 *   `truncatedBefore`, which only moves forward: removed events never come
 *   back, so whether an event exists never depends on when a node compacted.
 *   `maxAge` is judged against log time (the largest proposal timestamp seen)
 *   when applying, and against the wall clock when reading.
 * - An event's timestamp is its proposal's, or log time if that is later (a
 *   leader whose clock was ahead came before): timestamps never decrease in
 *   position order, so retention by age never removes an event while keeping
 *   an older one, and a proposal stamped ahead never makes the events after
 *   it look old.
 *
 * The idempotency index is a hash table of 64-bit id hashes -> position;
 * a hash match is confirmed by comparing the id stored in the log, so a
 * collision costs a read and never merges two events.
 *
 * ## No second copy, snapshots and retention (the design)
 *
 * Event bodies live only in the Raft log. The index maps each position to
 * (log index, byte offset of the record in the command), and reads fetch
 * just the bytes of the records they return (records of one append are
 * contiguous, so a run of them is one read) through the storage's
 * `entrySlice`, never the whole entry an append of many events made; a small
 * cache in {@link LogReader} keeps recently applied commands for live
 * readers. Snapshots hold the index, the id table and the projection
 * checkpoints, never event bodies, so a restart loads the snapshot and
 * replays only the tail after it.
 *
 * So the log must keep every entry that holds a live event. `retainFrom()`
 * answers the lowest log index that must stay: the entry of each stream's
 * first live event, and of the first event after each projection's
 * checkpoint (it is replayed on restore). The node never compacts past it.
 *
 * A follower that installs a snapshot from the leader gets a log that starts
 * after the snapshot index, so it would lack the entries holding live events
 * before it. For that case the snapshot carries an archive section: the data
 * of every event entry from `retainFrom()` up to the snapshot index. A
 * restoring node whose log does not have those entries writes them to its
 * {@link EntryArchive} (a side file in production) and reads events below its
 * log's first index from there; on a local restart, where the log still has
 * them, the section is skipped.
 *
 * Writing the archive into every snapshot would copy the whole store each
 * time, so it is only written when a snapshot can be installed by a
 * follower: once the log has been compacted (first index > 1), or when this
 * snapshot will let it be. While the log was never compacted, followers
 * always catch up from log entries and snapshots stay small. `retainFrom()`
 * therefore keeps the log whole (answers its first index) until compaction
 * would reclaim at least as many entries as it keeps: in a store that keeps
 * its events, the log is the store and snapshots stay index-sized; in a
 * store whose retention drops old events, the log is compacted and snapshots
 * carry the (bounded) retained events. Once compacted, a log stays in that
 * mode: if retention later stops dropping events, snapshots grow with the
 * retained events (the price of serving new followers without a second copy).
 *
 * @module
 */

import { BackupChunks } from "./_backup_chunks.ts";
import type { Storage } from "../raft/core/storage.ts";
import type { AppliedCommand, StateMachine } from "../raft/node.ts";
import { ByteReader, ByteWriter, fromUtf8 } from "./_bytes.ts";
import { EventIndex, type StreamState } from "./_event_index.ts";
import { EventReads } from "./_event_reads.ts";
import { SnapshotSpare } from "./_snapshot_spare.ts";
import { hashBytes, idHash } from "./_id_table.ts";
import { type ArchivedEntry, type EntryArchive, MemoryArchive } from "./archive.ts";
import {
  APPEND,
  decodeCommand,
  DELETE,
  EventRecordCursor,
  ID_RANDOM,
  SET_METADATA,
  validateStreamMetadata,
} from "./commands.ts";
import {
  EventIdConflictError,
  type EventStoreError,
  InvalidEventError,
  isEventStoreError,
  ProjectionNotFoundError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
} from "./errors.ts";
import { matchesExpectedRevision } from "./expected_revision.ts";
import { LogReader, type LogReaderOptions } from "./log_reader.ts";
import {
  type ProjectionCheckpoint,
  type ProjectionDefinition,
  ProjectionRunner,
  readCheckpoint,
  writeCheckpoint,
} from "./projections.ts";
import { type RawEvent, type RawReadResult, toRecordedEvent } from "./raw_event.ts";
import { isValidStreamName } from "./stream_name.ts";
import type {
  AppendResult,
  DeleteResult,
  ListStreamsOptions,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamList,
  StreamMetadata,
} from "./types.ts";

export { MAX_READ_LIMIT, MAX_SCAN } from "./_event_reads.ts";
export { type RawEvent, type RawReadResult, toRecordedEvent } from "./raw_event.ts";

/**
 * The result of a metadata write.
 *
 * @example
 * ```ts
 * import type { MetadataResult } from "./state_machine.ts";
 * const r: MetadataResult = { stream: "s", metadata: { maxCount: 2 } };
 * ```
 */
export interface MetadataResult {
  /** The stream whose metadata was set. */
  readonly stream: string;
  /** Its metadata now. */
  readonly metadata: StreamMetadata;
}

/**
 * What applying one command yields: its result, the error it failed with,
 * or null for a command skipped because it was already applied.
 *
 * @example
 * ```ts
 * import type { CommandResult } from "./state_machine.ts";
 * const r: CommandResult = null;
 * ```
 */
export type CommandResult = AppendResult | DeleteResult | MetadataResult | EventStoreError | null;

/** A raw event for reducers: bodies that are not valid JSON arrive as null. */
function forReducers(raw: RawEvent): RecordedEvent {
  try {
    return toRecordedEvent(raw);
  } catch {
    return toRecordedEvent({
      ...raw,
      data: new Uint8Array(0),
      dataIsJson: true,
      metadata: new Uint8Array(0),
      metadataIsJson: true,
    });
  }
}

/**
 * Options of {@link EventStoreStateMachine}.
 *
 * @example
 * ```ts
 * import type { EventStoreStateMachineOptions } from "./state_machine.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const o: EventStoreStateMachineOptions = { storage: MemoryStorage.withVoters(["n1"]) };
 * ```
 */
export interface EventStoreStateMachineOptions {
  /** The node's log storage; events are read back from it. */
  readonly storage: Storage;
  /** Where entries missing from the log after a snapshot install live. Default in memory. */
  readonly archive?: EntryArchive;
  /** Projections to run from the first command (define them here so a restore finds them). */
  // deno-lint-ignore no-explicit-any
  readonly projections?: readonly ProjectionDefinition<any>[];
  /** Wall clock for `maxAge` on reads. Default `Date.now`. */
  readonly now?: () => number;
  /** Bounds of the cache of recently applied commands (reads are never cached). */
  readonly cache?: LogReaderOptions;
  /**
   * Prepare the next snapshot's buffer while commands apply, once the state
   * is large (over 4 MiB): it holds about a snapshot's size of memory between
   * snapshots, and spares a snapshot a pause of first page touches (about
   * 200 ms per million events). Default true; turn it off where no
   * snapshots are taken periodically (`RaftNode`'s `snapshotEvery: 0`).
   */
  readonly spareSnapshotBuffers?: boolean;
}

const SWEEP_EVERY = 4096;
const MAGIC = 0x53454c52; // "RLES"
const VERSION = 1;

/**
 * The event store state machine. Give it to `RaftNode.start` as
 * `stateMachine` with the same storage; read through it (or through
 * `EventStore`, which adds consistency levels and subscriptions).
 *
 * @example
 * ```ts
 * import { EventStoreStateMachine } from "./state_machine.ts";
 * import { encodeAppend, prepareEvent } from "./commands.ts";
 * import { RaftNode } from "../raft/node.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 *
 * const storage = MemoryStorage.withVoters(["n1"]);
 * const sm = new EventStoreStateMachine({ storage });
 * const node = await RaftNode.start({ id: "n1", storage, stateMachine: sm, transport: { send() {} }, tickMs: 5 });
 * await node.waitForLeader(2000);
 * const result = await node.propose(encodeAppend("orders-1", [prepareEvent({ type: "Placed", data: { n: 1 } })]));
 * console.assert(result !== null && "position" in result && result.position === 0);
 * console.assert(sm.readStream("orders-1").events[0]!.type === "Placed");
 * await node.stop();
 * ```
 */
export class EventStoreStateMachine implements StateMachine<CommandResult> {
  readonly #storage: Storage;
  readonly #reader: LogReader;
  /** Reads of events through the index (replaced with it on restore). */
  readonly #reads: EventReads;
  #index = new EventIndex();
  /** Highest log index applied (commands only). Invariant: never decreases except by restore. */
  #applied = 0;
  /** The next snapshot's buffer, prepared while commands apply. */
  readonly #spare: SnapshotSpare;
  /** Largest proposal timestamp applied: the clock retention runs on while applying. */
  #logTime = 0;
  readonly #projections = new Map<string, ProjectionRunner<unknown>>();
  /** Checkpoints from a snapshot for projections not defined (yet) on this node. */
  #pendingCheckpoints = new Map<string, ProjectionCheckpoint>();
  readonly #listeners = new Set<() => void>();
  readonly #liveness = () => this.#index.liveness();
  /** First log index each backup being read needs kept (see `retainFrom`). */
  readonly #backupPins = new Map<object, number>();
  /** Restores so far: a backup being read fails once its state was replaced. */
  #restores = 0;
  // Scratch for the two passes over an append's records.
  #offs = new Uint32Array(256);
  #h1 = new Uint32Array(256);
  #h2 = new Uint32Array(256);
  #found = new Float64Array(256);

  /** A state machine over the log in `options.storage`. */
  constructor(options: EventStoreStateMachineOptions) {
    this.#storage = options.storage;
    this.#reader = new LogReader(
      options.storage,
      options.archive ?? new MemoryArchive(),
      options.cache ?? {},
    );
    this.#reads = new EventReads({
      index: this.#index,
      reader: this.#reader,
      now: options.now ?? Date.now,
    });
    this.#spare = new SnapshotSpare(options.spareSnapshotBuffers ?? true);
    for (const def of options.projections ?? []) {
      if (this.#projections.has(def.name)) {
        throw new TypeError(`Projection ${def.name} is defined twice`);
      }
      this.#projections.set(def.name, new ProjectionRunner(def));
    }
  }

  /** Highest log index applied. */
  get appliedIndex(): number {
    return this.#applied;
  }

  /** Streams ever written (deleted ones too: their names stay taken). */
  get streamCount(): number {
    return this.#index.streams.size;
  }

  /** Global position of the last event, or -1 when there is none. */
  get lastPosition(): number {
    return this.#index.positionCount - 1;
  }

  /** Calls `listener` after each applied batch and restore; returns a function that removes it. */
  onApplied(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #notify(): void {
    for (const l of this.#listeners) {
      try {
        l();
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  // ---- apply ---------------------------------------------------------------

  /** Applies committed commands in order; one result per command. Never throws for bad input. */
  apply(commands: readonly AppliedCommand[]): CommandResult[] {
    const out: CommandResult[] = new Array(commands.length);
    let changed = false;
    let bytes = 0;
    for (let i = 0; i < commands.length; i++) {
      const c = commands[i]!;
      if (c.index <= this.#applied) {
        out[i] = null;
        continue;
      }
      bytes += c.payload.length;
      if (c.timestamp > this.#logTime) this.#logTime = c.timestamp;
      if (Math.floor(c.index / SWEEP_EVERY) !== Math.floor(this.#applied / SWEEP_EVERY)) {
        this.#sweepMaxAge();
      }
      out[i] = this.#applyOne(c);
      this.#applied = c.index;
      changed = true;
    }
    if (changed) this.#notify();
    this.#spare.applied(this.#index, bytes);
    return out;
  }

  #applyOne(c: AppliedCommand): CommandResult {
    try {
      switch (c.payload[0]) {
        case APPEND:
          return this.#applyAppend(c);
        case DELETE:
          return this.#applyDelete(c);
        case SET_METADATA:
          return this.#applyMetadata(c);
        default:
          return new InvalidEventError(
            `Log entry ${c.index} is not an event store command (kind ${c.payload[0]})`,
          );
      }
    } catch (e) {
      if (isEventStoreError(e)) return e;
      // Only validation (before any change) can throw: the state is untouched.
      return new InvalidEventError(
        `Log entry ${c.index} is not a valid event store command: ${
          e instanceof Error ? e.message : String(e)
        }`,
      );
    }
  }

  #grow(n: number): void {
    if (this.#offs.length >= n) return;
    let size = this.#offs.length;
    while (size < n) size *= 2;
    this.#offs = new Uint32Array(size);
    this.#h1 = new Uint32Array(size);
    this.#h2 = new Uint32Array(size);
    this.#found = new Float64Array(size);
  }

  #applyAppend(c: AppliedCommand): CommandResult {
    const payload = c.payload;
    const cur = new EventRecordCursor(payload);
    const h = cur.header();
    const name = h.stream;
    if (!isValidStreamName(name)) {
      return new InvalidEventError(`Log entry ${c.index} appends to an invalid stream name`);
    }
    const count = h.count;
    if (count === 0) return new InvalidEventError(`An append to ${name} has no events`);
    // Pass 1: validate every record and hash its id; nothing changes yet.
    this.#grow(count);
    const offs = this.#offs, h1 = this.#h1, h2 = this.#h2, found = this.#found;
    let off = h.firstRecord;
    for (let k = 0; k < count; k++) {
      const r = cur.read(off);
      if (r.idLen === 0 || r.typeLen === 0) {
        return new InvalidEventError(`Event ${k} of an append to ${name} has no id or no type`);
      }
      offs[k] = off;
      hashBytes(payload, r.idStart, r.idLen);
      h1[k] = idHash.h1;
      h2[k] = idHash.h2;
      off = r.end;
    }
    if (off !== payload.length) {
      return new InvalidEventError(`An append to ${name} has trailing bytes`);
    }
    const idx = this.#index;
    const existing = idx.streams.get(name);
    if (existing?.hardDeleted) return new StreamDeletedError(name);

    let nFound = 0;
    for (let k = 0; k < count; k++) {
      const r = cur.read(offs[k]!);
      // An id the proposing node drew at random is new (see ID_RANDOM): no lookup.
      const p = (r.flags & ID_RANDOM) !== 0
        ? -1
        : this.#findId(payload, r.idStart, r.idLen, h1[k]!, h2[k]!);
      found[k] = p;
      if (p >= 0) nFound++;
    }
    if (nFound > 0) return this.#replay(name, existing, cur, count);

    const current = existing === undefined ? "no_stream" : existing.currentRevision();
    if (!matchesExpectedRevision(h.expected, current)) {
      return new WrongExpectedRevisionError(name, h.expected, current);
    }

    // Pass 2: write. Nothing below throws for any input that passed pass 1.
    const s = existing ?? idx.stream(name);
    const first = idx.positionCount;
    const firstRevision = s.next;
    idx.entLog.push(c.index);
    idx.entFirst.push(first);
    idx.entTime.push(this.#logTime);
    for (let k = 0; k < count; k++) {
      const r = cur.read(offs[k]!);
      const pos = idx.positionCount;
      idx.posStream.push(s.id);
      idx.posType.push(idx.internType(payload, r.typeStart, r.typeLen));
      idx.posRevision.push(s.next);
      idx.posOffset.push(offs[k]!);
      s.push(pos);
      idx.ids.insert(h1[k]!, h2[k]!, pos, this.#liveness);
    }
    this.#reader.remember(c.index, { payload, timestamp: c.timestamp });
    this.#fold(s);
    if (this.#projections.size > 0) this.#project(first, count);
    return {
      stream: name,
      firstRevision,
      lastRevision: s.next - 1,
      position: idx.positionCount - 1,
      replayed: false,
    };
  }

  /**
   * Some of the append's ids exist: a retry of an earlier append, or a
   * conflict. Retention may have removed the first events of the original
   * append since (a `maxCount` smaller than the batch removes them at once):
   * a retry whose leading ids are gone is still the original append when the
   * ids that remain follow them in the same log entry and the gone ones sit
   * just before, removed; where the log still holds them their ids must match.
   */
  #replay(
    name: string,
    s: StreamState | undefined,
    cur: EventRecordCursor,
    count: number,
  ): CommandResult {
    const idx = this.#index, found = this.#found;
    const idOf = (k: number) => {
      const r = cur.read(this.#offs[k]!);
      return fromUtf8(cur.payload, r.idStart, r.idStart + r.idLen);
    };
    let gone = 0;
    while (found[gone]! < 0) gone++;
    for (let k = gone; k < count; k++) {
      const p = found[k]!;
      if (p < 0) {
        const known = [...Array(count).keys()].filter((i) => found[i]! >= 0).slice(0, 3);
        return new EventIdConflictError(
          name,
          `event ids ${known.map(idOf).join(", ")} already exist but ${
            idOf(k)
          } does not; only a retry of the whole original append is idempotent`,
        );
      }
      const other = idx.streamsById[idx.posStream.get(p)]!;
      if (s === undefined || other.id !== s.id) {
        return new EventIdConflictError(
          name,
          `event id ${idOf(k)} already exists in stream ${other.name}`,
        );
      }
    }
    const p0 = found[gone]!;
    const rev0 = idx.posRevision.get(p0) - gone;
    for (let k = gone + 1; k < count; k++) {
      if (idx.posRevision.get(found[k]!) !== rev0 + k) {
        return new EventIdConflictError(
          name,
          `event ids ${idOf(0)}..${
            idOf(count - 1)
          } already exist but not as one run in this order; only a retry of the whole original append is idempotent`,
        );
      }
    }
    if (gone > 0 && !this.#removedHead(p0, gone, cur)) {
      return new EventIdConflictError(
        name,
        `event ids ${idOf(gone)}.. already exist but ${
          idOf(gone - 1)
        } does not; only a retry of the whole original append is idempotent`,
      );
    }
    return {
      stream: name,
      firstRevision: rev0,
      lastRevision: rev0 + count - 1,
      position: found[count - 1]!,
      replayed: true,
    };
  }

  /**
   * True when the `gone` positions before `p0` were written in the same log
   * entry as `p0`, are removed, and (where the log still has them) carry the
   * append's first `gone` ids.
   */
  #removedHead(p0: number, gone: number, cur: EventRecordCursor): boolean {
    const idx = this.#index;
    const first = p0 - gone;
    if (first < 0 || idx.entryOf(first) !== idx.entryOf(p0)) return false;
    for (let k = 0; k < gone; k++) {
      const p = first + k;
      if (idx.isAlive(p)) return false;
      const r = cur.read(this.#offs[k]!);
      if (!this.#reads.idEquals(p, cur.payload, r.idStart, r.idLen)) return false;
    }
    return true;
  }

  /** Position of the live event whose id is `payload[start, start+len)`, or -1. */
  #findId(payload: Uint8Array, start: number, len: number, h1: number, h2: number): number {
    const idx = this.#index, ids = idx.ids;
    for (let slot = ids.next(h1, h2, -1); slot >= 0; slot = ids.next(h1, h2, slot)) {
      const p = ids.positionAt(slot);
      if (!idx.isAlive(p)) continue;
      if (this.#reads.idEquals(p, payload, start, len)) return p;
    }
    return -1;
  }

  #applyDelete(c: AppliedCommand): CommandResult {
    const cmd = decodeCommand(c.payload);
    if (cmd.kind !== "delete") throw new RangeError("not a delete");
    const name = cmd.stream;
    if (!isValidStreamName(name)) return new InvalidEventError(`Invalid stream name ${name}`);
    const idx = this.#index;
    const existing = idx.streams.get(name);
    if (existing?.hardDeleted) return new StreamDeletedError(name, "delete");
    const current = existing === undefined ? "no_stream" : existing.currentRevision();
    if (!matchesExpectedRevision(cmd.expectedRevision, current)) {
      return new WrongExpectedRevisionError(name, cmd.expectedRevision, current, {
        action: "delete",
      });
    }
    if (!cmd.hard) {
      if (existing === undefined || current === "no_stream") {
        return new StreamNotFoundError(name, "delete");
      }
      existing.softDeletedAt = existing.next;
      existing.truncatedBefore = Math.max(existing.truncatedBefore, existing.next);
      existing.compact();
      return { stream: name, hard: false };
    }
    const s = existing ?? idx.stream(name);
    s.hardDeleted = true;
    s.truncatedBefore = Math.max(s.truncatedBefore, s.next);
    s.metadata = undefined;
    idx.maxAgeStreams.delete(s.id);
    s.compact();
    return { stream: name, hard: true };
  }

  #applyMetadata(c: AppliedCommand): CommandResult {
    const cmd = decodeCommand(c.payload);
    if (cmd.kind !== "metadata") throw new RangeError("not a metadata write");
    const name = cmd.stream;
    if (!isValidStreamName(name)) return new InvalidEventError(`Invalid stream name ${name}`);
    try {
      validateStreamMetadata(cmd.metadata);
    } catch (e) {
      return new InvalidEventError(
        `Invalid metadata for stream ${name}: ${e instanceof Error ? e.message : e}`,
      );
    }
    const idx = this.#index;
    const existing = idx.streams.get(name);
    if (existing?.hardDeleted) return new StreamDeletedError(name, "set metadata of");
    const s = existing ?? idx.stream(name);
    s.metadata = cmd.metadata;
    if (cmd.metadata.maxAge !== undefined) idx.maxAgeStreams.add(s.id);
    else idx.maxAgeStreams.delete(s.id);
    this.#fold(s);
    // Copies out: a caller changing its answer must not change the stored metadata.
    return { stream: name, metadata: structuredClone(cmd.metadata) };
  }

  /** Advances `truncatedBefore` by the stream's retention rules (log time for maxAge). */
  #fold(s: StreamState): void {
    const m = s.metadata;
    if (m === undefined) return;
    let tb = s.truncatedBefore;
    if (m.truncateBefore !== undefined && m.truncateBefore > tb) tb = m.truncateBefore;
    if (m.maxCount !== undefined && s.next - m.maxCount > tb) tb = s.next - m.maxCount;
    if (m.maxAge !== undefined) {
      const cutoff = this.#logTime - m.maxAge * 1000;
      let r = Math.max(tb, s.base);
      while (r < s.next && this.#index.timestampOf(s.positionOf(r)) < cutoff) r++;
      if (r > tb) tb = r;
    }
    if (tb > s.truncatedBefore) {
      s.truncatedBefore = tb;
      s.compact();
    }
  }

  #sweepMaxAge(): void {
    for (const id of this.#index.maxAgeStreams) this.#fold(this.#index.streamsById[id]!);
  }

  #project(first: number, count: number): void {
    for (let k = 0; k < count; k++) {
      const event = forReducers(this.#reads.eventAt(first + k, first + count - 1));
      for (const p of this.#projections.values()) p.handle(event);
    }
  }

  // ---- reads ---------------------------------------------------------------

  /** The event at `position` (which must exist in the index), decoded from the log. */
  eventAt(position: number): RawEvent {
    return this.#reads.eventAt(position, position);
  }

  /**
   * Reads a stream. Throws {@link StreamNotFoundError} (404) or
   * {@link StreamDeletedError} (410).
   */
  readStream(name: string, options: ReadStreamOptions = {}): RawReadResult {
    return this.#reads.readStream(name, options);
  }

  /** One event. Throws {@link EventNotFoundError} when that revision is not readable. */
  readEvent(name: string, revision: number): RawEvent {
    return this.#reads.readEvent(name, revision);
  }

  /**
   * Reads all streams in position order, skipping deleted and expired events.
   * Scans at most {@link MAX_SCAN} positions per call; `next` says where to go on.
   */
  readAll(options: ReadAllOptions = {}): RawReadResult {
    return this.#reads.readAll(options);
  }

  /**
   * The streams that exist, in the order they were created, with their last
   * revisions. Scans at most {@link MAX_SCAN} streams per call; `next` says
   * where to go on.
   */
  listStreams(options: ListStreamsOptions = {}): StreamList {
    return this.#reads.listStreams(options);
  }

  /**
   * The stream's metadata ({} when it has none or does not exist). Throws
   * {@link StreamDeletedError} for a hard-deleted stream.
   */
  getMetadata(name: string): StreamMetadata {
    const s = this.#index.streams.get(name);
    if (s?.hardDeleted) throw new StreamDeletedError(name, "read metadata of");
    return s?.metadata === undefined ? {} : structuredClone(s.metadata);
  }

  /** Where a stream stands, or undefined when it was never written to. */
  streamInfo(
    name: string,
  ): { exists: boolean; deleted: "soft" | "hard" | false; lastRevision: number } | undefined {
    const s = this.#index.streams.get(name);
    if (s === undefined) return undefined;
    return {
      exists: s.exists,
      deleted: s.hardDeleted ? "hard" : s.softDeletedAt >= 0 && !s.exists ? "soft" : false,
      lastRevision: s.next - 1,
    };
  }

  /**
   * The first revision of `stream` written after global position `position`
   * (where a stream subscription resumes after `Last-Event-ID`); 0 for an
   * unknown stream.
   */
  revisionAfterPosition(stream: string, position: number): number {
    const s = this.#index.streams.get(stream);
    return s === undefined ? 0 : s.revisionAfter(position);
  }

  /**
   * What the index knows about a position, without reading the log: its
   * stream, revision, and whether the event still exists. Undefined past the end.
   */
  positionInfo(
    position: number,
  ): { stream: string; revision: number; alive: boolean } | undefined {
    const idx = this.#index;
    if (!Number.isSafeInteger(position) || position < 0 || position >= idx.positionCount) {
      return undefined;
    }
    return {
      stream: idx.streamsById[idx.posStream.get(position)]!.name,
      revision: idx.posRevision.get(position),
      alive: idx.isAlive(position),
    };
  }

  /** Revision of the event at `position` if it belongs to `stream`, else undefined. */
  revisionAt(position: number, stream: string): number | undefined {
    const idx = this.#index;
    if (position < 0 || position >= idx.positionCount) return undefined;
    const s = idx.streamsById[idx.posStream.get(position)]!;
    return s.name === stream ? idx.posRevision.get(position) : undefined;
  }

  // ---- projections -------------------------------------------------------

  /**
   * Adds a projection on a running store: it starts from a checkpoint a
   * restored snapshot had for this name, or from scratch, and catches up by
   * reading the retained log. Define projections in the constructor instead
   * when every node must agree on events that retention removed since.
   */
  defineProjection<S>(def: ProjectionDefinition<S>): void {
    if (this.#projections.has(def.name)) {
      throw new TypeError(`Projection ${def.name} is already defined`);
    }
    const runner = new ProjectionRunner(def) as ProjectionRunner<unknown>;
    const cp = this.#pendingCheckpoints.get(def.name);
    if (cp !== undefined) {
      runner.restore(cp);
      this.#pendingCheckpoints.delete(def.name);
    }
    this.#catchUp(runner);
    this.#projections.set(def.name, runner);
  }

  /** The runner of projection `name`. Throws {@link ProjectionNotFoundError}. */
  projection(name: string): ProjectionRunner<unknown> {
    const p = this.#projections.get(name);
    if (p === undefined) throw new ProjectionNotFoundError(name);
    return p;
  }

  #catchUp(runner: ProjectionRunner<unknown>): void {
    const end = this.#index.positionCount;
    for (let p = runner.position + 1; p < end; p++) {
      let raw: RawEvent;
      try {
        raw = this.#reads.eventAt(p, end - 1);
      } catch {
        continue; // compacted away: retention removed it before this projection existed
      }
      runner.handle(forReducers(raw));
    }
  }

  // ---- snapshots and retention ---------------------------------------------

  /** Lowest log index holding an event that must stay readable, or Infinity. */
  #neededFrom(): number {
    const idx = this.#index;
    let min = Infinity;
    for (const s of idx.streamsById) {
      if (s.hardDeleted) continue;
      const f = Math.max(s.truncatedBefore, s.base);
      if (f >= s.next) continue;
      const li = idx.logIndexOf(s.positionOf(f));
      if (li < min) min = li;
    }
    const cps: number[] = [];
    for (const p of this.#projections.values()) cps.push(p.checkpointPosition);
    for (const cp of this.#pendingCheckpoints.values()) cps.push(cp.position);
    for (const cp of cps) {
      if (cp + 1 < idx.positionCount) {
        const li = idx.logIndexOf(cp + 1);
        if (li < min) min = li;
      }
    }
    return min;
  }

  /** Lowest log index the node must keep (see the module comment for the policy). */
  retainFrom(): number {
    let needed = Math.min(this.#neededFrom(), this.#applied + 1);
    // Backups being read need their entries until they are done.
    for (const pin of this.#backupPins.values()) needed = Math.min(needed, pin);
    const first = this.#storage.firstIndex();
    // Never compacted: keep it that way until compaction would free at least
    // as many entries as it keeps (else every snapshot would carry them all).
    if (first <= 1 && needed - first < this.#applied - needed + 1) return first;
    return needed;
  }

  /** Serializes the index, id table, projection checkpoints and, when needed, the archive. */
  snapshot(): Uint8Array {
    const idx = this.#index;
    const into = this.#spare.take(idx);
    const first = this.#storage.firstIndex();
    const out = this.#serialize(into, first > 1 || this.retainFrom() > first);
    this.#spare.taken(out, typeof into !== "number" && out.buffer === into.buffer);
    return out;
  }

  /**
   * A snapshot that always carries the archive section (every entry holding a
   * live event), for a backup: a node whose log starts after it, as in a
   * cluster restored from the backup, reads every event from it. The index
   * is serialized at once (into fresh memory: the snapshot buffers are left
   * alone); the entries are read from the log as the chunks are, and the log
   * is kept from the first of them until the last chunk was read or the
   * reader gave up (`return()`).
   */
  backup(): AsyncIterableIterator<Uint8Array> {
    const w = new ByteWriter(1 << 16);
    this.#writeState(w);
    const indexes = this.#archivedIndexes();
    w.u8(1);
    w.u32(indexes.length);
    const pin = {};
    this.#backupPins.set(pin, indexes[0] ?? this.#applied + 1);
    const restores = this.#restores;
    return new BackupChunks(w.finish(), indexes, {
      rawEntry: (index) => this.#reader.rawEntry(index),
      replaced: () => this.#restores !== restores,
      release: () => this.#backupPins.delete(pin),
    });
  }

  /** Log indexes of the entries that hold live events (the archive section's). */
  #archivedIndexes(): number[] {
    const entLog = this.#index.entLog;
    const from = Math.min(this.#neededFrom(), this.#applied + 1);
    const out: number[] = [];
    for (let e = Math.max(0, entLog.floorIndex(from - 1) + 1); e < entLog.length; e++) {
      out.push(entLog.get(e));
    }
    return out;
  }

  /** Everything a snapshot holds before its archive section. */
  #writeState(w: ByteWriter): void {
    const idx = this.#index;
    w.u32(MAGIC);
    w.u32(VERSION);
    w.f64(this.#applied);
    w.f64(this.#logTime);
    idx.write(w);
    const cps: ProjectionCheckpoint[] = [...this.#pendingCheckpoints.values()];
    for (const p of this.#projections.values()) cps.push(p.snapshotCheckpoint());
    w.u32(cps.length);
    for (const cp of cps) writeCheckpoint(w, cp);
  }

  #serialize(into: Uint8Array | number, archive: boolean): Uint8Array {
    const w = new ByteWriter(into);
    this.#writeState(w);
    if (archive) {
      const list: ArchivedEntry[] = this.#archivedIndexes().map((li) => ({
        index: li,
        data: this.#reader.rawEntry(li),
      }));
      w.u8(1);
      w.u32(list.length);
      for (const a of list) {
        w.f64(a.index);
        w.bytes(a.data);
      }
    } else {
      w.u8(0);
    }
    return w.finish();
  }

  /**
   * The node is done with a snapshot's buffer (on disk, held by nothing):
   * the next snapshot may be written into it (see `StateMachine.snapshotReleased`).
   */
  snapshotReleased(data: Uint8Array): void {
    this.#spare.released(data);
  }

  /** Replaces the state with a snapshot's (see the module comment about the archive). */
  restore(data: Uint8Array): void {
    this.#restores++;
    this.#spare.restored();
    if (data.length === 0) {
      this.#reset();
      return;
    }
    const r = new ByteReader(data);
    if (r.u32() !== MAGIC) {
      throw new RangeError(
        "Snapshot is not an event store snapshot: it holds another application's state (raftlog serve --app)",
      );
    }
    const version = r.u32();
    if (version !== VERSION) {
      throw new RangeError(`Unknown event store snapshot version ${version}`);
    }
    const applied = r.f64();
    const logTime = r.f64();
    const index = EventIndex.read(r);
    const n = r.u32();
    const cps = new Map<string, ProjectionCheckpoint>();
    for (let i = 0; i < n; i++) {
      const cp = readCheckpoint(r);
      cps.set(cp.name, cp);
    }
    if (r.u8() === 1) {
      // Entries holding live events up to the snapshot index. Those below
      // this node's log go to the archive unless it already has them (a
      // local restart of a node that installed this snapshot earlier).
      const count = r.u32();
      const first = this.#storage.firstIndex();
      const archive = this.#reader.archive;
      const below: ArchivedEntry[] = [];
      let missing = false;
      for (let i = 0; i < count; i++) {
        const index = r.f64();
        const bytes = r.bytes();
        if (index >= first) continue;
        below.push({ index, data: bytes });
        if (!missing && !archive.has(index)) missing = true;
      }
      if (missing) archive.replace(below);
    }
    this.#index = index;
    this.#applied = applied;
    this.#logTime = logTime;
    this.#reads.reset(this.#index);
    this.#reader.clear();
    this.#pendingCheckpoints = new Map();
    for (const [name, cp] of cps) {
      const runner = this.#projections.get(name);
      if (runner === undefined) this.#pendingCheckpoints.set(name, cp);
      else runner.restore(cp);
    }
    for (const runner of this.#projections.values()) {
      if (!cps.has(runner.name)) runner.reset();
      this.#catchUp(runner);
    }
    this.#notify();
  }

  #reset(): void {
    this.#index = new EventIndex();
    this.#applied = 0;
    this.#logTime = 0;
    this.#reads.reset(this.#index);
    this.#reader.clear();
    this.#pendingCheckpoints = new Map();
    for (const runner of this.#projections.values()) runner.reset();
    this.#notify();
  }
}
