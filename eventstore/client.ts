/**
 * A typed HTTP client for the event store API. It only needs `fetch`, so it
 * runs in Deno, Node, Bun and browsers.
 *
 * - Appends get event ids before the first attempt, so retrying after a
 *   timeout, a dropped connection or a leader change is safe: the store
 *   answers a retry with the original result.
 * - Requests follow redirects (`307` with `Location`) and, when the cluster
 *   has no leader or a node is down, retry with backoff on the leader the
 *   answer names (`leaderUrl`) or else on the next node.
 * - Subscriptions are async iterators over Server-Sent Events that
 *   reconnect with `Last-Event-ID` and never deliver an event twice.
 *
 * @module
 */

import { parseSse } from "./_sse.ts";
import {
  AppendTooLargeError,
  EventIdConflictError,
  EventNotFoundError,
  InvalidEventError,
  InvalidStreamNameError,
  ProjectionNotFoundError,
  StorageQuotaError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
} from "./errors.ts";
import type {
  AppendResult,
  Consistency,
  CurrentRevision,
  Direction,
  EventData,
  ExpectedRevision,
  ListStreamsOptions,
  ReadResult,
  RecordedEvent,
  StreamList,
  StreamMetadata,
} from "./types.ts";

/**
 * An HTTP answer the client does not turn into one of the store's errors
 * (no leader after every retry, timeouts, server errors...).
 *
 * @example
 * ```ts
 * import { RaftlogHttpError } from "./client.ts";
 * const e = new RaftlogHttpError(503, "no_leader", "No leader is known");
 * console.assert(e.status === 503 && e.code === "no_leader");
 * ```
 */
export class RaftlogHttpError extends Error {
  /** The HTTP status of the last answer. */
  readonly status: number;
  /** The answer's error code (`no_leader`, `timeout`, ...), or `http_<status>` without one. */
  readonly code: string;
  /** An error for an answer with `status`, error `code` and `message`. */
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "RaftlogHttpError";
    this.status = status;
    this.code = code;
  }
}

/**
 * Options of {@link RaftlogClient}.
 *
 * @example
 * ```ts
 * import type { RaftlogClientOptions } from "./client.ts";
 * const o: RaftlogClientOptions = { urls: ["http://127.0.0.1:7001", "http://127.0.0.1:7002"], retries: 8 };
 * ```
 */
export interface RaftlogClientOptions {
  /** Base URL of one node, or of several (tried in turn when one fails). */
  readonly urls: string | readonly string[];
  /** Default: the global `fetch`. */
  readonly fetch?: (input: string, init?: RequestInit) => Response | Promise<Response>;
  /** Sent with every request (e.g. authorization). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Attempts after the first for writes and reads that fail transiently. Default 6. */
  readonly retries?: number;
  /** First backoff delay; doubles each attempt, capped at 2 s. Default 50 ms. */
  readonly retryDelayMs?: number;
  /** Reconnect a subscription that received nothing (not even a heartbeat) for this long. Default 60,000 ms. */
  readonly idleTimeoutMs?: number;
}

/**
 * Options every read takes.
 *
 * @example
 * ```ts
 * import type { ClientReadOptions } from "./client.ts";
 * const o: ClientReadOptions = { consistency: "local", minPosition: 10 };
 * ```
 */
export interface ClientReadOptions {
  /** How fresh the answer must be; the node's default (`linearizable`) when absent. */
  readonly consistency?: Consistency;
  /** Wait until the node answering has applied this global position (read-your-writes). */
  readonly minPosition?: number;
  /** Aborts the call (and its retries). */
  readonly signal?: AbortSignal;
}

/**
 * Options of a stream read.
 *
 * @example
 * ```ts
 * import type { ClientReadStreamOptions } from "./client.ts";
 * const o: ClientReadStreamOptions = { from: 5, direction: "backward", limit: 10 };
 * ```
 */
