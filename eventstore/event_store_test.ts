import assert from "node:assert/strict";
import { NotLeaderError } from "../raft/core/errors.ts";
import { TimeoutError } from "../raft/node_errors.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import {
  EventIdConflictError,
  EventNotFoundError,
  InvalidEventError,
  InvalidStreamNameError,
  ProjectionNotFoundError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
} from "./errors.ts";
import { EventStore, type EventStoreStartOptions, type SubscriptionItem } from "./event_store.ts";

async function single(
  extra: Partial<EventStoreStartOptions> = {},
): Promise<EventStore> {
  const store = await EventStore.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1"]),
    transport: { send() {} },
    tickMs: 2,
    ...extra,
  });
  await store.node.waitForLeader(5000);
  return store;
}

async function take(
  it: AsyncIterator<SubscriptionItem>,
  n: number,
): Promise<SubscriptionItem[]> {
  const out: SubscriptionItem[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

const label = (i: SubscriptionItem) =>
  i.kind === "event" ? `${i.event.stream}/${i.event.revision}@${i.event.position}` : "caught-up";

Deno.test("EventStore.append() and read() round-trip events with JSON data", async () => {
  const store = await single();
  try {
    const r = await store.append("orders-1", [
      { id: "a", type: "Placed", data: { total: 5 }, metadata: { user: "u" } },
      { id: "b", type: "Paid", data: [1, 2] },
    ], { expectedRevision: "no_stream" });
    assert.deepEqual(r, {
      stream: "orders-1",
      firstRevision: 0,
      lastRevision: 1,
      position: 1,
      replayed: false,
    });
    const { events, next } = await store.read("orders-1");
    assert.equal(next, null);
    assert.deepEqual(events.map((e) => [e.id, e.type, e.data, e.metadata]), [
      ["a", "Placed", { total: 5 }, { user: "u" }],
      ["b", "Paid", [1, 2], null],
    ]);
    assert.ok(events[0]!.timestamp > 0);
    assert.equal((await store.readEvent("orders-1", 1)).id, "b");
    const single = await store.append("orders-1", { type: "Shipped" }, { expectedRevision: 1 });
    assert.equal(single.firstRevision, 2);
    assert.equal((await store.readAll({ type: "Shipped" })).events.length, 1);
    const bin = await store.append("blobs", { type: "Blob", data: new Uint8Array([1, 2, 3]) });
    assert.deepEqual(
      (await store.readEvent("blobs", bin.firstRevision)).data,
      new Uint8Array([1, 2, 3]),
    );
  } finally {
    await store.stop();
  }
});

Deno.test("EventStore.append() rejects with the store's typed errors", async () => {
  const store = await single();
  try {
    await store.append("s", [{ id: "a", type: "T" }]);
    await assert.rejects(
      store.append("s", [{ type: "T" }], { expectedRevision: 5 }),
      (e: unknown) => e instanceof WrongExpectedRevisionError && e.currentRevision === 0,
    );
    await assert.rejects(
      store.append("s", [{ id: "a", type: "T" }, { id: "x", type: "T" }]),
      EventIdConflictError,
    );
    await assert.rejects(store.append("s", []), InvalidEventError);
    await assert.rejects(store.append("$s", [{ type: "T" }]), InvalidStreamNameError);
    await assert.rejects(store.append("s", [{ type: "T" }], { expectedRevision: -3 }), TypeError);
    assert.deepEqual(await store.deleteStream("s", { hard: true }), { stream: "s", hard: true });
    await assert.rejects(store.append("s", [{ type: "T" }]), StreamDeletedError);
    await assert.rejects(store.read("s"), StreamDeletedError);
    await assert.rejects(store.read("nope"), StreamNotFoundError);
    await assert.rejects(store.readEvent("nope2", 0), StreamNotFoundError);
    await store.append("t", [{ type: "T" }]);
    await assert.rejects(store.readEvent("t", 3), EventNotFoundError);
  } finally {
    await store.stop();
  }
});

Deno.test("EventStore.append() retried with the same ids returns the original result", async () => {
  const store = await single();
  try {
    const events = [{ id: crypto.randomUUID(), type: "T" }, { id: crypto.randomUUID(), type: "U" }];
    const first = await store.append("s", events, { expectedRevision: "no_stream" });
    await store.append("other", [{ type: "X" }]);
    const again = await store.append("s", events, { expectedRevision: "no_stream" });
    assert.deepEqual(again, { ...first, replayed: true });
    assert.equal((await store.read("s")).events.length, 2);
  } finally {
    await store.stop();
  }
});

Deno.test("EventStore metadata: setMetadata() applies retention, getMetadata() reads it", async () => {
  const store = await single();
  try {
    for (let i = 0; i < 5; i++) await store.append("s", [{ type: "T", data: i }]);
    assert.deepEqual(await store.setMetadata("s", { maxCount: 2 }), { maxCount: 2 });
    assert.deepEqual(await store.getMetadata("s"), { maxCount: 2 });
    assert.deepEqual((await store.read("s")).events.map((e) => e.data), [3, 4]);
    assert.deepEqual(await store.getMetadata("unknown"), {});
  } finally {
    await store.stop();
  }
});

Deno.test("EventStore reads: linearizable on the leader, minPosition waits, leader elsewhere throws", async () => {
  const store = await single();
  try {
    const r = await store.append("s", [{ type: "T" }]);
    const lin = await store.read("s", { consistency: "linearizable", minPosition: r.position });
    assert.equal(lin.events.length, 1);
    await store.read("s", { consistency: "leader" });
    await assert.rejects(
      store.read("s", { minPosition: r.position + 1, timeoutMs: 30 }),
      TimeoutError,
    );
    const waiting = store.read("s", { minPosition: r.position + 1, timeoutMs: 5000 });
    await store.append("s", [{ type: "T" }]);
    assert.equal((await waiting).events.length, 2);
    await assert.rejects(
      store.read("s", { consistency: "eventual" as "local" }),
      TypeError,
    );
  } finally {
    await store.stop();
  }
  // A node of a two-node cluster whose peer never answers has no leader.
  const lonely = await EventStore.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1", "n2"]),
    transport: { send() {} },
    tickMs: 2,
  });
  try {
    await assert.rejects(lonely.read("s", { consistency: "leader" }), NotLeaderError);
    await assert.rejects(lonely.read("s", { consistency: "local" }), StreamNotFoundError);
  } finally {
    await lonely.stop();
  }
});

