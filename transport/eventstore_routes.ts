/**
 * The event store's HTTP API (client routes; `app.ts` mounts them and
 * forwards writes from followers to the leader).
 *
 * ```
 * POST   /streams/:stream                 append one event or an array (Expected-Revision header)
 * GET    /streams/:stream                 read (?from=&direction=&limit=)
 * GET    /streams/:stream/:revision       one event
 * DELETE /streams/:stream                 soft delete (?hard=true: tombstone)
 * GET    /streams/:stream/metadata        stream metadata
 * PUT    /streams/:stream/metadata        replace stream metadata
 * GET    /all                             read all streams (?from=&limit=&direction=&type=&prefix=)
 * GET    /subscribe/streams/:stream       Server-Sent Events (?from=, Last-Event-ID)
 * GET    /subscribe/all                   Server-Sent Events (?from=&type=&prefix=, Last-Event-ID)
 * GET    /projections/:name               projection state
 * GET    /projections/:name/:key          state of one key of a keyed projection
 * ```
 *
 * Every read takes `consistency=local|leader|linearizable` (default
 * linearizable) and `minPosition=`. Errors are
 * `{"error": "<code>", "message": "..."}`. Event `data` and `metadata` are
 * JSON; events written as bytes through the TypeScript API come out as
 * base64 strings with `"dataEncoding": "base64"`.
 *
 * @module
 */

import { bodyText } from "./body_text.ts";
import { base64Of } from "./base64.ts";
import { type Context, Hono } from "hono";
import { bodyLimit } from "./body_limit.ts";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import { NotLeaderError } from "../raft/core/errors.ts";
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
} from "../eventstore/errors.ts";
import type { EventStore } from "../eventstore/event_store.ts";
import { parseExpectedRevision } from "../eventstore/expected_revision.ts";
import { MAX_READ_LIMIT, type RawEvent } from "../eventstore/state_machine.ts";
import { ALL_STREAMS, validateStreamName } from "../eventstore/stream_name.ts";
import type { Consistency, ExpectedRevision, ReadConsistencyOptions } from "../eventstore/types.ts";
import { appendEvents, BadRequest } from "./append_body.ts";
import { parseJson } from "./exact_json.ts";
import { describeIssues } from "./codec.ts";
import { errorBody } from "./errors.ts";
import { declaredLength, type FastRoute, jsonResponse } from "./fast_route.ts";
import type { NodeMetrics } from "./metrics.ts";

/**
 * Options of {@link eventStoreRoutes}.
 *
 * @example
 * ```ts
 * import type { EventStoreRoutesOptions } from "./eventstore_routes.ts";
 * const o: EventStoreRoutesOptions = { maxBodyBytes: 1 << 20, heartbeatMs: 15_000 };
 * ```
 */
export interface EventStoreRoutesOptions {
  /**
   * Largest request body of these routes; more gets 413. Default 4 MiB. A
   * server in front (`serveNode`, `createApp`) applies its own limit first
   * (`maxBodyBytes` there, 1 MiB by default).
   */
  readonly maxBodyBytes?: number;
  /** Interval of SSE heartbeat comments. Default 15,000 ms. */
  readonly heartbeatMs?: number;
  /** Consistency of reads that do not say. Default `linearizable`. */
  readonly defaultConsistency?: Consistency;
  /** Where appends are counted and timed, and the event and stream counts shown (`/metrics`). */
  readonly metrics?: NodeMetrics;
}

const metadataSchema = z.object({
  maxCount: z.number().int().min(1).optional(),
  maxAge: z.number().int().min(1).optional(),
  truncateBefore: z.number().int().min(0).optional(),
  custom: z.record(z.string(), z.unknown()).optional(),
}).strict();

type Status = 400 | 404 | 409 | 410 | 413 | 500 | 501 | 503 | 504 | 507 | 401 | 403 | 421;

