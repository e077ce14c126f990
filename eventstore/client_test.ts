import assert from "node:assert/strict";
import type { Hono } from "hono";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { eventStoreRoutes } from "../transport/eventstore_routes.ts";
import { parseSse } from "./_sse.ts";
import { type ClientSubscriptionItem, RaftlogClient, RaftlogHttpError } from "./client.ts";
import {
  EventNotFoundError,
  InvalidEventError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
} from "./errors.ts";
import { EventStore } from "./event_store.ts";

async function withApp(fn: (app: Hono, store: EventStore) => Promise<void>): Promise<void> {
  const store = await EventStore.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1"]),
    transport: { send() {} },
    tickMs: 2,
    projections: [{ name: "count", init: 0, apply: (n: number) => n + 1 }],
  });
  await store.node.waitForLeader(5000);
  try {
    await fn(eventStoreRoutes(store, { heartbeatMs: 20 }), store);
  } finally {
    await store.stop();
  }
}

const inProcess = (app: Hono) => (url: string, init?: RequestInit) => app.request(url, init);

async function take(
  it: AsyncIterator<ClientSubscriptionItem>,
  n: number,
): Promise<ClientSubscriptionItem[]> {
  const out: ClientSubscriptionItem[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

const label = (i: ClientSubscriptionItem) =>
  i.kind === "event" ? `${i.event.stream}/${i.event.revision}@${i.event.position}` : "caught-up";

Deno.test("parseSse() handles CRLF, CR, multi-line data, comments, ids and retry", async () => {
  const text = "retry: 500\r\nid: 7\r\ndata: a\r\ndata: b\r\n\r\n:comment\r\r" +
    "event: caught-up\rdata: {}\r\r" + "data: no-id\n\n" + "id: 9\n\n";
  const chunks = [text.slice(0, 5), text.slice(5, 23), text.slice(23)];
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(new TextEncoder().encode(ch));
      c.close();
    },
  });
  const got = [];
  for await (const m of parseSse(body)) got.push(m);
  assert.deepEqual(got, [
    { event: "message", data: "a\nb", id: "7", retry: 500 },
    { event: "caught-up", data: "{}", id: "7", retry: 500 },
    { event: "message", data: "no-id", id: "7", retry: 500 },
  ]);
});

Deno.test("RaftlogClient round-trips appends, reads, metadata, deletes and projections", () =>
  withApp(async (app) => {
    const client = new RaftlogClient({ urls: "http://n1/", fetch: inProcess(app) });
    const r = await client.append("orders-1", [
      { type: "Placed", data: { total: 3 }, metadata: { by: "me" } },
      { type: "Paid" },
    ], { expectedRevision: "no_stream" });
    assert.deepEqual(r, {
      stream: "orders-1",
      firstRevision: 0,
      lastRevision: 1,
      position: 1,
      replayed: false,
    });
    const page = await client.read<{ total: number }>("orders-1", {
      limit: 1,
      consistency: "local",
    });
    assert.equal(page.events[0]!.data.total, 3);
    assert.deepEqual(page.events[0]!.metadata, { by: "me" });
    assert.equal(page.next, 1);
    assert.equal((await client.readEvent("orders-1", 1)).type, "Paid");
    await client.append("users-1", { type: "Placed" });
    const all = await client.readAll({ type: ["Placed"], direction: "backward" });
    assert.deepEqual(all.events.map((e) => e.stream), ["users-1", "orders-1"]);
    assert.deepEqual(await client.setMetadata("orders-1", { maxCount: 1 }), { maxCount: 1 });
    assert.deepEqual(await client.getMetadata("orders-1"), { maxCount: 1 });
    assert.deepEqual((await client.read("orders-1")).events.map((e) => e.revision), [1]);
    assert.deepEqual(await client.getProjection("count"), { name: "count", position: 2, state: 3 });
    await client.deleteStream("users-1", { hard: true });
    await assert.rejects(client.read("users-1"), StreamDeletedError);
  }));

