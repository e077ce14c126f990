import assert from "node:assert/strict";
import type { Message, SnapshotMessage } from "../raft/core/types.ts";
import type { RaftNode } from "../raft/node.ts";
import { body, bytes, follower, header, snapMessage } from "./_snapshot_harness_test.ts";
import { MessageFormatError } from "./codec.ts";
import { peerRoutes } from "./peer_routes.ts";
import { HttpTransport } from "./peer_transport.ts";
import {
  OFFSET_HEADER,
  SNAPSHOT_HEADER,
  SnapshotReceiver,
  SnapshotSupersededError,
} from "./snapshot_chunks.ts";
import { crc32 } from "node:zlib";

/** A follower served over HTTP and a transport from n1 to it whose requests go through `via`. */
async function overHttp(
  via: typeof fetch,
  run: (
    t: HttpTransport,
    reports: boolean[],
    follower: { node: RaftNode<null>; restored: () => Uint8Array | undefined },
  ) => Promise<void>,
  firstLogIndex?: () => number,
): Promise<void> {
  let restored: Uint8Array | undefined;
  const node = await follower((d) => void (restored = d.slice()));
  const peers = peerRoutes({ node, clusterId: "c", secret: "s" });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, peers.app.fetch);
  const reports: boolean[] = [];
  const t = new HttpTransport({
    id: "n1",
    clusterId: "c",
    secret: "s",
    peers: { n2: `http://127.0.0.1:${server.addr.port}` },
    snapshotChunkBytes: 16 * 1024,
    fetch: via,
    ...(firstLogIndex !== undefined ? { firstLogIndex } : {}),
  });
  t.attach({ reportUnreachable() {}, reportSnapshot: (_, ok) => void reports.push(ok) });
  try {
    await run(t, reports, { node, restored: () => restored });
  } finally {
    t.close();
    await peers.close();
    await server.shutdown();
    await node.stop();
  }
}

Deno.test("snapshot receiver: chunks in order make the snapshot, checked, handed over once", async () => {
  const got: Message[] = [];
  const r = new SnapshotReceiver("n2", (m) => got.push(m));
  const m = snapMessage(bytes(10_000));
  const snapshot = header(m);
  let offset = 0;
  // The first request only asks where to start.
  let a = await r.accept({ from: "n1", snapshot, offset: "0", body: null });
  assert.deepEqual(a, { offset: 0, done: false });
  while (!a.done) {
    const end = Math.min(10_000, offset + 3000);
    a = await r.accept({
      from: "n1",
      snapshot,
      offset: String(offset),
      body: body(m.snapshot.data.subarray(offset, end)),
    });
    offset = a.offset;
  }
  assert.equal(got.length, 1);
  const s = got[0] as SnapshotMessage;
  assert.deepEqual([s.type, s.from, s.to, s.term], ["snap", "n1", "n2", 3]);
  assert.deepEqual(s.snapshot.metadata, m.snapshot.metadata);
  assert.deepEqual(s.snapshot.data, m.snapshot.data);
  assert.equal(r.heldBytes, 0);
});

Deno.test("snapshot receiver: a transfer cut short goes on from the bytes that arrived", async () => {
  const got: Message[] = [];
  const r = new SnapshotReceiver("n2", (m) => got.push(m));
  const m = snapMessage(bytes(5000));
  const snapshot = header(m);
  // A chunk whose connection breaks after 1,234 bytes.
  let pulls = 0;
  const broken = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulls++ === 0) c.enqueue(m.snapshot.data.slice(0, 1234));
      else c.error(new Error("connection reset"));
    },
  });
  await assert.rejects(r.accept({ from: "n1", snapshot, offset: "0", body: broken }), /reset/);
  // A resend from the start is not written: the answer says where to go on.
  const again = await r.accept({
    from: "n1",
    snapshot,
    offset: "0",
    body: body(m.snapshot.data),
  });
  assert.deepEqual(again, { offset: 1234, done: false });
  const rest = await r.accept({
    from: "n1",
    snapshot,
    offset: "1234",
    body: body(m.snapshot.data.subarray(1234)),
  });
  assert.deepEqual(rest, { offset: 5000, done: true });
  assert.deepEqual((got[0] as SnapshotMessage).snapshot.data, m.snapshot.data);
});