export interface ClientReadStreamOptions extends ClientReadOptions {
  /** First revision (a stream) or global position (`readAll`) to read, inclusive. */
  readonly from?: number;
  /** Default `forward`. */
  readonly direction?: Direction;
  /** Most events returned: 1 to 10,000, default 100. */
  readonly limit?: number;
}

/**
 * Options of a read of all streams.
 *
 * @example
 * ```ts
 * import type { ClientReadAllOptions } from "./client.ts";
 * const o: ClientReadAllOptions = { type: ["Placed", "Paid"], prefix: "orders-" };
 * ```
 */
export interface ClientReadAllOptions extends ClientReadStreamOptions {
  /** Only events of this type, or of these types. */
  readonly type?: string | readonly string[];
  /** Only events of streams whose name starts with this. */
  readonly prefix?: string;
}

/**
 * Options of a listing of streams (see {@link RaftlogClient.listStreams}).
 *
 * @example
 * ```ts
 * import type { ClientListStreamsOptions } from "./client.ts";
 * const o: ClientListStreamsOptions = { prefix: "orders-", limit: 50 };
 * ```
 */
export interface ClientListStreamsOptions extends ClientReadOptions, ListStreamsOptions {}

/**
 * Options of a subscription.
 *
 * @example
 * ```ts
 * import type { ClientSubscribeOptions } from "./client.ts";
 * const o: ClientSubscribeOptions = { from: 0, signal: new AbortController().signal };
 * ```
 */
export interface ClientSubscribeOptions {
  /** First revision (stream) or position (`$all`), inclusive. */
  readonly from?: number;
  /** `$all` only: events of this type, or of these types. */
  readonly type?: string | readonly string[];
  /** `$all` only: events of streams whose name starts with this. */
  readonly prefix?: string;
  /** Ends the subscription. */
  readonly signal?: AbortSignal;
}

/**
 * An item of a subscription: an event, or (once) the marker that history is
 * done and what follows is live.
 *
 * @example
 * ```ts
 * import type { ClientSubscriptionItem } from "./client.ts";
 * const i: ClientSubscriptionItem = { kind: "caught-up", position: 7 };
 * ```
 */
export type ClientSubscriptionItem =
  | { readonly kind: "event"; readonly event: RecordedEvent }
  | { readonly kind: "caught-up"; readonly position: number };

interface ErrorJson {
  error?: string;
  message?: string;
  currentRevision?: CurrentRevision;
}

const RETRY_STATUS = new Set([502, 503, 504]);

function toError(
  status: number,
  body: ErrorJson,
  context: { stream?: string; expected?: ExpectedRevision },
): Error {
  const code = body.error ?? `http_${status}`;
  const message = body.message ?? `HTTP ${status}`;
  const stream = context.stream ?? "";
  const named = (e: Error) => Object.assign(e, { message });
  switch (code) {
    case "wrong_expected_revision":
      return named(
        new WrongExpectedRevisionError(
          stream,
          context.expected ?? "any",
          body.currentRevision ?? "no_stream",
        ),
      );
    case "stream_deleted":
      return named(new StreamDeletedError(stream));
    case "stream_not_found":
      return named(new StreamNotFoundError(stream));
    case "event_not_found":
      return named(new EventNotFoundError(stream, -1));
    case "event_id_conflict":
      return named(new EventIdConflictError(stream, message));
    case "invalid_event":
      return new InvalidEventError(message);
    case "invalid_stream_name":
      return named(new InvalidStreamNameError(stream, message));
    case "too_large":
    case "payload_too_large":
      return named(new AppendTooLargeError(stream, message));
    case "projection_not_found":
      return named(new ProjectionNotFoundError(""));
    case "quota_exceeded":
      return named(new StorageQuotaError(0, 0));
    default:
      return new RaftlogHttpError(status, code, message);
  }
}

function decodeEvent(j: Record<string, unknown>): RecordedEvent {
  const bytes = (v: unknown) => Uint8Array.from(atob(String(v)), (ch) => ch.charCodeAt(0));
  return {
    id: String(j.id),
    stream: String(j.stream),
    type: String(j.type),
    data: j.dataEncoding === "base64" ? bytes(j.data) : j.data,
    metadata: j.metadataEncoding === "base64" ? bytes(j.metadata) : j.metadata ?? null,
    revision: Number(j.revision),
    position: Number(j.position),
    timestamp: Number(j.timestamp),
  };
}

