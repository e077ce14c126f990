/**
 * The event store API over a running Raft node: appends with expected
 * revisions, reads at a chosen consistency, subscriptions and projections.
 *
 * @module
 */

import { type Clock, systemClock } from "../raft/clock.ts";
import { NotLeaderError } from "../raft/core/errors.ts";
import { type NodeOptions, RaftNode, snapshotsArePeriodic } from "../raft/node.ts";
import { TimeoutError } from "../raft/node_errors.ts";
import type { EntryArchive } from "./archive.ts";
import {
  type AppendLimits,
  encodeAppendEventsView,
  encodeDelete,
  encodeSetMetadata,
} from "./commands.ts";
import { ProjectionNotFoundError, StorageQuotaError } from "./errors.ts";
import { validateExpectedRevision } from "./expected_revision.ts";
import type { LogReaderOptions } from "./log_reader.ts";
import type { ProjectionDefinition } from "./projections.ts";
import {
  type CommandResult,
  EventStoreStateMachine,
  type MetadataResult,
  type RawEvent,
  type RawReadResult,
  toRecordedEvent,
} from "./state_machine.ts";
import { validateStreamName } from "./stream_name.ts";
import {
  type RawSubscriptionItem,
  type RawSubscriptionPage,
  type SubscribeOptions,
  subscribePages,
  subscribeRaw,
} from "./subscription.ts";
import type {
  AppendResult,
  DeleteResult,
  EventData,
  ExpectedRevision,
  ListStreamsOptions,
  ReadAllOptions,
  ReadConsistencyOptions,
  ReadResult,
  ReadStreamOptions,
  RecordedEvent,
  StreamList,
  StreamMetadata,
} from "./types.ts";

/**
 * An item of a subscription: an event, or the marker that the history is
 * done and what follows is live.
 *
 * @example
 * ```ts
 * import type { SubscriptionItem } from "./event_store.ts";
 * function describe(item: SubscriptionItem): string {
 *   return item.kind === "event" ? item.event.type : `live after ${item.position}`;
 * }
 * ```
 */
export type SubscriptionItem =
  | { readonly kind: "event"; readonly event: RecordedEvent }
  | { readonly kind: "caught-up"; readonly position: number };

/**
 * A projection's state as read. For a keyed projection read without a key,
 * `state` is undefined and `keys` counts the keys.
 *
 * @example
 * ```ts
 * import type { ProjectionView } from "./event_store.ts";
 * const v: ProjectionView<number> = { name: "count", position: 9, state: 10 };
 * ```
 */
export interface ProjectionView<S> {
  /** The projection's name. */
  readonly name: string;
  /** The key whose state this is, for a per-key projection read by key. */
  readonly key?: string;
  /** Last global position the state includes, or -1. */
  readonly position: number;
  /** The state (the whole state, or the key's); undefined when the key has none. */
  readonly state: S | undefined;
  /** For a per-key projection read without a key: how many keys have state. */
  readonly keys?: number;
  /** Set when a reducer threw: the projection stopped there. */
  readonly error?: string;
}

/**
 * Options of {@link EventStore}.
 *
 * @example
 * ```ts
 * import type { EventStoreOptions } from "./event_store.ts";
 * const o: EventStoreOptions = { appendLimits: { maxBytes: 1 << 20 }, requestTimeoutMs: 5000 };
 * ```
 */
export interface EventStoreOptions {
  /** Most events and bytes per append. Default 10,000 events and 4 MiB. */
  readonly appendLimits?: AppendLimits;
  /** Default timeout of appends, read barriers and `minPosition` waits. Default 10,000 ms. */
  readonly requestTimeoutMs?: number;
  /** Time source for timeouts. Default the system clock. */
  readonly clock?: Clock;
  /**
   * Appends are refused (`StorageQuotaError`, HTTP 507) while `used()` bytes
   * are at or over `bytes`: the node stops growing its disk before the disk
   * is full. Deletes and metadata changes still go through. Default: none.
   */
  readonly storageQuota?: StorageQuota;
}