Deno.test("EventStore.subscribe() yields history, then caught-up, then live events", async () => {
  const store = await single();
  const ac = new AbortController();
  try {
    await store.append("a", [{ type: "T" }, { type: "T" }]);
    await store.append("b", [{ type: "T" }]);
    const all = store.subscribe("$all", { signal: ac.signal })[Symbol.asyncIterator]();
    const stream = store.subscribe("a", { from: 1, signal: ac.signal })[Symbol.asyncIterator]();
    assert.deepEqual((await take(all, 4)).map(label), ["a/0@0", "a/1@1", "b/0@2", "caught-up"]);
    assert.deepEqual((await take(stream, 2)).map(label), ["a/1@1", "caught-up"]);
    const nextAll = take(all, 2);
    const nextStream = take(stream, 1);
    await store.append("b", [{ type: "T" }]);
    await store.append("a", [{ type: "T" }]);
    assert.deepEqual((await nextAll).map(label), ["b/1@3", "a/2@4"]);
    assert.deepEqual((await nextStream).map(label), ["a/2@4"]);
    ac.abort();
    assert.equal((await all.next()).done, true);
  } finally {
    ac.abort();
    await store.stop();
  }
});

Deno.test("EventStore.subscribe() on $all filters by type and prefix and resumes from a position", async () => {
  const store = await single();
  const ac = new AbortController();
  try {
    await store.append("orders-1", [{ type: "Placed" }, { type: "Paid" }]);
    await store.append("users-1", [{ type: "Placed" }]);
    await store.append("orders-2", [{ type: "Placed" }]);
    const it = store.subscribe("$all", {
      from: 1,
      type: "Placed",
      prefix: "orders-",
      signal: ac.signal,
    })
      [Symbol.asyncIterator]();
    assert.deepEqual((await take(it, 2)).map(label), ["orders-2/0@3", "caught-up"]);
  } finally {
    ac.abort();
    await store.stop();
  }
});

