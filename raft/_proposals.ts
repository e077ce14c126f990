/**
 * The proposals a node made that are not settled yet: commands (with their
 * deadlines and the batch not yet handed to Raft), batches forwarded to the
 * leader, and membership changes. Also hands out the ids of everything the
 * node asks Raft for (`${id}:${boot}:${seq}`, one sequence for proposals,
 * membership changes and read rounds).
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import { ProposalDroppedError } from "./core/errors.ts";
import type { ConfState } from "./core/types.ts";
import { type DeadlineQueue, KeyedDeadlines } from "./deadlines.ts";
import { encodeEnvelope } from "./envelope.ts";
import { TimeoutError } from "./node_errors.ts";
import type { Pending } from "./_pending.ts";

/** Forwarded batches remembered before all of them are checked for settled ones. */
const FORWARDED_SWEEP_MIN = 1024;
/** Proposal timeouts that get a deadline ring of their own; others get a deadline each. */
const MAX_PROPOSAL_RINGS = 8;

const noop = (): void => {};

/** Proposals waiting to be handed to Raft together, by sequence number. */
export interface QueuedProposals {
  readonly seqs: number[];
  readonly datas: Uint8Array[];
}

/** Options of {@link Proposals}. */
export interface ProposalsOptions {
  /** Start of the node's ids, before the sequence number: `${id}:${boot}:`. */
  readonly idPrefix: string;
  readonly clock: Clock;
  /** Deadlines of requests that do not get a ring of their own. */
  readonly deadlines: DeadlineQueue;
  /** Default timeout in ms. */
  readonly timeoutMs: number;
}

/** A node's unsettled proposals and membership changes. */
export class Proposals<R> {
  readonly #idPrefix: string;
  readonly #clock: Clock;
  readonly #deadlines: DeadlineQueue;
  readonly #timeoutMs: number;
  #seq = 0;
  /** Pending proposals by sequence number (their ids are `${id}:${boot}:${seq}`). */
  readonly #proposals = new Map<number, Pending<R>>();
  /** Proposal deadlines by sequence number, one ring per timeout (usually just the default). */
  readonly #rings = new Map<number, KeyedDeadlines>();
  #queue: QueuedProposals = { seqs: [], datas: [] };
  /** Batches forwarded to the leader, by context, oldest first: failed at once if refused. */
  readonly #forwarded = new Map<string, number[]>();
  #forwardedSweepAt = FORWARDED_SWEEP_MIN;
  readonly #confProposals = new Map<string, Pending<ConfState>>();

  constructor(options: ProposalsOptions) {
    this.#idPrefix = options.idPrefix;
    this.#clock = options.clock;
    this.#deadlines = options.deadlines;
    this.#timeoutMs = options.timeoutMs;
  }

  /** A new id for a request to Raft; `tag` goes before the sequence number. */
  nextId(tag = ""): string {
    return this.#idPrefix + tag + ++this.#seq;
  }

