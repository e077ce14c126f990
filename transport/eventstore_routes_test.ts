import assert from "node:assert/strict";
import type { Hono } from "hono";
import { EventStore } from "../eventstore/event_store.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { eventJson, eventStoreFastAppend, eventStoreRoutes } from "./eventstore_routes.ts";
import { createApp } from "./app.ts";
import { NodeMetrics } from "./metrics.ts";
import type { RaftNode } from "../raft/node.ts";

interface Fixture {
  store: EventStore;
  app: Hono;
}

async function fixture(opts: { requestTimeoutMs?: number } = {}): Promise<Fixture> {
  const store = await EventStore.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1"]),
    transport: { send() {} },
    tickMs: 2,
    projections: [
      { name: "count", init: 0, apply: (n: number) => n + 1 },
      {
        name: "totals",
        init: 0,
        key: (e) => e.stream,
        apply: (t: number, e) => t + ((e.data as { amount?: number } | null)?.amount ?? 0),
      },
    ],
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
  });
  await store.node.waitForLeader(5000);
  return { store, app: eventStoreRoutes(store, { heartbeatMs: 20, maxBodyBytes: 20_000 }) };
}

async function withFixture(fn: (f: Fixture) => Promise<void>, opts = {}): Promise<void> {
  const f = await fixture(opts);
  try {
    await fn(f);
  } finally {
    await f.store.stop();
  }
}

async function post(
  app: Hono,
  stream: string,
  body: unknown,
  expected?: string,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (expected !== undefined) headers["expected-revision"] = expected;
  const res = await app.request(`/streams/${stream}`, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

async function get(app: Hono, path: string, init?: RequestInit) {
  const res = await app.request(path, init);
  return { status: res.status, body: await res.json() };
}

/** Reads SSE frames until `until` returns true for the frames seen; then cancels. */
async function sse(
  res: Response,
  until: (frames: SseFrame[]) => boolean,
  during?: (frames: SseFrame[]) => Promise<void> | void,
): Promise<SseFrame[]> {
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const frames: SseFrame[] = [];
  let buf = "";
  let acted = false;
  try {
    while (!until(frames)) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const raw = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const f: SseFrame = { event: "message", data: "", id: undefined, comment: undefined };
        for (const line of raw.split("\n")) {
          if (line.startsWith(":")) f.comment = line.slice(1).trim();
          else if (line.startsWith("event: ")) f.event = line.slice(7);
          else if (line.startsWith("data: ")) f.data += line.slice(6);
          else if (line.startsWith("id: ")) f.id = line.slice(4);
        }
        frames.push(f);
      }
      if (!acted && during !== undefined && frames.some((f) => f.event === "caught-up")) {
        acted = true;
        await during(frames);
      }
    }
  } finally {
    await reader.cancel();
  }
  return frames;
}

interface SseFrame {
  event: string;
  data: string;
  id: string | undefined;
  comment: string | undefined;
}

const events = (frames: SseFrame[]) =>
  frames.filter((f) => f.event === "message" && f.comment === undefined && f.data !== "");

Deno.test("POST /streams/:stream answers 201, then 200 with the original body on retry", () =>
  withFixture(async ({ app }) => {
    const batch = [{ id: "e-1", type: "Placed", data: { total: 3 } }, { id: "e-2", type: "Paid" }];
    const first = await post(app, "orders-1", batch, "no_stream");
    assert.equal(first.status, 201);
    assert.deepEqual(first.body, {
      stream: "orders-1",
      firstRevision: 0,
      lastRevision: 1,
      position: 1,
    });
    assert.equal(first.headers.get("location"), "/streams/orders-1/0");
    const retry = await post(app, "orders-1", batch, "no_stream");
    assert.equal(retry.status, 200);
    assert.deepEqual(retry.body, first.body);
    const one = await post(app, "orders-1", { type: "Shipped" }, "1");
    assert.equal(one.status, 201);
    assert.deepEqual(one.body, {
      stream: "orders-1",
      firstRevision: 2,
      lastRevision: 2,
      position: 2,
    });
    assert.equal((await post(app, "orders-1", { type: "X" })).status, 201);
    assert.equal((await post(app, "orders-1", { type: "X" }, "any")).status, 201);
    assert.equal((await post(app, "orders-1", { type: "X" }, "stream_exists")).status, 201);
  }));