/** Status and body for any error a route can meet. */
function classify(e: unknown): {
  status: Status;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
} {
  if (e instanceof BadRequest) return { status: 400, body: { error: e.code, message: e.message } };
  if (e instanceof WrongExpectedRevisionError) {
    return {
      status: 409,
      body: { error: e.code, message: e.message, currentRevision: e.currentRevision },
    };
  }
  if (e instanceof EventIdConflictError) {
    return { status: 409, body: { error: e.code, message: e.message } };
  }
  if (e instanceof StreamDeletedError) {
    return { status: 410, body: { error: e.code, message: e.message } };
  }
  if (
    e instanceof StreamNotFoundError || e instanceof EventNotFoundError ||
    e instanceof ProjectionNotFoundError
  ) {
    return { status: 404, body: { error: e.code, message: e.message } };
  }
  if (e instanceof AppendTooLargeError) {
    return { status: 413, body: { error: e.code, message: e.message } };
  }
  if (e instanceof StorageQuotaError) {
    return { status: 507, body: { error: e.code, message: e.message } };
  }
  if (e instanceof InvalidEventError || e instanceof InvalidStreamNameError) {
    return { status: 400, body: { error: e.code, message: e.message } };
  }
  if (e instanceof NotLeaderError || !(e instanceof TypeError || e instanceof RangeError)) {
    const b = errorBody(e);
    return {
      status: b.status,
      body: b.body,
      ...(b.headers !== undefined ? { headers: b.headers } : {}),
    };
  }
  return { status: 400, body: { error: "invalid_request", message: e.message } };
}

function fail(c: Context, e: unknown): Response {
  const { status, body, headers } = classify(e);
  return c.json(body, status, headers);
}

const decoder = new TextDecoder();
/** Events per SSE write while catching up (one buffer of about 250 KB for 1 KB events). */
const SSE_PAGE_SIZE = 512;

function bodyJson(bytes: Uint8Array, isJson: boolean): string {
  if (isJson) return bytes.length === 0 ? "null" : decoder.decode(bytes);
  return `"${base64Of(bytes)}"`;
}

/**
 * An event as JSON text, bodies spliced in as stored (no parse and re-stringify).
 *
 * @example
 * ```ts
 * import { eventJson } from "./eventstore_routes.ts";
 * const text = eventJson({
 *   id: "a", stream: "s", type: "T", revision: 0, position: 3, timestamp: 5,
 *   data: new TextEncoder().encode('{"n":1}'), dataIsJson: true, metadata: new Uint8Array(), metadataIsJson: true,
 * });
 * console.assert(JSON.parse(text).data.n === 1);
 * ```
 */
export function eventJson(e: RawEvent): string {
  let s = `{"id":${JSON.stringify(e.id)},"stream":${JSON.stringify(e.stream)},"type":${
    JSON.stringify(e.type)
  },"revision":${e.revision},"position":${e.position},"timestamp":${e.timestamp},"data":${
    bodyJson(e.data, e.dataIsJson)
  },"metadata":${bodyJson(e.metadata, e.metadataIsJson)}`;
  if (!e.dataIsJson) s += `,"dataEncoding":"base64"`;
  if (!e.metadataIsJson) s += `,"metadataEncoding":"base64"`;
  return s + "}";
}

/** Bytes that a JSON string literal must escape: control characters, `"` and `\\`. */
function needsEscape(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return true;
  }
  return false;
}

/**
 * Writes events as Server-Sent Events into one buffer: the `data:` line is
 * {@link eventJson}'s text, but JSON bodies are copied from the log as
 * bytes, never decoded into strings and encoded again.
 */
class SseWriter {
  #buf = new Uint8Array(64 * 1024);
  #pos = 0;

  #reserve(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(this.#pos + n, this.#buf.length * 2));
    grown.set(this.#buf.subarray(0, this.#pos));
    this.#buf = grown;
  }