Deno.test("EventStore.subscribe() waits for a stream that does not exist yet and ends on hard delete", async () => {
  const store = await single();
  try {
    const it = store.subscribe("later")[Symbol.asyncIterator]();
    assert.deepEqual((await take(it, 1)).map(label), ["caught-up"]);
    const next = take(it, 1);
    await store.append("later", [{ type: "T" }]);
    assert.deepEqual((await next).map(label), ["later/0@0"]);
    const after = it.next();
    await store.deleteStream("later", { hard: true });
    await assert.rejects(after, StreamDeletedError);
  } finally {
    await store.stop();
  }
});

Deno.test("EventStore.subscribe() lets a slow consumer fall behind and catch up from the log", async () => {
  const store = await single();
  const ac = new AbortController();
  try {
    const it = store.subscribe("$all", { signal: ac.signal, pageSize: 50 })[Symbol.asyncIterator]();
    assert.deepEqual((await take(it, 1)).map(label), ["caught-up"]);
    // Thousands of events while the consumer does not pull: nothing is queued for it.
    for (let i = 0; i < 40; i++) {
      await store.append(`s-${i % 3}`, Array.from({ length: 100 }, () => ({ type: "T" })));
    }
    const got = await take(it, 4000);
    assert.deepEqual(got.map((g) => g.kind === "event" ? g.event.position : -1), [
      ...Array(4000).keys(),
    ]);
  } finally {
    ac.abort();
    await store.stop();
  }
});

Deno.test("EventStore.subscribe() ends when the store stops", async () => {
  const store = await single();
  const it = store.subscribe("$all")[Symbol.asyncIterator]();
  assert.deepEqual((await take(it, 1)).map(label), ["caught-up"]);
  const pending = it.next();
  await store.stop();
  assert.equal((await pending).done, true);
});

Deno.test("EventStore projections: keyed and unkeyed state via getProjection()", async () => {
  const store = await single({
    projections: [{ name: "count", init: 0, apply: (n: number) => n + 1 }],
  });
  try {
    store.defineProjection<number>({
      name: "balances",
      init: 0,
      key: (e) => e.stream,
      apply: (b, e) => e.type === "Deposited" ? b + (e.data as { amount: number }).amount : b,
    });
    await store.append("acc-1", [{ type: "Deposited", data: { amount: 5 } }]);
    await store.append("acc-2", [{ type: "Deposited", data: { amount: 7 } }]);
    await store.append("acc-1", [{ type: "Deposited", data: { amount: 1 } }]);
    assert.deepEqual(await store.getProjection("count"), { name: "count", position: 2, state: 3 });
    assert.deepEqual(await store.getProjection("balances", "acc-1"), {
      name: "balances",
      key: "acc-1",
      position: 2,
      state: 6,
    });
    assert.deepEqual(await store.getProjection("balances"), {
      name: "balances",
      position: 2,
      state: undefined,
      keys: 2,
    });
    await assert.rejects(store.getProjection("balances", "acc-9"), ProjectionNotFoundError);
    await assert.rejects(store.getProjection("nope"), ProjectionNotFoundError);
    assert.throws(
      () => store.defineProjection({ name: "count", init: 0, apply: (n) => n }),
      TypeError,
    );
  } finally {
    await store.stop();
  }
});