/**
 * A random (version 4) UUID. `crypto.randomUUID` exists only in secure
 * contexts: a browser page served over plain HTTP has `getRandomValues` only.
 */
function randomUuid(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * The client.
 *
 * @example
 * ```ts
 * import { RaftlogClient } from "./client.ts";
 * import { EventStore } from "./event_store.ts";
 * import { eventStoreRoutes } from "../transport/eventstore_routes.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 *
 * const store = await EventStore.start({ id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} }, tickMs: 5 });
 * await store.node.waitForLeader(2000);
 * const app = eventStoreRoutes(store);
 * // Any fetch works; this one calls the app in process.
 * const client = new RaftlogClient({ urls: "http://node1", fetch: (url, init) => app.request(url, init) });
 * const r = await client.append("orders-1", [{ type: "Placed", data: { total: 9 } }], { expectedRevision: "no_stream" });
 * const { events } = await client.read("orders-1");
 * console.assert(r.position === 0 && (events[0]!.data as { total: number }).total === 9);
 * await store.stop();
 * ```
 */
export class RaftlogClient {
  readonly #urls: string[];
  readonly #fetch: (input: string, init?: RequestInit) => Response | Promise<Response>;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #retries: number;
  readonly #delay: number;
  readonly #idleMs: number;
  /** Index of the node that answered last (tried first next time). */
  #current = 0;

  /** A client of the nodes at `options.urls`. Throws a `TypeError` when there is none. */
  constructor(options: RaftlogClientOptions) {
    const urls = typeof options.urls === "string" ? [options.urls] : [...options.urls];
    if (urls.length === 0) throw new TypeError("RaftlogClient needs at least one URL");
    this.#urls = urls.map((u) => u.replace(/\/+$/, ""));
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#headers = options.headers ?? {};
    this.#retries = options.retries ?? 6;
    this.#delay = options.retryDelayMs ?? 50;
    this.#idleMs = options.idleTimeoutMs ?? 60_000;
  }

  /**
   * Sends a request to the current node; on a network error or 502/503/504
   * moves to the next node and retries with backoff. Follows redirects the
   * fetch implementation leaves to it.
   */
  async #request(
    method: string,
    path: string,
    init: {
      body?: string;
      headers?: Record<string, string>;
      signal?: AbortSignal;
      retry: boolean;
      /**
       * Set when an earlier attempt may have taken effect (a lost connection, a timeout), for
       * callers that read a retry's answer in that light.
       */
      outcome?: { unknown: boolean };
    },
  ): Promise<Response> {
    const attempts = init.retry ? this.#retries + 1 : 1;
    for (let attempt = 0;; attempt++) {
      if (attempt > 0) {
        // Jitter: requests that failed together must not retry (and fail) in lockstep.
        const ms = Math.min(2000, this.#delay * 2 ** (attempt - 1));
        await sleep(ms * (0.5 + Math.random() / 2), init.signal);
      }
      init.signal?.throwIfAborted();
      const last = attempt + 1 >= attempts;
      // Concurrent requests share `#current`: a failure moves it only if no other
      // request moved it since this one started (else N failures would step N nodes
      // and could land on the failed node again).
      const used = this.#current;
      let url = this.#urls[used]! + path;
      let res: Response;
      try {
        for (let hop = 0;; hop++) {
          res = await this.#fetch(url, {
            method,
            headers: {
              ...this.#headers,
              ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
              ...init.headers,
            },
            ...(init.body !== undefined ? { body: init.body } : {}),
            ...(init.signal !== undefined ? { signal: init.signal } : {}),
          });
          const location = res.headers.get("location");
          if ((res.status !== 307 && res.status !== 308) || location === null || hop >= 4) break;
          await res.body?.cancel();
          url = new URL(location, url).href;
        }
      } catch (e) {
        if (init.signal?.aborted || last) throw e;
        if (init.outcome !== undefined) init.outcome.unknown = true;
        if (this.#current === used) this.#current = (used + 1) % this.#urls.length;
        continue;
      }
      if (!last && RETRY_STATUS.has(res.status)) {
        const { next, code } = await this.#nextNode(res, used);
        // Refusals that did nothing: no leader here, or a proposal dropped before it applied.
        const refused = res.status === 503 &&
          (code === "not_leader" || code === "no_leader" || code === "proposal_dropped" ||
            code === "removed");
        if (init.outcome !== undefined && !refused) init.outcome.unknown = true;
        if (this.#current === used) this.#current = next;
        continue;
      }
      return res;
    }
  }

  /**
   * The node to try after `used` failed: the leader the answer names, else the next URL;
   * and the answer's error code.
   */
  async #nextNode(res: Response, used: number): Promise<{ next: number; code: unknown }> {
    let body: { leaderUrl?: unknown; error?: unknown } = {};
    try {
      body = await res.json();
    } catch {
      // Not JSON: no hint.
    }
    const hint = body?.leaderUrl;
    if (typeof hint === "string" && /^https?:\/\//.test(hint)) {
      const url = hint.replace(/\/+$/, "");
      let known = this.#urls.indexOf(url);
      if (known < 0) known = this.#urls.push(url) - 1;
      return { next: known, code: body.error };
    }
    return { next: (used + 1) % this.#urls.length, code: body?.error };
  }

  async #json<T>(
    res: Response,
    context: { stream?: string; expected?: ExpectedRevision },
  ): Promise<T> {
    const text = await res.text();
    let body: unknown;
    try {
      body = text === "" ? {} : JSON.parse(text);
    } catch {
      throw new RaftlogHttpError(res.status, "invalid_response", `Response is not JSON: ${text}`);
    }
    if (!res.ok) throw toError(res.status, body as ErrorJson, context);
    return body as T;
  }

  #query(params: Record<string, string | number | undefined>): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
    const s = q.toString();
    return s === "" ? "" : `?${s}`;
  }

  /**
   * Appends events to a stream (atomically). Events without an `id` get one
   * before the first attempt; retries reuse them. Resolves with `replayed`
   * true when the store had already applied this append.
   */
  async append(
    stream: string,
    events: EventData | readonly EventData[],
    options: { expectedRevision?: ExpectedRevision; signal?: AbortSignal } = {},
  ): Promise<AppendResult> {
    const list: readonly EventData[] = Array.isArray(events) ? events : [events as EventData];
    for (const e of list) {
      if (ArrayBuffer.isView(e?.data) || ArrayBuffer.isView(e?.metadata)) {
        throw new TypeError(
          "RaftlogClient sends events as JSON: data and metadata must be JSON values, not bytes " +
            "(base64-encode them into a string, or append with EventStore in the node's process)",
        );
      }
    }
    const withIds = list.map((e) => ({ ...e, id: e.id ?? randomUuid() }));
    const res = await this.#request("POST", `/streams/${encodeURIComponent(stream)}`, {
      body: JSON.stringify(withIds),
      headers: { "expected-revision": String(options.expectedRevision ?? "any") },
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      retry: true,
    });
    const body = await this.#json<Omit<AppendResult, "replayed">>(res, {
      stream,
      expected: options.expectedRevision ?? "any",
    });
    return { ...body, replayed: res.status === 200 };
  }

  /** Reads a stream. */
  async read<T = unknown>(
    stream: string,
    options: ClientReadStreamOptions = {},
  ): Promise<ReadResult<T>> {
    const q = this.#query({
      from: options.from,
      direction: options.direction,
      limit: options.limit,
      consistency: options.consistency,
      minPosition: options.minPosition,
    });
    const res = await this.#request("GET", `/streams/${encodeURIComponent(stream)}${q}`, {
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      retry: true,
    });
    const body = await this.#json<{ events: Record<string, unknown>[]; next: number | null }>(
      res,
      { stream },
    );
    return { events: body.events.map((e) => decodeEvent(e) as RecordedEvent<T>), next: body.next };
  }

  /** One event of a stream. */
  async readEvent<T = unknown>(
    stream: string,
    revision: number,
    options: ClientReadOptions = {},
  ): Promise<RecordedEvent<T>> {
    const q = this.#query({ consistency: options.consistency, minPosition: options.minPosition });
    const res = await this.#request(
      "GET",
      `/streams/${encodeURIComponent(stream)}/${revision}${q}`,
      { ...(options.signal !== undefined ? { signal: options.signal } : {}), retry: true },
    );
    return decodeEvent(await this.#json<Record<string, unknown>>(res, { stream })) as RecordedEvent<
      T
    >;
  }

  /** Reads all streams in position order. */
  async readAll<T = unknown>(options: ClientReadAllOptions = {}): Promise<ReadResult<T>> {
    const type = options.type === undefined
      ? undefined
      : typeof options.type === "string"
      ? options.type
      : options.type.join(",");
    const q = this.#query({
      from: options.from,
      direction: options.direction,
      limit: options.limit,
      type,
      prefix: options.prefix,
      consistency: options.consistency,
      minPosition: options.minPosition,
    });
    const res = await this.#request("GET", `/all${q}`, {
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      retry: true,
    });
    const body = await this.#json<{ events: Record<string, unknown>[]; next: number | null }>(
      res,
      {},
    );
    return { events: body.events.map((e) => decodeEvent(e) as RecordedEvent<T>), next: body.next };
  }

  /**
   * Lists the streams that exist, in the order they were created, with their
   * last revisions (`prefix` keeps those whose name starts with it). Page on
   * with `from: next` until `next` is null.
   */
  async listStreams(options: ClientListStreamsOptions = {}): Promise<StreamList> {
    const q = this.#query({
      from: options.from,
      limit: options.limit,
      prefix: options.prefix,
      consistency: options.consistency,
      minPosition: options.minPosition,
    });
    const res = await this.#request("GET", `/streams${q}`, {
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      retry: true,
    });
    return await this.#json<StreamList>(res, {});
  }

  /**
   * Soft-deletes a stream, or tombstones it with `hard`. A retry after an
   * attempt whose outcome is unknown (a lost connection, a timeout) that
   * finds the stream already deleted (404 soft, 410 hard) counts as success:
   * that attempt may well have done it.
   */
  async deleteStream(
    stream: string,
    options: { hard?: boolean; expectedRevision?: ExpectedRevision; signal?: AbortSignal } = {},
  ): Promise<void> {
    const outcome = { unknown: false };
    const res = await this.#request(
      "DELETE",
      `/streams/${encodeURIComponent(stream)}${options.hard ? "?hard=true" : ""}`,
      {
        headers: { "expected-revision": String(options.expectedRevision ?? "any") },
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        retry: true,
        outcome,
      },
    );
    if (outcome.unknown && res.status === (options.hard ? 410 : 404)) {
      await res.body?.cancel();
      return;
    }
    await this.#json(res, { stream, expected: options.expectedRevision ?? "any" });
  }

  /** A stream's metadata. */
  async getMetadata(stream: string, options: ClientReadOptions = {}): Promise<StreamMetadata> {
    const q = this.#query({ consistency: options.consistency, minPosition: options.minPosition });
    const res = await this.#request("GET", `/streams/${encodeURIComponent(stream)}/metadata${q}`, {
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      retry: true,
    });
    return await this.#json<StreamMetadata>(res, { stream });
  }

  /** Replaces a stream's metadata. */
  async setMetadata(
    stream: string,
    metadata: StreamMetadata,
    options: { signal?: AbortSignal } = {},
  ): Promise<StreamMetadata> {
    const res = await this.#request("PUT", `/streams/${encodeURIComponent(stream)}/metadata`, {
      body: JSON.stringify(metadata),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      retry: true,
    });
    return await this.#json<StreamMetadata>(res, { stream });
  }

  /** A projection's state (with `key`, one key's). */
  async getProjection<S = unknown>(
    name: string,
    key?: string,
    options: ClientReadOptions = {},
  ): Promise<{ name: string; key?: string; position: number; state?: S; keys?: number }> {
    const q = this.#query({ consistency: options.consistency, minPosition: options.minPosition });
    const path = `/projections/${encodeURIComponent(name)}${
      key === undefined ? "" : `/${encodeURIComponent(key)}`
    }${q}`;
    const res = await this.#request("GET", path, {
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      retry: true,
    });
    return await this.#json(res, {});
  }

  /**
   * Subscribes to a stream or to `"$all"` over Server-Sent Events: history
   * from `from`, then `caught-up` (once), then live events. On a dropped
   * connection it reconnects (to the next node if needed) with
   * `Last-Event-ID`, so no event is skipped or repeated. Ends when `signal`
   * aborts or the consumer breaks out; throws the store's error when the
   * stream is deleted.
   */
  async *subscribe(
    target: string,
    options: ClientSubscribeOptions = {},
  ): AsyncGenerator<ClientSubscriptionItem, void, undefined> {
    const all = target === "$all";
    const type = options.type === undefined
      ? undefined
      : typeof options.type === "string"
      ? options.type
      : options.type.join(",");
    const base = all ? "/subscribe/all" : `/subscribe/streams/${encodeURIComponent(target)}`;
    const q = this.#query({
      from: options.from,
      ...(all ? { type, prefix: options.prefix } : {}),
    });
    let lastId: string | undefined;
    let caughtUp = false;
    let failures = 0;
    let retryMs = this.#delay;
    const outer = options.signal;
    while (!outer?.aborted) {
      const ac = new AbortController();
      const stop = () => ac.abort();
      outer?.addEventListener("abort", stop, { once: true });
      let idle: ReturnType<typeof setTimeout> | undefined;
      const touch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => ac.abort(), this.#idleMs);
      };
      try {
        const res = await this.#request("GET", `${base}${q}`, {
          headers: {
            accept: "text/event-stream",
            ...(lastId !== undefined ? { "last-event-id": lastId } : {}),
          },
          signal: ac.signal,
          retry: true,
        });
        if (!res.ok) {
          const text = await res.text();
          let body: ErrorJson = {};
          try {
            body = JSON.parse(text);
          } catch {
            body = { message: text };
          }
          throw toError(res.status, body, { stream: target });
        }
        touch();
        for await (const m of parseSse(res.body!, { onActivity: touch, signal: ac.signal })) {
          if (outer?.aborted) return;
          if (m.retry !== undefined) retryMs = m.retry;
          // Progress (an event, or caught up) resets the count of failed attempts; a connection
          // that fails again before any (the same error at the same place) counts as one more.
          if (m.event === "message" || m.event === "caught-up") failures = 0;
          if (m.event === "message") {
            lastId = m.id;
            yield { kind: "event", event: decodeEvent(JSON.parse(m.data)) };
          } else if (m.event === "caught-up") {
            if (!caughtUp) {
              caughtUp = true;
              yield { kind: "caught-up", position: Number(JSON.parse(m.data).position) };
            }
          } else if (m.event === "error") {
            // The server's status for it (400 from servers that do not send one): 5xx resumes.
            const body = JSON.parse(m.data) as ErrorJson & { status?: unknown };
            const status = typeof body.status === "number" ? body.status : 400;
            throw toError(status, body, { stream: target });
          }
        }
      } catch (e) {
        if (outer?.aborted) return;
        if (
          !(e instanceof TypeError || e instanceof DOMException || e instanceof RaftlogHttpError) ||
          (e instanceof RaftlogHttpError && e.status < 500)
        ) {
          throw e;
        }
        if (++failures > this.#retries) throw e;
      } finally {
        clearTimeout(idle);
        outer?.removeEventListener("abort", stop);
        ac.abort();
      }
      await sleep(Math.min(2000, retryMs * 2 ** Math.max(0, failures - 1)), outer);
    }
  }
}