function checkQuota(quota: StorageQuota | undefined): StorageQuota | undefined {
  if (quota !== undefined && (!Number.isSafeInteger(quota.bytes) || quota.bytes < 1)) {
    throw new RangeError(`storageQuota.bytes must be a positive integer, got ${quota.bytes}`);
  }
  return quota;
}

/** A storage quota (see {@link EventStoreOptions.storageQuota}). */
export interface StorageQuota {
  /** The most bytes the store may hold on disk. */
  readonly bytes: number;
  /** Bytes it holds now (called on each append: keep it cheap). */
  readonly used: () => number;
}

/**
 * Options of {@link EventStore.start}: the node's options (without the
 * state machine) and the event store's.
 *
 * @example
 * ```ts
 * import type { EventStoreStartOptions } from "./event_store.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const o: EventStoreStartOptions = { id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} } };
 * ```
 */
export interface EventStoreStartOptions
  extends Omit<NodeOptions<CommandResult>, "stateMachine">, EventStoreOptions {
  /** Projections to run from the first command (defined here, a restore finds them). */
  // deno-lint-ignore no-explicit-any
  readonly projections?: readonly ProjectionDefinition<any>[];
  /** Where entries a snapshot install removed from the log are kept. Default in memory. */
  readonly archive?: EntryArchive;
  /** Bounds of the cache of recently applied commands (reads are never cached). */
  readonly cache?: LogReaderOptions;
}

/**
 * Options of {@link EventStore.append}.
 *
 * @example
 * ```ts
 * import type { AppendOptions } from "./event_store.ts";
 * const o: AppendOptions = { expectedRevision: "no_stream", timeoutMs: 2000 };
 * ```
 */
export interface AppendOptions {
  /** Default `any`. */
  readonly expectedRevision?: ExpectedRevision;
  /** How long to wait for the append to commit. Default the store's `requestTimeoutMs`. */
  readonly timeoutMs?: number;
}

/**
 * Options of {@link EventStore.deleteStream}.
 *
 * @example
 * ```ts
 * import type { DeleteOptions } from "./event_store.ts";
 * const o: DeleteOptions = { hard: true, expectedRevision: 3 };
 * ```
 */
export interface DeleteOptions {
  /** Tombstone the stream for good (410 forever). Default false (soft delete). */
  readonly hard?: boolean;
  /** Where the stream must be for the delete to happen. Default `any`. */
  readonly expectedRevision?: ExpectedRevision;
  /** How long to wait for the delete to commit. Default the store's `requestTimeoutMs`. */
  readonly timeoutMs?: number;
}

function unwrap<T>(r: CommandResult): T {
  if (r instanceof Error) throw r;
  if (r === null) throw new Error("The command was applied before (a replay); its result is gone");
  return r as T;
}

/**
 * An event store on a Raft node.
 *
 * @example
 * ```ts
 * import { EventStore } from "./event_store.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 *
 * const store = await EventStore.start({
 *   id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} }, tickMs: 5,
 * });
 * await store.node.waitForLeader(2000);
 * const r = await store.append("orders-1", [{ type: "Placed", data: { total: 5 } }], { expectedRevision: "no_stream" });
 * const { events } = await store.read("orders-1");
 * console.assert(r.lastRevision === 0 && events[0]!.data !== null);
 * await store.stop();
 * ```
 */
export class EventStore {
  /** The Raft node the store runs on. */
  readonly node: RaftNode<CommandResult>;
  /** The state machine the node applies commands to. */
  readonly stateMachine: EventStoreStateMachine;
  readonly #limits: AppendLimits;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #quota: StorageQuota | undefined;
  readonly #closed = new AbortController();

