/**
 * Linearizable reads waiting for a read index (Raft thesis §6.4): the reads
 * queued for the next round, and the rounds handed to Raft, each under every
 * read context it was asked with.
 *
 * @module
 */

import type { Pending } from "./_pending.ts";

/** Reads that share one leadership confirmation. */
export interface ReadRound {
  index: number | undefined;
  waiters: Pending<number>[];
  /** When it was last handed to Raft (monotonic ms). */
  startedAt: number;
  /** Its read contexts: a round asked again keeps the earlier ones, whose answers count too. */
  ctxs: string[];
}

/** A node's pending reads. */
export class ReadRounds {
  #queue: Pending<number>[] = [];
  readonly #rounds = new Map<string, ReadRound>();
  /** What a read is rejected with for an error (e.g. a leader hint with its URL). */
  readonly #withUrl: (e: unknown) => unknown;

  constructor(withUrl: (e: unknown) => unknown) {
    this.#withUrl = withUrl;
  }

  /** Read contexts of rounds handed to Raft and not released. */
  get size(): number {
    return this.#rounds.size;
  }

  /** Whether reads wait for the next round. */
  get queued(): boolean {
    return this.#queue.length > 0;
  }

  /** Queues a read for the next round. */
  add(read: Pending<number>): void {
    this.#queue.push(read);
  }

  /** Forgets a read (it timed out). */
  forget(read: Pending<number>): void {
    this.#queue = this.#queue.filter((p) => p !== read);
    for (const round of this.#rounds.values()) {
      round.waiters = round.waiters.filter((p) => p !== read);
    }
  }

  /** A new round of the queued reads, not yet asked. */
  takeRound(): ReadRound {
    const waiters = this.#queue;
    this.#queue = [];
    return { index: undefined, waiters, startedAt: 0, ctxs: [] };
  }

  /** The round was handed to Raft under `ctx` at `at` (monotonic ms). */
  asked(round: ReadRound, ctx: string, at: number): void {
    round.ctxs.push(ctx);
    round.startedAt = at;
    this.#rounds.set(ctx, round);
  }

  /** Raft refused the round: its reads fail with `e`. */
  abandon(round: ReadRound, e: unknown): void {
    for (const c of round.ctxs) this.#rounds.delete(c);
    for (const p of round.waiters) (p.cancelTimer(), p.reject(this.#withUrl(e)));
  }

  /** The round asked under `ctx` was answered with read index `index` (the first answer counts). */
  answered(ctx: string, index: number): void {
    const round = this.#rounds.get(ctx);
    if (round !== undefined && round.index === undefined) round.index = index;
  }

  /** The unanswered rounds last asked at or before `before` (monotonic ms). */
  unanswered(before: number): Set<ReadRound> {
    const due = new Set<ReadRound>();
    for (const round of this.#rounds.values()) {
      if (round.index === undefined && round.startedAt <= before) due.add(round);
    }
    return due;
  }

  /** Fails every unanswered round with `err`. */
  failUnanswered(err: unknown): void {
    const rounds = new Set([...this.#rounds.values()].filter((r) => r.index === undefined));
    for (const round of rounds) {
      for (const c of round.ctxs) this.#rounds.delete(c);
      for (const p of round.waiters) (p.cancelTimer(), p.reject(this.#withUrl(err)));
    }
  }

  /** Resolves the reads of rounds whose read index is applied. */
  release(applied: number): void {
    for (const round of this.#rounds.values()) {
      if (round.index === undefined || round.index > applied) continue;
      for (const c of round.ctxs) this.#rounds.delete(c);
      for (const p of round.waiters) (p.cancelTimer(), p.resolve(round.index));
    }
  }

  /** Fails every read with `err`. */
  stop(err: unknown): void {
    for (const p of this.#queue) (p.cancelTimer(), p.reject(err));
    this.#queue = [];
    for (const r of this.#rounds.values()) {
      for (const p of r.waiters) (p.cancelTimer(), p.reject(err));
    }
    this.#rounds.clear();
  }
}