Deno.test("snapshot receiver: refuses bad chunks and a corrupt whole, and starts over", async () => {
  const got: Message[] = [];
  const r = new SnapshotReceiver("n2", (m) => got.push(m), { maxBytes: 8192, now: () => 0 });
  const m = snapMessage(bytes(4000));
  const good = header(m);
  const chunk = (snapshot: string | undefined, offset: string | undefined, b: Uint8Array | null) =>
    r.accept({ from: "n1", snapshot, offset, body: b === null ? null : body(b) });
  await assert.rejects(chunk(undefined, "0", null), MessageFormatError);
  await assert.rejects(chunk("%7B", "0", null), MessageFormatError);
  await assert.rejects(chunk(good, "-1", null), MessageFormatError);
  await assert.rejects(chunk(good, "4001", null), MessageFormatError);
  const otherNode = encodeURIComponent(
    decodeURIComponent(good).replace('"to":"n2"', '"to":"n3"'),
  );
  await assert.rejects(chunk(otherNode, "0", null), /for n2/);
  const badMeta = encodeURIComponent(decodeURIComponent(good).replace('"index":40', '"index":-4'));
  await assert.rejects(chunk(badMeta, "0", null), /index/);
  await assert.rejects(chunk(header(snapMessage(bytes(9000))), "0", null), RangeError);
  await assert.rejects(chunk(good, "0", bytes(4001)), /past the snapshot/);
  // The right size with the wrong checksum: refused at the end, and the next try starts at 0.
  const lying = header(m, (crc32(m.snapshot.data) + 1) >>> 0);
  await assert.rejects(chunk(lying, "0", m.snapshot.data), /checksum/);
  assert.deepEqual(await chunk(lying, "0", null), { offset: 0, done: false });
  // Another snapshot from the same sender replaces the partial one.
  assert.deepEqual(await chunk(good, "0", m.snapshot.data.subarray(0, 100)), {
    offset: 100,
    done: false,
  });
  const newer = snapMessage(bytes(300, 7), 50, 3);
  assert.deepEqual(await chunk(header(newer), "0", newer.snapshot.data), {
    offset: 300,
    done: true,
  });
  assert.equal(got.length, 1);
  assert.equal((got[0] as SnapshotMessage).snapshot.metadata.index, 50);
  assert.equal(r.heldBytes, 0);
});

Deno.test("a partial snapshot nobody continues is dropped after ten minutes", async () => {
  let now = 0;
  const r = new SnapshotReceiver("n2", () => {}, { now: () => now });
  const m = snapMessage(bytes(1000));
  await r.accept({ from: "n1", snapshot: header(m), offset: "0", body: body(bytes(10)) });
  assert.equal(r.heldBytes, 1000);
  now = 11 * 60_000;
  const other = snapMessage(bytes(10), 41);
  await r.accept({ from: "n3", snapshot: header({ ...other, to: "n2" }), offset: "0", body: null });
  assert.equal(r.heldBytes, 10);
  r.close();
});

Deno.test("a partial snapshot is dropped after ten minutes also when no chunk comes again", async () => {
  let now = 0;
  const r = new SnapshotReceiver("n2", () => {}, { now: () => now });
  try {
    // The leader sends one chunk, then dies; the next one catches n2 up from its log.
    await r.accept({
      from: "n1",
      snapshot: header(snapMessage(bytes(1000))),
      offset: "0",
      body: body(bytes(10)),
    });
    assert.equal(r.heldBytes, 1000);
    now = 9 * 60_000;
    await r.sweep(); // what the receiver's timer runs every minute
    assert.equal(r.heldBytes, 1000);
    now = 11 * 60_000;
    await r.sweep();
    assert.equal(r.heldBytes, 0);
  } finally {
    await r.close();
  }
});