  /** Appends a string that is ASCII (callers make sure). */
  #ascii(s: string): void {
    this.#reserve(s.length);
    const b = this.#buf;
    let p = this.#pos;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.#pos = p;
  }

  #bytes(v: Uint8Array): void {
    this.#reserve(v.length);
    this.#buf.set(v, this.#pos);
    this.#pos += v.length;
  }

  /** A JSON string literal. */
  #string(s: string): void {
    if (!needsEscape(s)) {
      this.#reserve(s.length + 2);
      this.#buf[this.#pos++] = 0x22;
      this.#ascii(s);
      this.#buf[this.#pos++] = 0x22;
    } else {
      // Non-ASCII is kept as UTF-8 (JSON.stringify only escapes what it must).
      this.#bytes(encoder.encode(JSON.stringify(s)));
    }
  }

  #body(bytes: Uint8Array, isJson: boolean): void {
    if (isJson) {
      if (bytes.length === 0) this.#ascii("null");
      else this.#bytes(bytes);
    } else {
      this.#ascii(bodyJson(bytes, false));
    }
  }

  event(e: RawEvent): void {
    this.#ascii(`id: ${e.position}\ndata: {"id":`);
    this.#string(e.id);
    this.#ascii(`,"stream":`);
    this.#string(e.stream);
    this.#ascii(`,"type":`);
    this.#string(e.type);
    this.#ascii(
      `,"revision":${e.revision},"position":${e.position},"timestamp":${e.timestamp},"data":`,
    );
    this.#body(e.data, e.dataIsJson);
    this.#ascii(`,"metadata":`);
    this.#body(e.metadata, e.metadataIsJson);
    if (!e.dataIsJson) this.#ascii(`,"dataEncoding":"base64"`);
    if (!e.metadataIsJson) this.#ascii(`,"metadataEncoding":"base64"`);
    this.#ascii("}\n\n");
  }

  /** The bytes written since the last take (a copy: the buffer is reused). */
  take(): Uint8Array {
    const out = this.#buf.slice(0, this.#pos);
    this.#pos = 0;
    return out;
  }
}

const encoder = new TextEncoder();

function pageJson(events: readonly RawEvent[], next: number | null): string {
  let s = '{"events":[';
  for (let i = 0; i < events.length; i++) {
    if (i > 0) s += ",";
    s += eventJson(events[i]!);
  }
  return s + `],"next":${next === null ? "null" : next}}`;
}

function json(c: Context, text: string, status: 200 | 201 = 200): Response {
  return c.body(text, status, { "content-type": "application/json" });
}

function natural(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === "") return undefined;
  if (!/^\d{1,15}$/.test(v)) {
    throw new BadRequest(
      "invalid_query",
      `${name} must be a non-negative integer, got ${JSON.stringify(v)}`,
    );
  }
  return Number(v);
}

/** `limit=`: 1 to MAX_READ_LIMIT, like the store's reads (a 400 `invalid_query` otherwise). */
function limitParam(c: Context): number | undefined {
  const lim = natural(c.req.query("limit"), "limit");
  if (lim !== undefined && (lim < 1 || lim > MAX_READ_LIMIT)) {
    throw new BadRequest(
      "invalid_query",
      `limit must be an integer from 1 to ${MAX_READ_LIMIT}, got ${lim}`,
    );
  }
  return lim;
}

function direction(v: string | undefined): "forward" | "backward" {
  if (v === undefined || v === "" || v === "forward") return "forward";
  if (v === "backward") return "backward";
  throw new BadRequest(
    "invalid_query",
    `direction must be forward or backward, got ${JSON.stringify(v)}`,
  );
}

function readOptions(c: Context, fallback: Consistency): ReadConsistencyOptions {
  const v = c.req.query("consistency");
  let consistency: Consistency = fallback;
  if (v !== undefined && v !== "") {
    if (v !== "local" && v !== "leader" && v !== "linearizable") {
      throw new BadRequest(
        "invalid_query",
        `consistency must be local, leader or linearizable, got ${JSON.stringify(v)}`,
      );
    }
    consistency = v;
  }
  const minPosition = natural(c.req.query("minPosition"), "minPosition");
  return minPosition === undefined ? { consistency } : { consistency, minPosition };
}

function streamParam(c: Context): string {
  const name = c.req.param("stream") ?? "";
  validateStreamName(name);
  return name;
}

function parseExpectedHeader(h: string | undefined): ExpectedRevision {
  if (h === undefined || h === "") return "any";
  try {
    return parseExpectedRevision(h);
  } catch (e) {
    throw new BadRequest("invalid_expected_revision", (e as Error).message);
  }
}