Deno.test("RaftlogClient.listStreams() pages through the streams with a prefix", () =>
  withApp(async (app, store) => {
    for (const s of ["orders-1", "users-1", "orders-2"]) await store.append(s, { type: "T" });
    const client = new RaftlogClient({ urls: "http://n1", fetch: inProcess(app) });
    const page = await client.listStreams({ prefix: "orders-", limit: 1 });
    assert.deepEqual(page, { streams: [{ stream: "orders-1", revision: 0 }], next: 1 });
    const next = await client.listStreams({ prefix: "orders-", from: page.next! });
    assert.deepEqual(next, { streams: [{ stream: "orders-2", revision: 0 }], next: null });
  }));

Deno.test("RaftlogClient turns error answers into the store's typed errors", () =>
  withApp(async (app) => {
    const client = new RaftlogClient({ urls: "http://n1", fetch: inProcess(app) });
    await client.append("s", [{ type: "T" }, { type: "T" }]);
    await assert.rejects(
      client.append("s", { type: "T" }, { expectedRevision: 0 }),
      (e: unknown) =>
        e instanceof WrongExpectedRevisionError && e.currentRevision === 1 &&
        e.message === "Cannot append to stream s: expected revision 0, stream is at 1",
    );
    await assert.rejects(client.read("missing"), StreamNotFoundError);
    await assert.rejects(client.readEvent("s", 5), EventNotFoundError);
    await assert.rejects(client.append("s", { type: "$bad" }), InvalidEventError);
    await assert.rejects(
      client.read("s", { consistency: "bogus" as "local" }),
      (e: unknown) => e instanceof RaftlogHttpError && e.status === 400,
    );
  }));

Deno.test("RaftlogClient.append() retries with the same ids after a lost response and gets the original result", () =>
  withApp(async (app, store) => {
    let calls = 0;
    const flaky = async (url: string, init?: RequestInit) => {
      calls++;
      const res = await app.request(url, init);
      // The first two answers are lost on the way back (the writes did happen).
      if (calls <= 2) throw new TypeError("connection reset");
      return res;
    };
    const client = new RaftlogClient({
      urls: ["http://a", "http://b"],
      fetch: flaky,
      retryDelayMs: 1,
    });
    const r = await client.append("s", [{ type: "T" }, { type: "U" }], {
      expectedRevision: "no_stream",
    });
    assert.equal(calls, 3);
    assert.deepEqual(r, {
      stream: "s",
      firstRevision: 0,
      lastRevision: 1,
      position: 1,
      replayed: true,
    });
    assert.equal((await store.read("s")).events.length, 2);
  }));

Deno.test("RaftlogClient retries 503 on the next node and follows 307 to the leader", () =>
  withApp(async (app) => {
    const seen: string[] = [];
    const cluster = (url: string, init?: RequestInit) => {
      const u = new URL(url);
      seen.push(`${init?.method ?? "GET"} ${u.host}`);
      if (u.host === "down") {
        return Promise.resolve(
          Response.json({ error: "no_leader", message: "No leader is known" }, { status: 503 }),
        );
      }
      if (u.host === "follower") {
        return Promise.resolve(
          new Response(null, {
            status: 307,
            headers: { location: `http://leader${u.pathname}${u.search}` },
          }),
        );
      }
      return app.request(url, init);
    };
    const client = new RaftlogClient({
      urls: ["http://down", "http://follower"],
      fetch: cluster,
      retryDelayMs: 1,
    });
    const r = await client.append("s", { type: "T" });
    assert.equal(r.position, 0);
    assert.deepEqual(seen, ["POST down", "POST follower", "POST leader"]);
    const hinted = (url: string, init?: RequestInit) => {
      if (new URL(url).host === "stale") {
        return Response.json({ error: "not_leader", message: "x", leaderUrl: "http://leader" }, {
          status: 503,
        });
      }
      return app.request(url, init);
    };
    const viaHint = new RaftlogClient({ urls: "http://stale", fetch: hinted, retryDelayMs: 1 });
    assert.equal((await viaHint.append("s", { type: "T" })).position, 1);
    const alwaysDown = new RaftlogClient({
      urls: "http://down",
      fetch: cluster,
      retries: 2,
      retryDelayMs: 1,
    });
    await assert.rejects(
      alwaysDown.append("s", { type: "T" }),
      (e: unknown) => e instanceof RaftlogHttpError && e.status === 503 && e.code === "no_leader",
    );
  }));