Deno.test("HttpTransport sends a snapshot in chunks that a follower installs, resuming after a failure", async () => {
  const sent: number[] = [];
  let failAfter = 3;
  const via: typeof fetch = (input, init) => {
    if (String(input).endsWith("/raft/snapshot")) {
      const b = init?.body as Uint8Array;
      if (b.length > 0 && --failAfter === 0) return Promise.reject(new TypeError("reset"));
      sent.push(b.length);
    }
    return fetch(input, init);
  };
  await overHttp(via, async (t, reports, { node, restored }) => {
    const data = bytes(100_000, 9);
    const m = snapMessage(data);
    const settle = async (n: number) => {
      for (let i = 0; i < 500 && reports.length < n; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    t.send([m]);
    await settle(1);
    assert.deepEqual(reports, [false]);
    assert.equal(sent.reduce((a, b) => a + b, 0), 2 * 16 * 1024);
    // Raft tries again: the transfer goes on from 32 KiB, not from 0.
    t.send([m]);
    await settle(2);
    assert.deepEqual(reports, [false, true]);
    assert.equal(sent.reduce((a, b) => a + b, 0), data.length);
    assert.deepEqual(restored(), data);
    assert.equal(node.status().applied, 40);
  });
});

Deno.test("HttpTransport sends a snapshot whole to a peer without the chunk route", async () => {
  const seen: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    seen.push(`${req.method} ${path}`);
    await req.body?.cancel();
    return new Response(null, { status: path === "/raft/messages" ? 204 : 404 });
  });
  const reports: boolean[] = [];
  const t = new HttpTransport({
    id: "n1",
    clusterId: "c",
    secret: "s",
    peers: { n2: `http://127.0.0.1:${server.addr.port}` },
  });
  t.attach({ reportUnreachable() {}, reportSnapshot: (_, ok) => void reports.push(ok) });
  try {
    t.send([snapMessage(bytes(1000))]);
    for (let i = 0; i < 500 && reports.length < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(reports, [true]);
    assert.deepEqual(seen, ["PUT /raft/snapshot", "POST /raft/messages"]);
  } finally {
    t.close();
    await server.shutdown();
  }
});

Deno.test("the snapshot chunk route checks the secret and the cluster", async () => {
  const node = await follower(() => {});
  const peers = peerRoutes({ node, clusterId: "c", secret: "s" });
  const m = snapMessage(bytes(10));
  const put = (headers: Record<string, string>) =>
    peers.app.request("/raft/snapshot", {
      method: "PUT",
      headers: { [SNAPSHOT_HEADER]: header(m), [OFFSET_HEADER]: "0", ...headers },
      body: new Uint8Array(0),
    });
  try {
    assert.equal((await put({ "x-raftlog-cluster": "c", "x-raftlog-from": "n1" })).status, 401);
    const base = { "x-raftlog-secret": "s", "x-raftlog-from": "n1" };
    assert.equal((await put({ ...base, "x-raftlog-cluster": "other" })).status, 403);
    const ok = await put({ ...base, "x-raftlog-cluster": "c" });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { offset: 0, done: false });
    const bad = await put({ ...base, "x-raftlog-cluster": "c", [OFFSET_HEADER]: "x" });
    assert.equal(bad.status, 400);
  } finally {
    await peers.close();
    await node.stop();
  }
});

Deno.test("snapshot receiver: a request that went silent gives way to a new one after a chunk's timeout", async () => {
  let now = 0;
  const got: Message[] = [];
  const r = new SnapshotReceiver("n2", (m) => got.push(m), { now: () => now });
  const m = snapMessage(bytes(1000));
  const snapshot = header(m);
  // A body that brings 100 bytes, then nothing (a connection gone half-open).
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const hanging = new ReadableStream<Uint8Array>({
    start(c) {
      ctrl = c;
      c.enqueue(m.snapshot.data.slice(0, 100));
    },
  });
  const stuck = r.accept({ from: "n1", snapshot, offset: "0", body: hanging });
  await new Promise((res) => setTimeout(res, 10));
  const rest = () => body(m.snapshot.data.subarray(100));
  // While it may still be writing, other requests (the sender retrying every 10 s) are told
  // where things stand; they do not count as the stuck request's activity.
  for (now = 1000; now <= 30_000; now += 9_000) {
    assert.deepEqual(await r.accept({ from: "n1", snapshot, offset: "100", body: rest() }), {
      offset: 100,
      done: false,
    });
  }
  now = 40_000;
  assert.deepEqual(await r.accept({ from: "n1", snapshot, offset: "100", body: rest() }), {
    offset: 1000,
    done: true,
  });
  // The old request wakes up and writes nothing more.
  ctrl.enqueue(bytes(900, 5));
  ctrl.close();
  await stuck;
  assert.equal(got.length, 1);
  assert.deepEqual((got[0] as SnapshotMessage).snapshot.data, m.snapshot.data);
});

