import assert from "node:assert/strict";
import { EventStore } from "../eventstore/event_store.ts";

import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { createApp } from "./app.ts";
import { eventStoreFastAppend, eventStoreRoutes } from "./eventstore_routes.ts";
import { declaredLength, plainPath } from "./fast_route.ts";
import { NodeMetrics } from "./metrics.ts";
import { serveNode } from "./server.ts";
import { kvFastCommand, kvRoutes } from "./kv_routes.ts";
import { RaftNode } from "../raft/node.ts";
import { KvStateMachine } from "../raft/testing/kv_state_machine.ts";

interface Answer {
  status: number;
  body: unknown;
  headers: Record<string, string | null>;
}

async function answer(res: Response): Promise<Answer> {
  return {
    status: res.status,
    body: await res.json(),
    headers: {
      "content-type": res.headers.get("content-type"),
      location: res.headers.get("location"),
      "retry-after": res.headers.get("retry-after"),
    },
  };
}

function request(stream: string, body: string, headers: Record<string, string> = {}): Request {
  return new Request(`http://127.0.0.1/streams/${stream}`, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      // A constructed Request has no content-length; a real one from a client has.
      "content-length": String(new TextEncoder().encode(body).length),
      ...headers,
    },
  });
}

Deno.test("the fast append route answers every case exactly as the app's route does", async () => {
  // Two single-node stores fed the same requests: one through the app, one through the fast route.
  const stores = await Promise.all([0, 1].map(() =>
    EventStore.start({
      id: "n1",
      storage: MemoryStorage.withVoters(["n1"]),
      transport: { send() {} },
      tickMs: 2,
    })
  ));
  try {
    await Promise.all(stores.map((s) => s.node.waitForLeader(5000)));
    const built = createApp({
      node: stores[0]!.node as RaftNode<unknown>,
      clusterId: "c",
      secret: "s",
      metrics: new NodeMetrics(),
      routes: [eventStoreRoutes(stores[0]!)],
    });
    const fastMetrics = new NodeMetrics();
    const fast = eventStoreFastAppend(stores[1]!, { metrics: fastMetrics });
    const cases: [string, string, Record<string, string>?][] = [
      ["orders-1", JSON.stringify({ id: "e1", type: "Placed", data: { n: 1 } })],
      ["orders-1", JSON.stringify({ id: "e1", type: "Placed", data: { n: 1 } })], // replay: 200
      ["orders-1", JSON.stringify({ type: "Paid" }), { "expected-revision": "5" }], // 409
      ["orders-1", JSON.stringify([{ id: "e2", type: "A" }, { id: "e3", type: "B" }]), {
        "expected-revision": "0",
      }],
      ["orders-1", "{not json"],
      ["orders-1", JSON.stringify({ data: 1 })],
      ["orders-1", JSON.stringify({ type: "T", extra: true })],
      ["orders-1", JSON.stringify({ type: "T" }), { "expected-revision": "soon" }],
      ["$reserved", JSON.stringify({ type: "T" })],
      ["fresh", JSON.stringify({ type: "T" }), { "expected-revision": "stream_exists" }],
      ["fresh", JSON.stringify({ type: "T" }), { "expected-revision": "no_stream" }],
      ["ü-stream", JSON.stringify({ type: "T", data: "é" })],
    ];
    for (const [stream, body, headers] of cases) {
      const viaApp = await answer(await built.app.fetch(request(stream, body, headers)));
      const req = request(stream, body, headers);
      const res = fast(req, new URL(req.url).pathname);
      if (stream.startsWith("ü")) {
        assert.equal(res, undefined, "percent-encoded names are left to the app");
        continue;
      }
      assert.ok(res !== undefined, `fast route took ${stream} ${body}`);
      const viaFast = await answer(await res);
      if (typeof viaApp.body === "object" && viaApp.body !== null && "position" in viaApp.body) {
        assert.equal(typeof (viaFast.body as { position: unknown }).position, "number");
      }
      assert.deepEqual(viaFast, viaApp, `${stream} ${body} ${JSON.stringify(headers)}`);
    }
    assert.ok(fastMetrics.proposals >= 4, "appends are counted in the metrics");
    await built.close();
  } finally {
    await Promise.all(stores.map((s) => s.stop()));
  }
});

Deno.test("the fast append route leaves other methods, paths, followers and oversized bodies to the app", async () => {
  const store = await EventStore.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1", "n2", "n3"]),
    transport: { send() {} },
    tickMs: 2,
  });
  try {
    const fast = eventStoreFastAppend(store, { maxBodyBytes: 100 });
    const small = request("s", JSON.stringify({ type: "T" }));
    assert.equal(fast(small, "/streams/s"), undefined, "not the leader: the app forwards");
    store.node.campaign();
    // A 3-voter node without peers cannot win: the route must keep declining.
    assert.equal(fast(small, "/streams/s"), undefined);
  } finally {
    await store.stop();
  }
  const leader = await EventStore.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1"]),
    transport: { send() {} },
    tickMs: 2,
  });
  try {
    await leader.node.waitForLeader(5000);
    const fast = eventStoreFastAppend(leader, { maxBodyBytes: 100 });
    const get = new Request("http://h/streams/s");
    assert.equal(fast(get, "/streams/s"), undefined);
    const big = request("s", JSON.stringify({ type: "T", data: "x".repeat(200) }));
    assert.equal(fast(big, "/streams/s"), undefined, "over the limit: the app answers 413");
    const nested = request("s", "{}");
    assert.equal(fast(nested, "/streams/s/metadata"), undefined);
    assert.equal(fast(nested, "/streams/"), undefined);
    const ok = fast(request("s", JSON.stringify({ type: "T" })), "/streams/s");
    assert.equal((await ok!).status, 201);
  } finally {
    await leader.stop();
  }
});