function types(c: Context): string[] | undefined {
  const all = c.req.queries("type");
  if (all === undefined) return undefined;
  const list = all.flatMap((t) => t.split(",")).map((t) => t.trim()).filter((t) => t !== "");
  return list.length === 0 ? undefined : list;
}

async function readJson(c: Context): Promise<unknown> {
  return parseJson(await bodyText(c.req));
}

/** `POST /streams/:stream`, for the Hono route and the fast route alike. */
async function appendResponse(
  store: EventStore,
  stream: string,
  expectedHeader: string | undefined,
  body: () => Promise<string>,
  metrics: NodeMetrics | undefined,
): Promise<Response> {
  try {
    validateStreamName(stream);
    const expectedRevision = parseExpectedHeader(expectedHeader);
    const events = appendEvents(parseJson(await body()));
    const start = performance.now();
    if (metrics !== undefined) metrics.proposals++;
    let r;
    try {
      r = await store.append(stream, events, { expectedRevision });
    } catch (e) {
      if (metrics !== undefined) metrics.proposalsFailed++;
      throw e;
    }
    metrics?.proposalSeconds.observe((performance.now() - start) / 1000);
    const answer = {
      stream: r.stream,
      firstRevision: r.firstRevision,
      lastRevision: r.lastRevision,
      position: r.position,
    };
    return jsonResponse(answer, r.replayed ? 200 : 201, {
      location: `/streams/${encodeURIComponent(stream)}/${r.firstRevision}`,
    });
  } catch (e) {
    const { status, body, headers } = classify(e);
    return jsonResponse(body, status, headers);
  }
}

/**
 * The fast route of single appends (`POST /streams/:stream` without a query
 * string, on the leader): the same answers as {@link eventStoreRoutes}
 * without the Hono app's routing and middleware. Anything else (followers,
 * which forward; percent-encoded names; bodies over the limit) is left to
 * the app.
 *
 * @example
 * ```ts
 * import { eventStoreFastAppend } from "./eventstore_routes.ts";
 * import { EventStore } from "../eventstore/event_store.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const store = await EventStore.start({ id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} }, tickMs: 5 });
 * await store.node.waitForLeader(2000);
 * const route = eventStoreFastAppend(store);
 * const req = new Request("http://h/streams/a", { method: "POST", body: '{"type":"T"}', headers: { "content-length": "12" } });
 * console.assert((await route(req, "/streams/a"))?.status === 201);
 * await store.stop();
 * ```
 */
export function eventStoreFastAppend(
  store: EventStore,
  options: EventStoreRoutesOptions = {},
): FastRoute {
  const maxBody = options.maxBodyBytes ?? 4 << 20;
  return (req, path) => {
    if (req.method !== "POST" || !path.startsWith("/streams/")) return undefined;
    const stream = path.slice(9);
    if (stream.length === 0 || stream.includes("/") || stream.includes("%")) return undefined;
    if (store.node.role !== "leader") return undefined;
    const length = declaredLength(req);
    if (length === undefined || length > maxBody) return undefined;
    return appendResponse(
      store,
      stream,
      req.headers.get("expected-revision") ?? undefined,
      () => bodyText(req),
      options.metrics,
    );
  };
}

/**
 * The routes, over an {@link EventStore}.
 *
 * @example
 * ```ts
 * import { eventStoreRoutes } from "./eventstore_routes.ts";
 * import { EventStore } from "../eventstore/event_store.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 *
 * const store = await EventStore.start({ id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} }, tickMs: 5 });
 * await store.node.waitForLeader(2000);
 * const app = eventStoreRoutes(store);
 * const res = await app.request("/streams/orders-1", {
 *   method: "POST",
 *   headers: { "content-type": "application/json", "expected-revision": "no_stream" },
 *   body: JSON.stringify({ type: "Placed", data: { total: 3 } }),
 * });
 * console.assert(res.status === 201);
 * console.assert((await res.json()).lastRevision === 0);
 * await store.stop();
 * ```
 */