Deno.test("snapshot receiver: an older snapshot's last request finishing leaves the newer transfer alone", async () => {
  const got: Message[] = [];
  const r = new SnapshotReceiver("n2", (m) => got.push(m));
  const old = snapMessage(bytes(1000, 1), 40, 3);
  const newer = snapMessage(bytes(1000, 2), 80, 3);
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const slow = new ReadableStream<Uint8Array>({
    start(c) {
      ctrl = c;
      c.enqueue(old.snapshot.data.slice(0, 500));
    },
  });
  const oldRequest = r.accept({ from: "n1", snapshot: header(old), offset: "0", body: slow });
  await new Promise((res) => setTimeout(res, 5));
  const h = header(newer);
  const first = await r.accept({
    from: "n1",
    snapshot: h,
    offset: "0",
    body: body(newer.snapshot.data.subarray(0, 600)),
  });
  assert.equal(first.offset, 600);
  ctrl.enqueue(old.snapshot.data.slice(500));
  ctrl.close();
  // The replaced snapshot's bytes are no longer written, and it is not handed over.
  assert.deepEqual(await oldRequest, { offset: 500, done: false });
  const second = await r.accept({
    from: "n1",
    snapshot: h,
    offset: "600",
    body: body(newer.snapshot.data.subarray(600)),
  });
  assert.deepEqual(second, { offset: 1000, done: true });
  assert.deepEqual(got.map((m) => (m as SnapshotMessage).snapshot.metadata.index), [80]);
});

Deno.test("snapshot receiver: a transfer goes on under a new term of the same leader", async () => {
  const got: Message[] = [];
  const r = new SnapshotReceiver("n2", (m) => got.push(m));
  const m = snapMessage(bytes(1000), 40, 3);
  const a = await r.accept({
    from: "n1",
    snapshot: header(m),
    offset: "0",
    body: body(m.snapshot.data.subarray(0, 400)),
  });
  assert.equal(a.offset, 400);
  // Re-elected in term 4, the leader sends the same snapshot: it resumes at 400.
  const again = { ...m, term: 4 };
  assert.deepEqual(
    await r.accept({ from: "n1", snapshot: header(again), offset: "0", body: null }),
    {
      offset: 400,
      done: false,
    },
  );
  await r.accept({
    from: "n1",
    snapshot: header(again),
    offset: "400",
    body: body(m.snapshot.data.subarray(400)),
  });
  assert.deepEqual(got.map((x) => x.term), [4]);
});