Deno.test("POST /streams/:stream answers 409 with the current revision on a mismatch", () =>
  withFixture(async ({ app }) => {
    for (let i = 0; i < 7; i++) await post(app, "orders-1", { type: "T" });
    const r = await post(app, "orders-1", { type: "T" }, "4");
    assert.equal(r.status, 409);
    assert.deepEqual(r.body, {
      error: "wrong_expected_revision",
      message: "Cannot append to stream orders-1: expected revision 4, stream is at 6",
      currentRevision: 6,
    });
    const missing = await post(app, "new-stream", { type: "T" }, "stream_exists");
    assert.equal(missing.status, 409);
    assert.equal(missing.body.currentRevision, "no_stream");
    const dup = await post(app, "orders-1", [{ id: "a", type: "T" }]);
    assert.equal(dup.status, 201);
    const partial = await post(app, "orders-1", [{ id: "a", type: "T" }, { id: "b", type: "T" }]);
    assert.equal(partial.status, 409);
    assert.equal(partial.body.error, "event_id_conflict");
  }));

Deno.test("POST /streams/:stream answers 400 for invalid bodies, names and headers, 413 when too large", () =>
  withFixture(async ({ app }) => {
    const cases: [string, unknown, string | undefined, string][] = [
      ["s", "{not json", undefined, "invalid_json"],
      ["s", [], undefined, "invalid_event"],
      ["s", { data: 1 }, undefined, "invalid_event"],
      ["s", { type: "T", extra: 1 }, undefined, "invalid_event"],
      ["s", { type: "$T" }, undefined, "invalid_event"],
      ["s", [{ id: "x", type: "T" }, { id: "x", type: "T" }], undefined, "invalid_event"],
      ["$system", { type: "T" }, undefined, "invalid_stream_name"],
      ["a%20b", { type: "T" }, undefined, "invalid_stream_name"],
      ["s", { type: "T" }, "-1", "invalid_expected_revision"],
      ["s", { type: "T" }, "soon", "invalid_expected_revision"],
    ];
    for (const [stream, body, expected, code] of cases) {
      const r = await post(app, stream, body, expected);
      assert.equal(r.status, 400, `${stream} ${JSON.stringify(body)}`);
      assert.equal(r.body.error, code, JSON.stringify(r.body));
      assert.equal(typeof r.body.message, "string");
    }
    const big = await post(app, "s", { type: "T", data: "x".repeat(30_000) });
    assert.equal(big.status, 413);
    assert.equal(big.body.error, "too_large");
  }));

Deno.test("POST /streams/:stream answers 410 for a hard-deleted stream", () =>
  withFixture(async ({ app }) => {
    await post(app, "s", { type: "T" });
    const del = await app.request("/streams/s?hard=true", { method: "DELETE" });
    assert.deepEqual(await del.json(), { stream: "s", deleted: "hard" });
    const r = await post(app, "s", { type: "T" });
    assert.equal(r.status, 410);
    assert.equal(r.body.error, "stream_deleted");
  }));