  /**
   * Queues a command for the next batch; resolves with its result, or
   * rejects when it fails or times out.
   */
  add(command: Uint8Array, now: number, timeoutMs: number | undefined): Promise<R> {
    const seq = ++this.#seq;
    const data = encodeEnvelope({ id: this.#idPrefix + seq, timestamp: now, payload: command });
    // No timer and no closure per proposal: a ring of deadlines per timeout, checked on tick
    // (a closure kept for the whole timeout outlives the young generation at high rates).
    const ms = timeoutMs ?? this.#timeoutMs;
    let ring = this.#rings.get(ms);
    if (ring === undefined && this.#rings.size < MAX_PROPOSAL_RINGS) {
      this.#rings.set(ms, ring = new KeyedDeadlines());
    }
    let promise: Promise<R>;
    if (ring !== undefined) {
      promise = new Promise<R>((resolve, reject) => {
        this.#proposals.set(seq, { resolve, reject, cancelTimer: noop });
      });
      ring.add(seq, now + ms);
    } else {
      // Many distinct timeouts at once (computed per request): a deadline each.
      promise = this.#track(this.#proposals, seq, ms, "propose");
    }
    this.#queue.seqs.push(seq);
    this.#queue.datas.push(data);
    return promise;
  }

  /** The commands queued since the last call, or undefined when there are none. */
  takeQueued(): QueuedProposals | undefined {
    const queued = this.#queue;
    if (queued.seqs.length === 0) return undefined;
    this.#queue = { seqs: [], datas: [] };
    return queued;
  }

  /** Settles the proposal with id `id` with its result, if this node made it and it is pending. */
  resolve(id: string, value: R): void {
    const seq = this.#ownSeq(id);
    if (seq >= 0) this.#settle(this.#proposals, seq, value);
  }

  /** Fails the proposal with sequence number `seq`, if it is pending. */
  reject(seq: number, error: unknown): void {
    this.#settle(this.#proposals, seq, undefined, error);
  }

  /** The sequence number of a proposal id this node made, or -1. */
  #ownSeq(id: string): number {
    const prefix = this.#idPrefix;
    if (id.length <= prefix.length || !id.startsWith(prefix)) return -1;
    const n = Number(id.slice(prefix.length));
    return Number.isSafeInteger(n) ? n : -1;
  }

  /** Remembers a batch forwarded to the leader under `context`, to fail it if refused. */
  forwarded(context: string, seqs: number[]): void {
    // Batches whose proposals all settled (applied, failed, timed out) are forgotten: the
    // oldest ones each time, and all of them whenever the map doubled (one batch with a long
    // timeout at its head must not hold back the rest).
    const settled = (batch: number[]) => !batch.some((seq) => this.#proposals.has(seq));
    for (const [ctx, old] of this.#forwarded) {
      if (!settled(old)) break;
      this.#forwarded.delete(ctx);
    }
    if (this.#forwarded.size >= this.#forwardedSweepAt) {
      for (const [ctx, old] of this.#forwarded) if (settled(old)) this.#forwarded.delete(ctx);
      this.#forwardedSweepAt = Math.max(FORWARDED_SWEEP_MIN, 2 * this.#forwarded.size);
    }
    this.#forwarded.set(context, seqs);
  }

  /** Forwarded batches whose refusal would still be acted on. */
  get forwardedBatches(): number {
    return this.#forwarded.size;
  }

  /** A forwarded batch or membership change was refused, so never appended: fail it now. */
  refused(context: string, reason: string): void {
    const err = new ProposalDroppedError(reason);
    const seqs = this.#forwarded.get(context);
    if (seqs === undefined) return this.#settle(this.#confProposals, context, undefined, err);
    this.#forwarded.delete(context);
    for (const seq of seqs) this.#settle(this.#proposals, seq, undefined, err);
  }

  /** Tracks membership change `pid`; resolves with the membership once it is applied. */
  addConfChange(pid: string, timeoutMs: number | undefined): Promise<ConfState> {
    return this.#track(this.#confProposals, pid, timeoutMs, "membership change");
  }

  /** Settles membership change `pid`, if it is pending. */
  settleConfChange(pid: string, value: ConfState | undefined, error?: unknown): void {
    this.#settle(this.#confProposals, pid, value, error);
  }

  /** Fails the proposals whose deadline passed. */
  expire(now: number): void {
    for (const [ms, ring] of this.#rings) {
      ring.expire(now, (seq) => this.#timedOut(seq, ms));
      if (ring.size === 0 && ms !== this.#timeoutMs) this.#rings.delete(ms);
    }
  }

  /** Fails every pending proposal and membership change with `err`, and forgets forwarded batches. */
  stop(err: unknown): void {
    for (const p of this.#proposals.values()) (p.cancelTimer(), p.reject(err));
    this.#proposals.clear();
    for (const p of this.#confProposals.values()) (p.cancelTimer(), p.reject(err));
    this.#confProposals.clear();
    this.#forwarded.clear();
  }

  #timedOut(seq: number, ms: number): void {
    const p = this.#proposals.get(seq);
    if (p === undefined) return;
    this.#proposals.delete(seq);
    p.reject(new TimeoutError("propose", ms));
  }

  #track<K, T>(
    map: Map<K, Pending<T>>,
    id: K,
    timeoutMs: number | undefined,
    what: string,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const ms = timeoutMs ?? this.#timeoutMs;
      const cancelTimer = this.#deadlines.add(this.#clock.now(), ms, () => {
        if (map.delete(id)) reject(new TimeoutError(what, ms));
      });
      map.set(id, { resolve, reject, cancelTimer });
    });
  }

  #settle<K, T>(
    map: Map<K, Pending<T>>,
    id: K,
    value: T | undefined,
    error?: unknown,
  ): void {
    const p = map.get(id);
    if (p === undefined) return;
    map.delete(id);
    p.cancelTimer();
    if (error !== undefined) p.reject(error);
    else p.resolve(value as T);
  }
}
