/**
 * Subscriptions: catch-up then live, as async iterators.
 *
 * A subscription holds only a cursor. It reads pages from the index and the
 * log, yields them one event at a time as the consumer pulls, and when it
 * reaches the end yields a `caught-up` marker once and waits for the state
 * machine to apply more. Nothing is pushed to it, so nothing is buffered for
 * a slow consumer: one that falls behind simply keeps reading from the log
 * (through the entry cache) where it left off, and memory stays bounded by
 * one page per subscriber.
 *
 * @module
 */

import { StreamNotFoundError } from "./errors.ts";
import { ALL_STREAMS, validateStreamName } from "./stream_name.ts";
import type { EventStoreStateMachine, RawEvent, RawReadResult } from "./state_machine.ts";

/**
 * An item of a raw subscription: an event with its bodies as bytes, or the
 * marker that history is done and what follows is live. `position` is the
 * last position applied when the subscription caught up.
 *
 * @example
 * ```ts
 * import type { RawSubscriptionItem } from "./subscription.ts";
 * const item: RawSubscriptionItem = { kind: "caught-up", position: 41 };
 * ```
 */
export type RawSubscriptionItem =
  | { readonly kind: "event"; readonly event: RawEvent }
  | { readonly kind: "caught-up"; readonly position: number };

/**
 * A page of a raw subscription: events read together, or the caught-up marker.
 *
 * @example
 * ```ts
 * import type { RawSubscriptionPage } from "./subscription.ts";
 * const page: RawSubscriptionPage = { kind: "events", events: [] };
 * ```
 */
export type RawSubscriptionPage =
  | { readonly kind: "events"; readonly events: readonly RawEvent[] }
  | { readonly kind: "caught-up"; readonly position: number };

/**
 * Options of a subscription. `from` is inclusive: a revision for a stream,
 * a position for `$all`. `type` and `prefix` filter `$all`.
 *
 * @example
 * ```ts
 * import type { SubscribeOptions } from "./subscription.ts";
 * const o: SubscribeOptions = { from: 0, type: "OrderPlaced", prefix: "orders-" };
 * ```
 */
export interface SubscribeOptions {
  /** First revision (a stream) or global position (`$all`), inclusive. Default 0. */
  readonly from?: number;
  /** `$all` only: events of this type, or of these types. */
  readonly type?: string | readonly string[];
  /** `$all` only: events of streams whose name starts with this. */
  readonly prefix?: string;
  /** Ends the subscription. */
  readonly signal?: AbortSignal;
  /** Events read from the log at a time. Default 256. */
  readonly pageSize?: number;
}

/**
 * Subscribes to a stream or to `$all` on a state machine, yielding pages of
 * raw events as they are read (at most `pageSize` each) and the caught-up
 * marker. Throws `StreamDeletedError` (from the iterator) when the stream is
 * hard-deleted; a stream that does not exist yet is waited for. While
 * `installing` returns a promise (a snapshot being installed, when the state
 * machine's old state may point at a log that is gone), reads wait for it.
 *
 * @example
 * ```ts
 * import { subscribePages } from "./subscription.ts";
 * import { EventStoreStateMachine } from "./state_machine.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const sm = new EventStoreStateMachine({ storage: MemoryStorage.withVoters(["n1"]) });
 * const ac = new AbortController();
 * for await (const page of subscribePages(sm, "$all", { signal: ac.signal })) {
 *   console.assert(page.kind === "caught-up" && page.position === -1);
 *   ac.abort();
 * }
 * ```
 */
export async function* subscribePages(
  sm: EventStoreStateMachine,
  target: string,
  options: SubscribeOptions = {},
  installing: () => Promise<void> | undefined = () => undefined,
): AsyncGenerator<RawSubscriptionPage, void, undefined> {
  const all = target === ALL_STREAMS;
  if (!all) validateStreamName(target);
  const from = options.from ?? 0;
  if (!Number.isSafeInteger(from) || from < 0) {
    throw new RangeError(`from must be a non-negative integer, got ${options.from}`);
  }
  const pageSize = options.pageSize ?? 256;
  const signal = options.signal;
  let cursor = from;
  let caughtUp = false;
  while (!signal?.aborted) {
    // A snapshot being installed: the state machine's old state may point at a log that is gone.
    for (let g = installing(); g !== undefined && !signal?.aborted; g = installing()) {
      await settledOrAborted(g, signal);
    }
    if (signal?.aborted) return;
    const appliedAtRead = sm.appliedIndex;
    let page: RawReadResult;
    if (all) {
      page = sm.readAll({
        from: cursor,
        limit: pageSize,
        ...(options.type !== undefined ? { type: options.type } : {}),
        ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      });
    } else {
      try {
        page = sm.readStream(target, { from: cursor, limit: pageSize });
      } catch (e) {
        if (!(e instanceof StreamNotFoundError)) throw e;
        page = { events: [], next: null };
      }
    }
    const atEnd = page.next === null;
    if (atEnd) {
      // Everything up to the end was looked at, including filtered-out events.
      const end = all ? sm.lastPosition + 1 : (sm.streamInfo(target)?.lastRevision ?? -1) + 1;
      const last = page.events[page.events.length - 1];
      cursor = Math.max(
        cursor,
        end,
        last === undefined ? 0 : (all ? last.position : last.revision) + 1,
      );
    } else {
      cursor = page.next!;
    }
    if (page.events.length > 0) {
      if (signal?.aborted) return;
      yield { kind: "events", events: page.events };
    }
    if (!atEnd) continue;
    if (!caughtUp) {
      caughtUp = true;
      yield { kind: "caught-up", position: sm.lastPosition };
    }
    if (sm.appliedIndex !== appliedAtRead) continue;
    await changed(sm, signal);
  }
}

/**
 * {@link subscribePages}, one event at a time.
 *
 * @example
 * ```ts
 * import { subscribeRaw } from "./subscription.ts";
 * import { EventStoreStateMachine } from "./state_machine.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const sm = new EventStoreStateMachine({ storage: MemoryStorage.withVoters(["n1"]) });
 * const ac = new AbortController();
 * for await (const item of subscribeRaw(sm, "$all", { signal: ac.signal })) {
 *   console.assert(item.kind === "caught-up");
 *   ac.abort();
 * }
 * ```
 */
export async function* subscribeRaw(
  sm: EventStoreStateMachine,
  target: string,
  options: SubscribeOptions = {},
  installing: () => Promise<void> | undefined = () => undefined,
): AsyncGenerator<RawSubscriptionItem, void, undefined> {
  for await (const page of subscribePages(sm, target, options, installing)) {
    if (page.kind === "caught-up") {
      yield page;
      continue;
    }
    for (const event of page.events) {
      if (options.signal?.aborted) return;
      yield { kind: "event", event };
    }
  }
}

/** Resolves when `p` settles or `signal` aborts, whichever comes first. */
function settledOrAborted(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return p;
  return new Promise<void>((resolve) => {
    const done = () => {
      signal.removeEventListener("abort", done);
      resolve();
    };
    signal.addEventListener("abort", done, { once: true });
    p.then(done, done);
  });
}

function changed(sm: EventStoreStateMachine, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      off();
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const off = sm.onApplied(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}