Deno.test("GET /streams/:stream pages forward and backward and answers 404, 410 and 400", () =>
  withFixture(async ({ app }) => {
    for (let i = 0; i < 5; i++) await post(app, "s", { id: `e${i}`, type: "T", data: { i } });
    const page = await get(app, "/streams/s?limit=2");
    assert.equal(page.status, 200);
    assert.deepEqual(page.body.events.map((e: { data: { i: number } }) => e.data.i), [0, 1]);
    assert.equal(page.body.next, 2);
    const e0 = page.body.events[0];
    assert.deepEqual(Object.keys(e0).sort(), [
      "data",
      "id",
      "metadata",
      "position",
      "revision",
      "stream",
      "timestamp",
      "type",
    ]);
    assert.equal(e0.id, "e0");
    assert.equal(e0.metadata, null);
    const back = await get(app, "/streams/s?direction=backward&from=3&limit=10&consistency=local");
    assert.deepEqual(back.body.events.map((e: { revision: number }) => e.revision), [3, 2, 1, 0]);
    assert.equal(back.body.next, null);
    assert.equal((await get(app, "/streams/s?consistency=leader&minPosition=4")).status, 200);
    assert.equal((await get(app, "/streams/s?consistency=linearizable")).status, 200);
    const missing = await get(app, "/streams/nope");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, "stream_not_found");
    for (
      const q of [
        "limit=abc",
        "limit=0",
        "limit=10001",
        "direction=sideways",
        "consistency=eventual",
        "from=-1",
        "minPosition=x",
      ]
    ) {
      for (const path of ["/streams/s", "/all"]) {
        const r = await get(app, `${path}?${q}`);
        assert.equal(r.status, 400, `${path}?${q}`);
        assert.equal(r.body.error, "invalid_query", `${path}?${q}`);
      }
    }
    await app.request("/streams/s", { method: "DELETE" });
    assert.equal((await get(app, "/streams/s")).status, 404);
    await post(app, "t", { type: "T" });
    await app.request("/streams/t?hard=true", { method: "DELETE" });
    const gone = await get(app, "/streams/t");
    assert.equal(gone.status, 410);
    assert.equal(gone.body.error, "stream_deleted");
  }));

Deno.test("GET /streams/:stream/:revision answers the event or 404", () =>
  withFixture(async ({ app }) => {
    await post(app, "s", [{ id: "a", type: "T", data: [1], metadata: { m: 1 } }, {
      id: "b",
      type: "U",
    }]);
    const r = await get(app, "/streams/s/0");
    assert.equal(r.status, 200);
    assert.equal(r.body.id, "a");
    assert.deepEqual(r.body.data, [1]);
    assert.deepEqual(r.body.metadata, { m: 1 });
    const missing = await get(app, "/streams/s/9");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, "event_not_found");
    assert.equal((await get(app, "/streams/zz/0")).status, 404);
  }));

Deno.test("GET /all filters by type and prefix and pages with next", () =>
  withFixture(async ({ app }) => {
    await post(app, "orders-1", [{ type: "Placed" }, { type: "Paid" }]);
    await post(app, "users-1", { type: "Placed" });
    await post(app, "orders-2", { type: "Placed" });
    const all = await get(app, "/all?limit=3");
    assert.deepEqual(all.body.events.map((e: { position: number }) => e.position), [0, 1, 2]);
    assert.equal(all.body.next, 3);
    const placed = await get(app, "/all?type=Placed&prefix=orders-");
    assert.deepEqual(placed.body.events.map((e: { stream: string }) => e.stream), [
      "orders-1",
      "orders-2",
    ]);
    const multi = await get(app, "/all?type=Paid,Placed&direction=backward&limit=2");
    assert.deepEqual(multi.body.events.map((e: { position: number }) => e.position), [3, 2]);
    assert.equal(multi.body.next, 1);
    assert.equal((await get(app, "/all?from=x")).status, 400);
  }));