Deno.test("plainPath and declaredLength accept only what the fast routes may take", () => {
  assert.equal(plainPath("http://127.0.0.1:7001/streams/a"), "/streams/a");
  assert.equal(plainPath("http://127.0.0.1:7001/streams/a?redirect=true"), undefined);
  assert.equal(plainPath("http://127.0.0.1:7001/streams/a#x"), undefined);
  assert.equal(plainPath("http://127.0.0.1:7001"), undefined);
  const withLength = (v: string) =>
    declaredLength(new Request("http://h/", { method: "POST", headers: { "content-length": v } }));
  assert.equal(withLength("12"), 12);
  assert.equal(withLength("1e3"), undefined);
  assert.equal(withLength("-1"), undefined);
  assert.equal(withLength(""), undefined);
  assert.equal(declaredLength(new Request("http://h/", { method: "POST", body: "x" })), undefined);
});

Deno.test("serveNode offers plain requests within the body limit to its fast routes, the rest to the app", async () => {
  const seen: string[] = [];
  const served = await serveNode({
    id: "n1",
    hostname: "127.0.0.1",
    port: 0,
    peers: {},
    clusterId: "c",
    secret: "s",
    storage: MemoryStorage.withVoters(["n1"]),
    stateMachine: new KvStateMachine(),
    maxBodyBytes: 64,
    fastRoutes: () => [(req, path) => {
      seen.push(`${req.method} ${path}`);
      return path === "/fast" ? Promise.resolve(new Response("fast")) : undefined;
    }],
  });
  try {
    await served.node.waitForLeader(5000);
    const post = (path: string, body: string) =>
      fetch(`${served.url}${path}`, { method: "POST", body });
    const fast = await post("/fast", "{}");
    assert.equal(await fast.text(), "fast");
    const query = await post("/fast?x=1", "{}");
    assert.equal(query.status, 404, "a query string goes to the app");
    await query.body?.cancel();
    const big = await post("/fast", "x".repeat(100));
    assert.equal(big.status, 413, "a body over the limit goes to the app");
    await big.body?.cancel();
    const declined = await post("/other", "{}");
    assert.equal(declined.status, 404, "a declined request goes to the app");
    await declined.body?.cancel();
    // A forwarded write goes to the app, which checks the forwarder is a member.
    const forwarded = await fetch(`${served.url}/fast`, {
      method: "POST",
      body: "{}",
      headers: { "x-raftlog-forwarded-by": "n9" },
    });
    assert.equal(forwarded.status, 403);
    assert.equal((await forwarded.json()).error, "not_a_member");
    assert.deepEqual(seen, ["POST /fast", "POST /other"]);
  } finally {
    await served.stop();
  }
});

Deno.test("the fast key-value command route answers as the app's route does, and declines on followers", async () => {
  const start = () =>
    RaftNode.start({
      id: "n1",
      storage: MemoryStorage.withVoters(["n1"]),
      transport: { send() {} },
      stateMachine: new KvStateMachine(),
      tickMs: 2,
    });
  const [a, b] = [await start(), await start()];
  const follower = await RaftNode.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1", "n2"]),
    transport: { send() {} },
    stateMachine: new KvStateMachine(),
    tickMs: 2,
  });
  try {
    await a.waitForLeader(5000);
    await b.waitForLeader(5000);
    const kvA = new KvStateMachine();
    const app = kvRoutes(a, kvA, new NodeMetrics());
    const fast = kvFastCommand(b, new NodeMetrics());
    const bodies = [
      JSON.stringify({ op: "put", key: "k", value: "1" }),
      JSON.stringify({ op: "cas", key: "k", expected: "0", value: "2" }),
      JSON.stringify({ op: "cas", key: "k", expected: "1", value: "2" }),
      "{oops",
      JSON.stringify({ op: "put", key: "" }),
    ];
    for (const body of bodies) {
      const viaApp = await answer(await app.request("/commands", { method: "POST", body }));
      const res = fast(new Request("http://h/commands", { method: "POST", body }), "/commands");
      assert.ok(res !== undefined);
      assert.deepEqual(await answer(await res), viaApp, body);
    }
    const req = new Request("http://h/commands", { method: "POST", body: bodies[0]! });
    assert.equal(kvFastCommand(follower, new NodeMetrics())(req, "/commands"), undefined);
    assert.equal(fast(new Request("http://h/kv/k"), "/kv/k"), undefined);
  } finally {
    await Promise.all([a.stop(), b.stop(), follower.stop()]);
  }
});