Deno.test("EventStore restarts from its snapshot and replays only the tail", async () => {
  const storage = MemoryStorage.withVoters(["n1"]);
  const projections = [{
    name: "count",
    init: 0,
    apply: (n: number) => n + 1,
    snapshotEvery: 7,
  }];
  const store = await single({ storage, snapshotEvery: 20, snapshotKeep: 5, projections });
  const results = [];
  for (let i = 0; i < 55; i++) {
    results.push(await store.append(`s-${i % 4}`, [{ id: `e${i}`, type: "T", data: i }]));
  }
  await store.stop();
  const snapIndex = storage.snapshot().metadata.index;
  assert.ok(snapIndex >= 20 && snapIndex < 55, `snapshot at ${snapIndex}, with a tail after it`);
  // Events are kept, so the log was not compacted.
  assert.equal(storage.firstIndex(), 1);

  const again = await single({ storage, projections });
  try {
    const all = await again.readAll({ limit: 1000 });
    assert.deepEqual(all.events.map((e) => e.data), [...Array(55).keys()]);
    assert.deepEqual((await again.getProjection("count")).state, 55);
    const retry = await again.append("s-0", [{ id: "e0", type: "T", data: 0 }]);
    assert.deepEqual(retry, { ...results[0], replayed: true });
    const next = await again.append("s-0", [{ type: "T" }], { expectedRevision: 13 });
    assert.equal(next.position, 55);
  } finally {
    await again.stop();
  }
});

Deno.test("EventStore answers are copies: changing them changes nothing in the store", async () => {
  const store = await single({
    projections: [
      { name: "tot", init: { n: 0 }, apply: (s: { n: number }) => ({ n: s.n + 1 }) },
      {
        name: "tags",
        init: { seen: [] as string[] },
        key: (e) => e.stream,
        // Changes its state in place: each key must still start from its own copy of init.
        apply: (s: { seen: string[] }, e) => (s.seen.push(e.type), s),
      },
    ],
  });
  try {
    await store.append("s", [{ type: "A" }, { type: "B" }]);
    await store.append("t", [{ type: "C" }]);
    const v = await store.getProjection<{ n: number }>("tot");
    v.state!.n = 1000;
    assert.equal((await store.getProjection<{ n: number }>("tot")).state!.n, 3);
    assert.deepEqual((await store.getProjection("tags", "t")).state, { seen: ["C"] });
    const k = await store.getProjection<{ seen: string[] }>("tags", "s");
    k.state!.seen.push("X");
    assert.deepEqual((await store.getProjection("tags", "s")).state, { seen: ["A", "B"] });
    const m = await store.setMetadata("s", { custom: { tags: ["a"] } });
    (m.custom!.tags as string[]).push("b");
    const read = await store.getMetadata("s");
    assert.deepEqual(read.custom, { tags: ["a"] });
    (read.custom!.tags as string[]).push("c");
    assert.deepEqual((await store.getMetadata("s")).custom, { tags: ["a"] });
  } finally {
    await store.stop();
  }
});

Deno.test("EventStore.listStreams() lists the streams that exist in creation order, by prefix, in pages", async () => {
  const store = await single();
  try {
    for (const s of ["orders-1", "carts-1", "orders-2", "orders-3", "carts-2"]) {
      await store.append(s, { type: "T" });
    }
    await store.append("orders-2", { type: "T" });
    await store.deleteStream("orders-3"); // soft: gone until written again
    await store.deleteStream("carts-2", { hard: true }); // tombstoned for good
    await store.deleteStream("carts-1");
    await store.append("carts-1", { type: "T" }); // back, numbering goes on
    const names = (l: { streams: { stream: string; revision: number }[] }) =>
      l.streams.map((s) => `${s.stream}@${s.revision}`);

    const all = await store.listStreams();
    assert.deepEqual(names(all), ["orders-1@0", "carts-1@1", "orders-2@1"]);
    assert.equal(all.next, null);
    assert.deepEqual(names(await store.listStreams({ prefix: "orders-" })), [
      "orders-1@0",
      "orders-2@1",
    ]);

    const pages: string[][] = [];
    let from: number | null = 0;
    while (from !== null) {
      const page = await store.listStreams({ from, limit: 1, prefix: "orders-" });
      pages.push(names(page));
      from = page.next;
    }
    // A page holds at most `limit` streams; the streams skipped on the way do not count.
    assert.deepEqual(pages.flat(), ["orders-1@0", "orders-2@1"]);
    assert.ok(pages.every((p) => p.length <= 1));

    assert.deepEqual(await store.listStreams({ from: 99 }), { streams: [], next: null });
    await assert.rejects(store.listStreams({ limit: 0 }), RangeError);
    await assert.rejects(store.listStreams({ from: -1 }), RangeError);
  } finally {
    await store.stop();
  }
});