Deno.test("GET /streams lists existing streams by prefix and pages with next", () =>
  withFixture(async ({ app }) => {
    await post(app, "orders-1", [{ type: "Placed" }, { type: "Paid" }]);
    await post(app, "users-1", { type: "Joined" });
    await post(app, "orders-2", { type: "Placed" });
    await app.request("/streams/users-1", { method: "DELETE" });
    const all = await get(app, "/streams");
    assert.equal(all.status, 200);
    assert.deepEqual(all.body, {
      streams: [{ stream: "orders-1", revision: 1 }, { stream: "orders-2", revision: 0 }],
      next: null,
    });
    const first = await get(app, "/streams?prefix=orders-&limit=1&consistency=linearizable");
    assert.deepEqual(first.body, { streams: [{ stream: "orders-1", revision: 1 }], next: 1 });
    const rest = await get(app, `/streams?prefix=orders-&from=${first.body.next}`);
    assert.deepEqual(rest.body.streams, [{ stream: "orders-2", revision: 0 }]);
    for (const q of ["limit=0", "from=x", "consistency=eventual"]) {
      const r = await get(app, `/streams?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.error, "invalid_query", q);
    }
  }));

Deno.test("DELETE /streams/:stream soft-deletes (404 after), checks Expected-Revision, 404 for unknown", () =>
  withFixture(async ({ app }) => {
    await post(app, "s", [{ type: "T" }, { type: "T" }]);
    const wrong = await app.request("/streams/s", {
      method: "DELETE",
      headers: { "expected-revision": "0" },
    });
    assert.equal(wrong.status, 409);
    assert.equal((await wrong.json()).currentRevision, 1);
    const ok = await app.request("/streams/s", {
      method: "DELETE",
      headers: { "expected-revision": "1" },
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { stream: "s", deleted: "soft" });
    assert.equal((await app.request("/streams/s", { method: "DELETE" })).status, 404);
    // Appending again continues the numbering.
    const again = await post(app, "s", { type: "T" }, "no_stream");
    assert.equal(again.body.firstRevision, 2);
    await app.request("/streams/s?hard=true", { method: "DELETE" });
    assert.equal((await app.request("/streams/s", { method: "DELETE" })).status, 410);
  }));

Deno.test("GET and PUT /streams/:stream/metadata validate, apply retention and answer 410 after a hard delete", () =>
  withFixture(async ({ app }) => {
    for (let i = 0; i < 4; i++) await post(app, "s", { type: "T", data: i });
    assert.deepEqual((await get(app, "/streams/s/metadata")).body, {});
    const put = await app.request("/streams/s/metadata", {
      method: "PUT",
      body: JSON.stringify({ maxCount: 2, custom: { owner: "ops" } }),
    });
    assert.equal(put.status, 200);
    assert.deepEqual(await put.json(), { maxCount: 2, custom: { owner: "ops" } });
    assert.deepEqual((await get(app, "/streams/s/metadata")).body, {
      maxCount: 2,
      custom: { owner: "ops" },
    });
    assert.deepEqual(
      (await get(app, "/streams/s")).body.events.map((e: { data: number }) => e.data),
      [2, 3],
    );
    for (const bad of ['{"maxCount":0}', '{"maxAge":"1h"}', '{"other":1}', "nope"]) {
      const r = await app.request("/streams/s/metadata", { method: "PUT", body: bad });
      assert.equal(r.status, 400, bad);
      assert.match((await r.json()).error, /invalid_(metadata|json)/);
    }
    await app.request("/streams/s?hard=true", { method: "DELETE" });
    assert.equal((await get(app, "/streams/s/metadata")).status, 410);
    const r = await app.request("/streams/s/metadata", { method: "PUT", body: '{"maxCount":1}' });
    assert.equal(r.status, 410);
  }));

Deno.test("GET /projections/:name and /projections/:name/:key answer state or 404", () =>
  withFixture(async ({ app }) => {
    await post(app, "acc-1", { type: "Deposited", data: { amount: 5 } });
    await post(app, "acc-1", { type: "Deposited", data: { amount: 2 } });
    await post(app, "acc-2", { type: "Deposited", data: { amount: 1 } });
    assert.deepEqual((await get(app, "/projections/count")).body, {
      name: "count",
      position: 2,
      state: 3,
    });
    assert.deepEqual((await get(app, "/projections/totals")).body, {
      name: "totals",
      position: 2,
      keys: 2,
    });
    assert.deepEqual((await get(app, "/projections/totals/acc-1")).body, {
      name: "totals",
      key: "acc-1",
      position: 2,
      state: 7,
    });
    const missing = await get(app, "/projections/totals/acc-9");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, "projection_not_found");
    assert.equal((await get(app, "/projections/nope")).status, 404);
  }));

Deno.test("reads answer 504 when minPosition is not reached in time", () =>
  withFixture(async ({ app }) => {
    await post(app, "s", { type: "T" });
    const r = await get(app, "/streams/s?minPosition=5&consistency=local");
    assert.equal(r.status, 504);
    assert.equal(r.body.error, "timeout");
  }, { requestTimeoutMs: 50 }));

/** Runs `fn` on the routes of n1 in a two-node cluster whose other node never answers. */
async function withoutLeader(fn: (app: ReturnType<typeof eventStoreRoutes>) => Promise<void>) {
  const store = await EventStore.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1", "n2"]),
    transport: { send() {} },
    tickMs: 2,
  });
  try {
    await fn(eventStoreRoutes(store));
  } finally {
    await store.stop();
  }
}

Deno.test("reads with consistency=leader answer 503 not_leader on a node that is not the leader", () =>
  withoutLeader(async (app) => {
    const r = await get(app, "/all?consistency=leader");
    assert.equal(r.status, 503);
    assert.match(r.body.error, /no_leader|not_leader/);
  }));

Deno.test("a linearizable read on a node that knows no leader answers 503 no_leader", () =>
  withoutLeader(async (app) => {
    const r = await get(app, "/all");
    assert.equal(r.status, 503);
    assert.equal(r.body.error, "no_leader");
  }));

Deno.test("GET /subscribe/all streams history, caught-up, live events, heartbeats, and resumes with Last-Event-ID", () =>
  withFixture(async ({ app }) => {
    await post(app, "a", [{ id: "a0", type: "T" }, { id: "a1", type: "U" }]);
    await post(app, "b", { id: "b0", type: "T" });
    const frames = await sse(
      await app.request("/subscribe/all"),
      (fs) => events(fs).length >= 4 && fs.some((f) => f.comment === "heartbeat"),
      async () => {
        await post(app, "a", { id: "a2", type: "T" });
      },
    );
    const evs = events(frames);
    assert.deepEqual(evs.map((f) => f.id), ["0", "1", "2", "3"]);
    assert.deepEqual(evs.map((f) => JSON.parse(f.data).id), ["a0", "a1", "b0", "a2"]);
    const caught = frames.findIndex((f) => f.event === "caught-up");
    assert.equal(caught, 3);
    assert.deepEqual(JSON.parse(frames[caught]!.data), { position: 2 });

    const resumed = await sse(
      await app.request("/subscribe/all?type=T", { headers: { "last-event-id": "1" } }),
      (fs) => fs.some((f) => f.event === "caught-up"),
    );
    assert.deepEqual(events(resumed).map((f) => f.id), ["2", "3"]);
  }));

Deno.test("GET /subscribe/streams/:stream starts at from, resumes after Last-Event-ID, 410 when deleted", () =>
  withFixture(async ({ app }) => {
    await post(app, "a", [{ type: "T" }, { type: "T" }]);
    await post(app, "b", { type: "T" });
    await post(app, "a", { type: "T" });
    const fromOne = await sse(
      await app.request("/subscribe/streams/a?from=1"),
      (fs) => fs.some((f) => f.event === "caught-up"),
    );
    assert.deepEqual(events(fromOne).map((f) => JSON.parse(f.data).revision), [1, 2]);
    assert.deepEqual(events(fromOne).map((f) => f.id), ["1", "3"]);
    const resumed = await sse(
      await app.request("/subscribe/streams/a", { headers: { "last-event-id": "1" } }),
      (fs) => fs.some((f) => f.event === "caught-up"),
    );
    assert.deepEqual(events(resumed).map((f) => f.id), ["3"]);
    await app.request("/streams/b?hard=true", { method: "DELETE" });
    const gone = await app.request("/subscribe/streams/b");
    assert.equal(gone.status, 410);
    assert.equal((await gone.json()).error, "stream_deleted");
    const bad = await app.request("/subscribe/streams/$x");
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
    const badFrom = await app.request("/subscribe/all?from=-3");
    assert.equal(badFrom.status, 400);
    await badFrom.body?.cancel();
  }));

Deno.test("bodies are taken exactly or refused: bytes that are not UTF-8, numbers JSON cannot keep", () =>
  withFixture(async ({ app, store }) => {
    const enc = new TextEncoder();
    // {"type":"T","data":"<ff fe>"}: 0xff and 0xfe are never UTF-8.
    const bytes = new Uint8Array([
      ...enc.encode('{"type":"T","data":"'),
      0xff,
      0xfe,
      ...enc.encode('"}'),
    ]);
    const fast = eventStoreFastAppend(store);
    const viaFast = await fast(
      new Request("http://h/streams/bin", {
        method: "POST",
        body: bytes,
        headers: { "content-length": String(bytes.length) },
      }),
      "/streams/bin",
    )!;
    const viaApp = await app.request("/streams/bin?x=1", { method: "POST", body: bytes });
    for (const r of [viaFast, viaApp]) {
      assert.equal(r.status, 400);
      const body = await r.json();
      assert.equal(body.error, "invalid_json");
      assert.match(body.message, /not valid UTF-8/);
    }
    const meta = await app.request("/streams/bin/metadata", { method: "PUT", body: bytes });
    assert.equal(meta.status, 400);
    await meta.body?.cancel();
    assert.equal((await get(app, "/streams/bin")).status, 404, "nothing was written");
    // An integer beyond 2^53 or a number beyond the double range would come back changed.
    for (const n of ["12345678901234567891", "-9007199254740993", "1e400"]) {
      const r = await post(app, "big", `{"type":"T","data":{"amount":${n}}}`);
      assert.equal(r.status, 400, n);
      assert.match(String(r.body.message), /cannot be kept exactly.*send it as a string/);
    }
    const ok = await post(
      app,
      "big",
      '{"type":"T","data":{"a":9007199254740991,"b":0.1,"c":1e-400,"id":"12345678901234567891","s":"1e999"}}',
    );
    assert.equal(ok.status, 201);
    const back = await get(app, "/streams/big");
    assert.deepEqual(back.body.events[0].data, {
      a: 9007199254740991,
      b: 0.1,
      c: 0,
      id: "12345678901234567891",
      s: "1e999",
    });
    // Numbers ending a token before a bracket or after spaces are checked too.
    for (
      const body of [
        '{"type":"T","data":[12345678901234567891]}',
        '{"type":"T","data":{"x":1E400 }}',
      ]
    ) {
      assert.equal((await post(app, "big", body)).status, 400, body);
    }
  }));

Deno.test("stream metadata keeps every custom key as sent, __proto__ included", () =>
  withFixture(async ({ app }) => {
    const body = '{"custom":{"__proto__":{"owner":"x"},"b":2}}';
    const put = await app.request("/streams/m/metadata", { method: "PUT", body });
    assert.equal(put.status, 200);
    assert.equal(
      JSON.stringify((await put.json()).custom),
      '{"__proto__":{"owner":"x"},"b":2}',
    );
    const res = await app.request("/streams/m/metadata");
    assert.equal(JSON.stringify((await res.json()).custom), '{"__proto__":{"owner":"x"},"b":2}');
  }));

Deno.test("HEAD on the subscription routes answers without starting a subscription", () =>
  withFixture(async ({ app, store }) => {
    await post(app, "s1", { type: "T" });
    let started = 0;
    const pages = store.subscribePages.bind(store);
    store.subscribePages = (t, o) => (started++, pages(t, o));
    for (const path of ["/subscribe/all", "/subscribe/streams/s1"]) {
      const r = await app.request(path, { method: "HEAD" });
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type") ?? "", /text\/event-stream/);
      await r.body?.cancel();
    }
    // Nobody reads a HEAD answer's body: a subscription started for it would run for good.
    assert.equal(started, 0);
  }));

Deno.test("a stream subscription whose stream is deleted meanwhile ends with an error event carrying status 410", () =>
  withFixture(async ({ app }) => {
    await post(app, "c", { type: "T" });
    const frames = await sse(
      await app.request("/subscribe/streams/c"),
      (fs) => fs.some((f) => f.event === "error"),
      async () => {
        const del = await app.request("/streams/c?hard=true", { method: "DELETE" });
        await del.body?.cancel();
      },
    );
    const error = frames.find((f) => f.event === "error")!;
    assert.deepEqual(
      { ...JSON.parse(error.data), message: undefined },
      { error: "stream_deleted", status: 410, message: undefined },
    );
  }));

Deno.test("GET /subscribe/all writes each event's data line exactly as eventJson() renders it (escapes, non-ASCII, binary bodies)", () =>
  withFixture(async ({ app, store }) => {
    await store.append("s-ü", [
      { id: 'q"1\\', type: "Tÿpe", data: { text: "line\nbreak", emoji: "😀" }, metadata: [1] },
      { id: "bin", type: "T", data: new Uint8Array([0, 1, 255]) },
      { id: "none", type: "T" },
      { id: "plain", type: "T", data: "x", metadata: new Uint8Array([9]) },
    ]);
    const frames = await sse(
      await app.request("/subscribe/all"),
      (fs) => fs.some((f) => f.event === "caught-up"),
    );
    const expected = store.stateMachine.readAll({}).events.map((e) => eventJson(e));
    assert.deepEqual(events(frames).map((f) => f.data), expected);
    assert.deepEqual(events(frames).map((f) => f.id), ["0", "1", "2", "3"]);
  }));

Deno.test("every route of a node's app is served by Hono's RegExpRouter; other sub-paths of a stream are 404", () =>
  withFixture(async ({ store }) => {
    const { app, close } = createApp({
      node: store.node as RaftNode<unknown>,
      clusterId: "c",
      secret: "s",
      metrics: new NodeMetrics(),
      routes: [eventStoreRoutes(store)],
    });
    try {
      await store.append("s", [{ id: "a", type: "T" }]);
      assert.equal((await get(app, "/streams/s/0")).body.id, "a");
      assert.deepEqual((await get(app, "/streams/s/metadata")).body, {});
      const other = await get(app, "/streams/s/other");
      assert.equal(other.status, 404);
      assert.equal(other.body.error, "not_found");
      // SmartRouter names the router it settled on at the first match; a path
      // pattern RegExpRouter cannot compile makes it fall back to the slower TrieRouter.
      assert.equal(app.router.name, "SmartRouter + RegExpRouter");
    } finally {
      close();
    }
  }));

Deno.test("events with binary data or metadata read back as base64, marked as such", async () => {
  await withFixture(async ({ store, app }) => {
    const data = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff);
    await store.append("bin-1", [
      { id: "b-1", type: "Blob", data, metadata: new Uint8Array([0, 255]) },
      { id: "b-2", type: "Json", data: { a: 1 } },
    ]);
    const res = await app.request("/streams/bin-1");
    assert.equal(res.status, 200);
    const { events } = await res.json() as { events: Record<string, unknown>[] };
    assert.equal(events[0]!.dataEncoding, "base64");
    assert.equal(events[0]!.metadataEncoding, "base64");
    assert.deepEqual(Uint8Array.fromBase64(events[0]!.data as string), data);
    assert.equal(events[0]!.metadata, "AP8=");
    assert.deepEqual(events[1]!.data, { a: 1 });
    assert.equal(events[1]!.dataEncoding, undefined);
  });
});

Deno.test("POST with an event id or type holding an unpaired surrogate is 400", async () => {
  await withFixture(async ({ app }) => {
    for (const body of ['{"id":"a\\ud800","type":"T"}', '{"type":"T\\udc00"}']) {
      const r = await post(app, "lone-1", body);
      assert.equal(r.status, 400, body);
      assert.equal(r.body.error, "invalid_event");
      assert.match(String(r.body.message), /unpaired surrogates/);
    }
    assert.equal((await app.request("/streams/lone-1")).status, 404);
  });
});

Deno.test("DELETE ?hard= takes true or false; anything else is 400 and deletes nothing", async () => {
  await withFixture(async ({ app }) => {
    assert.equal((await post(app, "h-1", { type: "T" })).status, 201);
    for (const v of ["1", "yes", "TRUE", ""]) {
      const res = await app.request(`/streams/h-1?hard=${v}`, { method: "DELETE" });
      assert.equal(res.status, 400, v);
      assert.equal((await res.json()).error, "invalid_query");
    }
    assert.equal((await app.request("/streams/h-1")).status, 200);
    const soft = await app.request("/streams/h-1?hard=false", { method: "DELETE" });
    assert.deepEqual(await soft.json(), { stream: "h-1", deleted: "soft" });
  });
});