  /** A store on a started `node` whose state machine is `stateMachine` (see {@link EventStore.start}). */
  constructor(
    node: RaftNode<CommandResult>,
    stateMachine: EventStoreStateMachine,
    options: EventStoreOptions = {},
  ) {
    this.node = node;
    this.stateMachine = stateMachine;
    this.#limits = options.appendLimits ?? {};
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#clock = options.clock ?? systemClock;
    this.#quota = checkQuota(options.storageQuota);
    node.on("stopped", () => this.#closed.abort());
    if (node.stopped) this.#closed.abort();
  }

  /** Creates the state machine, starts a node with it, and wraps both. */
  static async start(options: EventStoreStartOptions): Promise<EventStore> {
    checkQuota(options.storageQuota); // before a node runs that nothing would stop
    const sm = new EventStoreStateMachine({
      storage: options.storage,
      ...(options.archive !== undefined ? { archive: options.archive } : {}),
      ...(options.projections !== undefined ? { projections: options.projections } : {}),
      ...(options.cache !== undefined ? { cache: options.cache } : {}),
      // Spare snapshot buffers pay off only where snapshots come periodically.
      spareSnapshotBuffers: snapshotsArePeriodic(options.snapshotEvery),
    });
    const node = await RaftNode.start<CommandResult>({ ...options, stateMachine: sm });
    return new EventStore(node, sm, options);
  }

  /** Ends subscriptions and stops the node. */
  async stop(): Promise<void> {
    this.#closed.abort();
    await this.node.stop();
  }

  /** A signal aborted when the store stops. */
  get closed(): AbortSignal {
    return this.#closed.signal;
  }

  /**
   * Appends one or more events to a stream, atomically, once the expected
   * revision holds. Rejects with `WrongExpectedRevisionError`,
   * `StreamDeletedError`, `EventIdConflictError`, `InvalidEventError`,
   * `AppendTooLargeError`, or the node's errors (`NotLeaderError`, ...).
   * Retrying with the same event ids is safe: it returns the original result.
   */
  async append(
    stream: string,
    events: EventData | readonly EventData[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    validateStreamName(stream);
    const expectedRevision = options.expectedRevision ?? "any";
    validateExpectedRevision(expectedRevision);
    const quota = this.#quota;
    if (quota !== undefined) {
      const used = quota.used();
      if (used >= quota.bytes) throw new StorageQuotaError(used, quota.bytes);
    }
    const list: readonly EventData[] = Array.isArray(events) ? events : [events as EventData];
    // propose copies the bytes before it returns, so a view of the encoder's buffer will do.
    const payload = encodeAppendEventsView(stream, list, { ...this.#limits, expectedRevision });
    const r = await this.node.propose(payload, { timeoutMs: options.timeoutMs ?? this.#timeoutMs });
    return unwrap<AppendResult>(r);
  }

  /** Soft-deletes (or with `hard`, tombstones) a stream. */
  async deleteStream(stream: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    const expectedRevision = options.expectedRevision ?? "any";
    validateExpectedRevision(expectedRevision);
    const payload = encodeDelete(stream, { hard: options.hard ?? false, expectedRevision });
    const r = await this.node.propose(payload, { timeoutMs: options.timeoutMs ?? this.#timeoutMs });
    return unwrap<DeleteResult>(r);
  }

  /** Replaces a stream's metadata (retention rules take effect at once). */
  async setMetadata(
    stream: string,
    metadata: StreamMetadata,
    options: { timeoutMs?: number } = {},
  ): Promise<StreamMetadata> {
    const payload = encodeSetMetadata(stream, metadata);
    const r = await this.node.propose(payload, { timeoutMs: options.timeoutMs ?? this.#timeoutMs });
    return unwrap<MetadataResult>(r).metadata;
  }

  /** A stream's metadata ({} when none). */
  async getMetadata(stream: string, options: ReadConsistencyOptions = {}): Promise<StreamMetadata> {
    validateStreamName(stream);
    await this.readBarrier(options);
    return this.#read(() => this.stateMachine.getMetadata(stream));
  }

  /**
   * Waits until a read with these options may be served from this node:
   * `leader` throws `NotLeaderError` on a follower, `linearizable` runs a
   * read-index round, `minPosition` waits until that position is applied.
   */
  async readBarrier(options: ReadConsistencyOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const c = options.consistency ?? "local";
    if (c === "leader") {
      if (this.node.role !== "leader") {
        const leader = this.node.leader;
        const url = leader === "" ? undefined : this.node.peerUrl(leader);
        throw new NotLeaderError(this.node.id, leader, url === undefined ? {} : { url });
      }
    } else if (c === "linearizable") {
      await this.node.readIndex({ timeoutMs });
    } else if (c !== "local") {
      throw new TypeError(`consistency must be local, leader or linearizable, got ${c}`);
    }
    if (options.minPosition !== undefined) {
      await this.waitForPosition(options.minPosition, { timeoutMs });
    }
  }

  /** Resolves once this node has applied the event at global position `position`. */
  waitForPosition(position: number, options: { timeoutMs?: number } = {}): Promise<void> {
    if (!Number.isSafeInteger(position) || position < 0) {
      return Promise.reject(
        new RangeError(`minPosition must be a non-negative integer, got ${position}`),
      );
    }
    const sm = this.stateMachine;
    if (sm.lastPosition >= position) return Promise.resolve();
    const ms = options.timeoutMs ?? this.#timeoutMs;
    return new Promise<void>((resolve, reject) => {
      const finish = (err?: unknown) => {
        off();
        cancel();
        this.#closed.signal.removeEventListener("abort", onClose);
        if (err === undefined) resolve();
        else reject(err);
      };
      const off = sm.onApplied(() => {
        if (sm.lastPosition >= position) finish();
      });
      const cancel = this.#clock.after(
        ms,
        () => finish(new TimeoutError(`waiting for position ${position} to be applied`, ms)),
      );
      const onClose = () => finish(new TimeoutError(`waiting for position ${position}`, 0));
      this.#closed.signal.addEventListener("abort", onClose, { once: true });
    });
  }

  /** Reads a stream (raw bodies); see {@link EventStore.read}. */
  async readRaw(
    stream: string,
    options: ReadStreamOptions & ReadConsistencyOptions = {},
  ): Promise<RawReadResult> {
    validateStreamName(stream);
    await this.readBarrier(options);
    return this.#read(() => this.stateMachine.readStream(stream, options));
  }

  /**
   * Reads a stream. Rejects with `StreamNotFoundError` or `StreamDeletedError`.
   */
  async read<T = unknown>(
    stream: string,
    options: ReadStreamOptions & ReadConsistencyOptions = {},
  ): Promise<ReadResult<T>> {
    const r = await this.readRaw(stream, options);
    return { events: r.events.map((e) => toRecordedEvent<T>(e)), next: r.next };
  }

  /** One event of a stream (raw bodies). */
  async readEventRaw(
    stream: string,
    revision: number,
    options: ReadConsistencyOptions = {},
  ): Promise<RawEvent> {
    validateStreamName(stream);
    await this.readBarrier(options);
    return this.#read(() => this.stateMachine.readEvent(stream, revision));
  }

  /** One event of a stream. Rejects with `EventNotFoundError` when there is none at `revision`. */
  async readEvent<T = unknown>(
    stream: string,
    revision: number,
    options: ReadConsistencyOptions = {},
  ): Promise<RecordedEvent<T>> {
    return toRecordedEvent<T>(await this.readEventRaw(stream, revision, options));
  }

  /** Reads all streams in position order (raw bodies). */
  async readAllRaw(options: ReadAllOptions & ReadConsistencyOptions = {}): Promise<RawReadResult> {
    await this.readBarrier(options);
    return this.#read(() => this.stateMachine.readAll(options));
  }

  /** Reads all streams in position order, optionally filtered by type and stream prefix. */
  async readAll<T = unknown>(
    options: ReadAllOptions & ReadConsistencyOptions = {},
  ): Promise<ReadResult<T>> {
    const r = await this.readAllRaw(options);
    return { events: r.events.map((e) => toRecordedEvent<T>(e)), next: r.next };
  }

  /**
   * Lists the streams that exist (a read would find them), in the order they
   * were created, with their last revisions; `prefix` keeps those whose name
   * starts with it. Page on with `from: next` until `next` is null.
   */
  async listStreams(
    options: ListStreamsOptions & ReadConsistencyOptions = {},
  ): Promise<StreamList> {
    await this.readBarrier(options);
    return this.#read(() => this.stateMachine.listStreams(options));
  }

  /**
   * Subscribes to a stream or to `"$all"`: the history from `from`, then a
   * `caught-up` item, then live events. Ends when `signal` aborts, the
   * consumer breaks out, or the store stops.
   */
  async *subscribe(
    target: string,
    options: SubscribeOptions = {},
  ): AsyncGenerator<SubscriptionItem, void, undefined> {
    for await (const item of this.subscribeRaw(target, options)) {
      yield item.kind === "event" ? { kind: "event", event: toRecordedEvent(item.event) } : item;
    }
  }

  /** {@link EventStore.subscribe} with raw bodies. */
  subscribeRaw(
    target: string,
    options: SubscribeOptions = {},
  ): AsyncGenerator<RawSubscriptionItem, void, undefined> {
    return subscribeRaw(
      this.stateMachine,
      target,
      { ...options, signal: this.#signal(options) },
      () => this.node.installing,
    );
  }

  /** {@link EventStore.subscribe} with raw bodies, a page of events at a time. */
  subscribePages(
    target: string,
    options: SubscribeOptions = {},
  ): AsyncGenerator<RawSubscriptionPage, void, undefined> {
    return subscribePages(
      this.stateMachine,
      target,
      { ...options, signal: this.#signal(options) },
      () => this.node.installing,
    );
  }

  /**
   * Runs a read of the state machine once no snapshot is being installed:
   * during an install it still holds its old state, whose log may be gone.
   * The last check and the read run without a pause in between.
   */
  async #read<T>(read: () => T): Promise<T> {
    for (let g = this.node.installing; g !== undefined; g = this.node.installing) await g;
    return read();
  }

  #signal(options: SubscribeOptions): AbortSignal {
    return options.signal === undefined
      ? this.#closed.signal
      : AbortSignal.any([options.signal, this.#closed.signal]);
  }

  /**
   * Adds a projection (a pure reducer over every event). It catches up from
   * the log and then follows every applied event on this node.
   */
  defineProjection<S>(definition: ProjectionDefinition<S>): void {
    this.stateMachine.defineProjection(definition);
  }

  /**
   * A projection's state; with `key`, that key's state. Rejects with
   * `ProjectionNotFoundError` for an unknown name or key.
   */
  async getProjection<S = unknown>(
    name: string,
    key?: string,
    options: ReadConsistencyOptions = {},
  ): Promise<ProjectionView<S>> {
    await this.readBarrier(options);
    const p = this.stateMachine.projection(name);
    const base = {
      name,
      position: p.position,
      ...(p.error !== "" ? { error: p.error } : {}),
    };
    if (key === undefined) {
      if (p.keyed) return { ...base, state: undefined, keys: p.keyCount };
      return { ...base, state: structuredClone(p.state("")) as S };
    }
    if (!p.keyed) throw new ProjectionNotFoundError(name, key);
    const state = p.state(key);
    if (state === undefined) throw new ProjectionNotFoundError(name, key);
    // A copy: changing the answer must not change the node's state.
    return { ...base, key, state: structuredClone(state) as S };
  }
}