Deno.test("HttpTransport: a snapshot message of a new term replaces the transfer under way", async () => {
  let hung = 0;
  const via: typeof fetch = (input, init) => {
    const b = init?.body as Uint8Array | undefined;
    const header = new Headers(init?.headers).get(SNAPSHOT_HEADER) ?? "";
    // The term-3 transfer's first chunk never gets an answer (until it is aborted).
    if (
      b !== undefined && b.length > 0 &&
      decodeURIComponent(header).startsWith('{"to":"n2","term":3,')
    ) {
      hung++;
      return new Promise((_, reject) =>
        init!.signal!.addEventListener("abort", () => reject(init!.signal!.reason))
      );
    }
    return fetch(input, init);
  };
  await overHttp(via, async (t, reports, { restored }) => {
    const data = bytes(50_000, 3);
    t.send([snapMessage(data, 40, 3)]);
    for (let i = 0; i < 200 && hung === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(hung, 1);
    t.send([snapMessage(data, 40, 3)]); // the same attempt again: dropped
    t.send([{ ...snapMessage(data, 40, 3), term: 4 }]);
    for (let i = 0; i < 500 && reports.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(reports, [true]);
    assert.deepEqual(restored(), data);
    assert.equal(hung, 1);
  });
});

Deno.test("snapshot receiver: a new leader's transfer drops an older leader's partial one", async () => {
  const r = new SnapshotReceiver("n2", () => {});
  const old = snapMessage(bytes(1000, 1), 40, 3);
  await r.accept({ from: "n1", snapshot: header(old), offset: "0", body: body(bytes(10)) });
  assert.equal(r.heldBytes, 1000);
  const fromN3 = { ...snapMessage(bytes(500, 2), 60, 4), from: "n3" };
  await r.accept({
    from: "n3",
    snapshot: header(fromN3),
    offset: "0",
    body: body(fromN3.snapshot.data.subarray(0, 100)),
  });
  assert.equal(r.heldBytes, 500, "only the term-4 leader's transfer is kept");
  // A leader of an older term is refused and does not push out the newer one's.
  await assert.rejects(
    r.accept({ from: "n1", snapshot: header(old), offset: "0", body: null }),
    SnapshotSupersededError,
  );
  assert.deepEqual(r.progress, { index: 60, term: 4, size: 500, offset: 100, durable: false });
  await r.close();
});

/**
 * Snapshot A (index 40) fails after two chunks; Raft then sends B (index 60).
 * Returns the bytes sent for B's attempt and what the follower installed.
 */
async function failThenNewer(firstLogIndex?: () => number, between?: (t: HttpTransport) => void) {
  const a = bytes(100_000, 9), b = bytes(120_000, 5);
  const sent: number[] = [];
  let failAfter = 3;
  const via: typeof fetch = (input, init) => {
    if (String(input).endsWith("/raft/snapshot")) {
      const body = init?.body as Uint8Array;
      if (body.length > 0 && --failAfter === 0) return Promise.reject(new TypeError("reset"));
      sent.push(body.length);
    }
    return fetch(input, init);
  };
  let out: { second: number; restored: Uint8Array | undefined; applied: number } | undefined;
  await overHttp(via, async (t, reports, { node, restored }) => {
    const settle = async (n: number) => {
      for (let i = 0; i < 500 && reports.length < n; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    t.send([snapMessage(a, 40)]);
    await settle(1);
    assert.deepEqual(reports, [false]);
    const first = sent.reduce((x, y) => x + y, 0);
    assert.equal(first, 2 * 16 * 1024);
    between?.(t);
    t.send([snapMessage(b, 60)]);
    await settle(2);
    assert.deepEqual(reports, [false, true]);
    out = {
      second: sent.reduce((x, y) => x + y, 0) - first,
      restored: restored(),
      applied: node.status().applied,
    };
  }, firstLogIndex);
  return { a, b, ...out! };
}

Deno.test("HttpTransport: after a failed transfer, a newer snapshot from Raft resumes the older one while the log still follows it", async () => {
  const r = await failThenNewer(() => 35);
  // Only the rest of A went: the follower kept its first 32 KiB.
  assert.equal(r.second, r.a.length - 2 * 16 * 1024);
  assert.deepEqual(r.restored, r.a);
  assert.equal(r.applied, 40);
});

Deno.test("HttpTransport: the newer snapshot goes when the log no longer has the entries after the older one, or the older one was let go", async () => {
  const cases: [(() => number) | undefined, ((t: HttpTransport) => void) | undefined][] = [
    [() => 42, undefined],
    [undefined, undefined],
    // No longer leading: the older snapshot is let go.
    [() => 35, (t) => t.dropUnfinishedSnapshots()],
  ];
  for (const [first, between] of cases) {
    const r = await failThenNewer(first, between);
    assert.equal(r.second, r.b.length);
    assert.deepEqual(r.restored, r.b);
    assert.equal(r.applied, 60);
  }
});

Deno.test("snapshot receiver: a snapshot this node has already applied is done at once, without a transfer", async () => {
  const got: Message[] = [];
  const r = new SnapshotReceiver("n2", (m) => got.push(m), { appliedIndex: () => 50 });
  const m = snapMessage(bytes(10_000), 40);
  assert.deepEqual(await r.accept({ from: "n1", snapshot: header(m), offset: "0", body: null }), {
    offset: 10_000,
    done: true,
  });
  assert.equal(got.length, 0, "Raft is not handed a snapshot it has");
  assert.equal(r.progress, undefined);
  await r.close();
});