Deno.test("RaftlogClient.subscribe() catches up, goes live, and resumes with Last-Event-ID after a cut", () =>
  withApp(async (app, store) => {
    for (let i = 0; i < 5; i++) await store.append(`s-${i % 2}`, [{ type: "T", data: i }]);
    let connects = 0;
    const lastIds: (string | null)[] = [];
    // The first connection is cut after its first three events.
    const cutting = async (url: string, init?: RequestInit) => {
      const res = await app.request(url, init);
      if (!url.includes("/subscribe/")) return res;
      connects++;
      lastIds.push(new Headers(init?.headers).get("last-event-id"));
      if (connects > 1) return res;
      let frames = 0;
      const reader = res.body!.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          const { value, done } = await reader.read();
          if (done) return c.close();
          const text = new TextDecoder().decode(value);
          const parts = text.split("\n\n").filter((p) => p.startsWith("id:"));
          if (frames + parts.length >= 3) {
            const keep = parts.slice(0, 3 - frames).map((p) => p + "\n\n").join("");
            c.enqueue(new TextEncoder().encode(keep));
            await reader.cancel();
            c.error(new TypeError("connection reset"));
            return;
          }
          frames += parts.length;
          c.enqueue(value);
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const client = new RaftlogClient({ urls: "http://n1", fetch: cutting, retryDelayMs: 1 });
    const ac = new AbortController();
    const it = client.subscribe("$all", { signal: ac.signal })[Symbol.asyncIterator]();
    const history = await take(it, 6);
    assert.deepEqual(history.map(label), [
      "s-0/0@0",
      "s-1/0@1",
      "s-0/1@2",
      "s-1/1@3",
      "s-0/2@4",
      "caught-up",
    ]);
    assert.deepEqual(lastIds, [null, "2"]);
    const live = take(it, 2);
    await store.append("s-1", { type: "T" });
    await store.append("s-0", { type: "T" });
    assert.deepEqual((await live).map(label), ["s-1/2@5", "s-0/3@6"]);
    ac.abort();
    assert.equal((await it.next()).done, true);
  }));

Deno.test("RaftlogClient.subscribe() resumes after a server error event with a 5xx status, not after a 4xx", () =>
  withApp(async (app, store) => {
    for (let i = 0; i < 3; i++) await store.append("s", { type: "T", data: i });
    const lastIds: (string | null)[] = [];
    // The first connection sends one event, then an error event with `status`.
    const failing = (status: number) => (url: string, init?: RequestInit) => {
      if (!url.includes("/subscribe/")) return Promise.resolve(app.request(url, init));
      lastIds.push(new Headers(init?.headers).get("last-event-id"));
      if (lastIds.length > 1) return Promise.resolve(app.request(url, init));
      const event = JSON.stringify({
        id: "e0",
        stream: "s",
        type: "T",
        data: 0,
        metadata: null,
        revision: 0,
        position: 0,
        timestamp: 1,
      });
      const error = JSON.stringify({ error: "internal", message: "boom", status });
      return Promise.resolve(
        new Response(`id: 0\ndata: ${event}\n\nevent: error\ndata: ${error}\n\n`, {
          headers: { "content-type": "text/event-stream" },
        }),
      );
    };
    const client = new RaftlogClient({ urls: "http://n1", fetch: failing(500), retryDelayMs: 1 });
    const ac = new AbortController();
    const it = client.subscribe("s", { signal: ac.signal })[Symbol.asyncIterator]();
    assert.deepEqual((await take(it, 4)).map(label), ["s/0@0", "s/1@1", "s/2@2", "caught-up"]);
    assert.deepEqual(lastIds, [null, "0"]);
    ac.abort();
    lastIds.length = 0;
    const strict = new RaftlogClient({ urls: "http://n1", fetch: failing(400), retryDelayMs: 1 });
    const it2 = strict.subscribe("s")[Symbol.asyncIterator]();
    await it2.next();
    await assert.rejects(
      it2.next(),
      (e: unknown) => e instanceof RaftlogHttpError && e.status === 400,
    );
    assert.equal(lastIds.length, 1);
  }));

Deno.test("RaftlogClient.subscribe() to a stream throws StreamDeletedError when it is tombstoned", () =>
  withApp(async (app, store) => {
    await store.append("gone", { type: "T" });
    await store.deleteStream("gone", { hard: true });
    const client = new RaftlogClient({ urls: "http://n1", fetch: inProcess(app) });
    const it = client.subscribe("gone")[Symbol.asyncIterator]();
    await assert.rejects(it.next(), StreamDeletedError);
  }));

Deno.test("RaftlogClient works over real HTTP with the platform fetch", () =>
  withApp(async (app, store) => {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
    const ac = new AbortController();
    try {
      const client = new RaftlogClient({ urls: `http://127.0.0.1:${server.addr.port}` });
      await client.append("s", [{ type: "T", data: { a: 1 } }]);
      const it = client.subscribe("s", { signal: ac.signal })[Symbol.asyncIterator]();
      assert.deepEqual((await take(it, 2)).map(label), ["s/0@0", "caught-up"]);
      const next = take(it, 1);
      await store.append("s", { type: "T" });
      assert.deepEqual((await next).map(label), ["s/1@1"]);
      ac.abort();
      await it.return?.();
    } finally {
      ac.abort();
      await server.shutdown();
    }
  }));

Deno.test("RaftlogClient.deleteStream() succeeds when a retry finds the delete done", async () => {
  await withApp(async (app, store) => {
    for (const hard of [false, true]) {
      const stream = `gone-${hard}`;
      await store.append(stream, { type: "T" });
      let calls = 0;
      // The first answer is lost after the node deleted the stream.
      const flaky = async (url: string, init?: RequestInit) => {
        const res = await app.request(url, init);
        if (++calls === 1) throw new TypeError("connection reset");
        return res;
      };
      const client = new RaftlogClient({ urls: "http://n1", fetch: flaky, retryDelayMs: 1 });
      await client.deleteStream(stream, { hard });
      assert.equal(calls, 2);
      // Without a lost answer, deleting what is gone is still an error.
      const plain = new RaftlogClient({ urls: "http://n1", fetch: inProcess(app) });
      await assert.rejects(
        plain.deleteStream(stream, { hard }),
        hard ? StreamDeletedError : StreamNotFoundError,
      );
    }
  });
});

Deno.test("RaftlogClient.deleteStream() reports not found after a mere refusal (no leader there)", async () => {
  // n1 refuses without doing anything and names the leader n2, which finds no such stream.
  const fetch = (url: string | URL | Request) =>
    Promise.resolve(
      String(url).startsWith("http://n1")
        ? Response.json(
          { error: "not_leader", message: "x", leader: "n2", leaderUrl: "http://n2" },
          {
            status: 503,
          },
        )
        : Response.json({ error: "stream_not_found", message: "missing", stream: "missing" }, {
          status: 404,
        }),
    );
  const viaFollower = new RaftlogClient({ urls: "http://n1", fetch, retryDelayMs: 1 });
  await assert.rejects(viaFollower.deleteStream("missing"), StreamNotFoundError);
});

Deno.test("RaftlogClient: every call takes an abort signal", async () => {
  await withApp(async (app) => {
    const sent: string[] = [];
    const client = new RaftlogClient({
      urls: "http://n1",
      fetch: (url, init) => (sent.push(String(url)), app.request(url, init)),
    });
    const aborted = AbortSignal.abort();
    const signal = { signal: aborted };
    await assert.rejects(client.getMetadata("x", signal));
    await assert.rejects(client.setMetadata("x", { maxCount: 1 }, signal));
    await assert.rejects(client.getProjection("p", undefined, signal));
    await assert.rejects(client.deleteStream("x", signal));
    assert.deepEqual(sent, []);
  });
});

Deno.test("RaftlogClient refuses byte data it would send as a JSON object", async () => {
  await withApp(async (app) => {
    const client = new RaftlogClient({ urls: "http://n1", fetch: inProcess(app) });
    await assert.rejects(client.append("b", { type: "Bin", data: new Uint8Array([1]) }), TypeError);
    await assert.rejects(
      client.append("b", [{ type: "T", metadata: new Uint8Array(2) }]),
      TypeError,
    );
    await assert.rejects(client.read("b"), StreamNotFoundError);
  });
});

Deno.test("RaftlogClient makes event ids without crypto.randomUUID (plain-HTTP browser pages)", async () => {
  await withApp(async (app) => {
    const bodies: string[] = [];
    const client = new RaftlogClient({
      urls: "http://n1",
      fetch: async (url, init) => (bodies.push(String(init?.body)), await app.request(url, init)),
    });
    const own = Object.getOwnPropertyDescriptor(crypto, "randomUUID");
    Object.defineProperty(crypto, "randomUUID", { value: undefined, configurable: true });
    try {
      await client.append("u", [{ type: "T" }, { type: "T" }]);
    } finally {
      if (own === undefined) delete (crypto as { randomUUID?: unknown }).randomUUID;
      else Object.defineProperty(crypto, "randomUUID", own);
    }
    const ids = (JSON.parse(bodies[0]!) as { id: string }[]).map((e) => e.id);
    for (const id of ids) {
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    assert.notEqual(ids[0], ids[1]);
    assert.equal(typeof crypto.randomUUID(), "string");
  });
});

Deno.test("RaftlogClient.subscribe() gives up after its retries on a 5xx error event that repeats on every connection", async () => {
  let connections = 0;
  const fetch = (_url: string, _init?: RequestInit) => {
    connections++;
    const error = JSON.stringify({ error: "internal", message: "boom", status: 500 });
    return Promise.resolve(
      new Response(`event: error\ndata: ${error}\n\n`, {
        headers: { "content-type": "text/event-stream" },
      }),
    );
  };
  const client = new RaftlogClient({ urls: "http://n1", fetch, retries: 2, retryDelayMs: 1 });
  const ac = new AbortController();
  const it = client.subscribe("s", { signal: ac.signal })[Symbol.asyncIterator]();
  let thrown: unknown;
  const next = it.next().then(() => undefined, (e) => (thrown = e));
  // Wait until it either threw or reconnected well past retries + 1.
  for (let i = 0; i < 2000 && thrown === undefined && connections < 50; i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
  ac.abort();
  await next;
  assert.ok(
    thrown instanceof RaftlogHttpError && connections <= 3,
    `expected a RaftlogHttpError after 3 connections, got ${thrown} after ${connections}`,
  );
});

Deno.test("RaftlogClient: a node removed from the cluster did nothing: a delete goes on to a member and a 404 there is an error", () =>
  withApp(async (app) => {
    const cluster = (url: string, init?: RequestInit) => {
      if (new URL(url).host === "gone") {
        return Promise.resolve(
          Response.json({ error: "removed", message: "Node n3 was removed", members: [] }, {
            status: 503,
          }),
        );
      }
      return app.request(url, init);
    };
    const client = new RaftlogClient({
      urls: ["http://gone", "http://member"],
      fetch: cluster,
      retryDelayMs: 1,
    });
    await assert.rejects(
      client.deleteStream("never-written"),
      (e: unknown) => e instanceof Error && e.name === "StreamNotFoundError",
    );
  }));