export function eventStoreRoutes(store: EventStore, options: EventStoreRoutesOptions = {}): Hono {
  const app = new Hono();
  const maxBody = options.maxBodyBytes ?? 4 << 20;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const fallback = options.defaultConsistency ?? "linearizable";
  const sm = store.stateMachine;
  options.metrics?.addGauge("raftlog_eventstore_events", () => sm.lastPosition + 1);
  options.metrics?.addGauge("raftlog_eventstore_streams", () => sm.streamCount);
  const limit = bodyLimit({
    maxSize: maxBody,
    onError: (c) =>
      c.json({ error: "too_large", message: `Request body exceeds ${maxBody} bytes` }, 413),
  });

  app.post(
    "/streams/:stream",
    limit,
    (c) =>
      appendResponse(
        store,
        c.req.param("stream") ?? "",
        c.req.header("expected-revision"),
        () => bodyText(c.req),
        options.metrics,
      ),
  );

  app.get("/streams/:stream", async (c) => {
    try {
      const stream = streamParam(c);
      const from = natural(c.req.query("from"), "from");
      const lim = limitParam(c);
      const r = await store.readRaw(stream, {
        ...readOptions(c, fallback),
        direction: direction(c.req.query("direction")),
        ...(from !== undefined ? { from } : {}),
        ...(lim !== undefined ? { limit: lim } : {}),
      });
      return json(c, pageJson(r.events, r.next));
    } catch (e) {
      return fail(c, e);
    }
  });

  app.put("/streams/:stream/metadata", limit, async (c) => {
    try {
      const stream = streamParam(c);
      const raw = await readJson(c);
      const parsed = metadataSchema.safeParse(raw);
      if (!parsed.success) throw new BadRequest("invalid_metadata", describeIssues(parsed.error));
      const m = parsed.data;
      const metadata = {
        ...(m.maxCount !== undefined ? { maxCount: m.maxCount } : {}),
        ...(m.maxAge !== undefined ? { maxAge: m.maxAge } : {}),
        ...(m.truncateBefore !== undefined ? { truncateBefore: m.truncateBefore } : {}),
        // As sent: the schema's copy leaves out a "__proto__" key.
        ...(m.custom !== undefined
          ? { custom: (raw as { custom: Record<string, unknown> }).custom }
          : {}),
      };
      return c.json(await store.setMetadata(stream, metadata));
    } catch (e) {
      return fail(c, e);
    }
  });

  // One route for both (rather than a regex on the revision) keeps every path
  // supported by Hono's RegExpRouter, its fastest.
  app.get("/streams/:stream/:sub", async (c) => {
    try {
      const stream = streamParam(c);
      const sub = c.req.param("sub");
      if (sub === "metadata") {
        return c.json(await store.getMetadata(stream, readOptions(c, fallback)));
      }
      if (!/^[0-9]+$/.test(sub)) return c.notFound();
      const revision = natural(sub, "revision")!;
      const e = await store.readEventRaw(stream, revision, readOptions(c, fallback));
      return json(c, eventJson(e));
    } catch (e) {
      return fail(c, e);
    }
  });

  app.delete("/streams/:stream", async (c) => {
    try {
      const stream = streamParam(c);
      const hardQuery = c.req.query("hard");
      if (hardQuery !== undefined && hardQuery !== "true" && hardQuery !== "false") {
        throw new BadRequest(
          "invalid_query",
          `hard must be true or false, got ${JSON.stringify(hardQuery)}`,
        );
      }
      const hard = hardQuery === "true";
      const r = await store.deleteStream(stream, {
        hard,
        expectedRevision: parseExpectedHeader(c.req.header("expected-revision")),
      });
      return c.json({ stream: r.stream, deleted: r.hard ? "hard" : "soft" });
    } catch (e) {
      return fail(c, e);
    }
  });

  app.get("/streams", async (c) => {
    try {
      const from = natural(c.req.query("from"), "from");
      const lim = limitParam(c);
      const prefix = c.req.query("prefix");
      const r = await store.listStreams({
        ...readOptions(c, fallback),
        ...(from !== undefined ? { from } : {}),
        ...(lim !== undefined ? { limit: lim } : {}),
        ...(prefix !== undefined && prefix !== "" ? { prefix } : {}),
      });
      return c.json(r);
    } catch (e) {
      return fail(c, e);
    }
  });

  app.get("/all", async (c) => {
    try {
      const from = natural(c.req.query("from"), "from");
      const lim = limitParam(c);
      const t = types(c);
      const prefix = c.req.query("prefix");
      const r = await store.readAllRaw({
        ...readOptions(c, fallback),
        direction: direction(c.req.query("direction")),
        ...(from !== undefined ? { from } : {}),
        ...(lim !== undefined ? { limit: lim } : {}),
        ...(t !== undefined ? { type: t } : {}),
        ...(prefix !== undefined && prefix !== "" ? { prefix } : {}),
      });
      return json(c, pageJson(r.events, r.next));
    } catch (e) {
      return fail(c, e);
    }
  });

  const subscribe = async (c: Context, target: string): Promise<Response> => {
    try {
      const all = target === ALL_STREAMS;
      const lastId = natural(c.req.header("last-event-id"), "Last-Event-ID");
      let from = natural(c.req.query("from"), "from") ?? 0;
      const t = all ? types(c) : undefined;
      const prefix = all ? c.req.query("prefix") : undefined;
      await store.readBarrier(readOptions(c, fallback));
      if (!all && sm.streamInfo(target)?.deleted === "hard") {
        throw new StreamDeletedError(target, "subscribe to");
      }
      // Resume after the last event the client saw: its SSE id is its position. A stream's
      // revision after it is known only once this node has applied that far (it may be
      // behind the node the client saw it on).
      if (lastId !== undefined && !all) await store.waitForPosition(lastId);
      if (lastId !== undefined) from = all ? lastId + 1 : sm.revisionAfterPosition(target, lastId);
      // HEAD gets the GET handler's answer without its body: nobody would read or cancel a
      // stream started for it, which would run (and hold memory) for good.
      if (c.req.method === "HEAD") {
        return c.body(null, 200, {
          "content-type": "text/event-stream",
          "cache-control": "no-cache",
        });
      }
      return streamSSE(c, async (sse) => {
        const ac = new AbortController();
        sse.onAbort(() => ac.abort());
        const beat = setInterval(() => void sse.write(": heartbeat\n\n"), heartbeatMs);
        const out = new SseWriter();
        try {
          const pages = store.subscribePages(target, {
            from,
            signal: ac.signal,
            pageSize: SSE_PAGE_SIZE,
            ...(t !== undefined ? { type: t } : {}),
            ...(prefix !== undefined && prefix !== "" ? { prefix } : {}),
          });
          for await (const page of pages) {
            if (page.kind === "caught-up") {
              await sse.write(`event: caught-up\ndata: {"position":${page.position}}\n\n`);
            } else {
              for (const e of page.events) out.event(e);
              // Resolves once the client took it: a slow client slows this loop, nothing queues.
              await sse.write(out.take());
            }
            if (sse.aborted) break;
          }
        } catch (e) {
          // The status a request would have had: 5xx tells the client to resume, others not.
          const { status, body } = classify(e);
          await sse.write(`event: error\ndata: ${JSON.stringify({ ...body, status })}\n\n`);
        } finally {
          clearInterval(beat);
        }
      });
    } catch (e) {
      return fail(c, e);
    }
  };

  app.get("/subscribe/all", (c) => subscribe(c, ALL_STREAMS));
  app.get("/subscribe/streams/:stream", (c) => {
    try {
      return subscribe(c, streamParam(c));
    } catch (e) {
      return fail(c, e);
    }
  });

  app.get("/projections/:name", async (c) => {
    try {
      const v = await store.getProjection(c.req.param("name"), undefined, readOptions(c, fallback));
      return c.json(v);
    } catch (e) {
      return fail(c, e);
    }
  });

  app.get("/projections/:name/:key", async (c) => {
    try {
      const v = await store.getProjection(
        c.req.param("name"),
        c.req.param("key"),
        readOptions(c, fallback),
      );
      return c.json(v);
    } catch (e) {
      return fail(c, e);
    }
  });

  return app;
}
