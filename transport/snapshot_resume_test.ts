import assert from "node:assert/strict";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Message, SnapshotMessage } from "../raft/core/types.ts";
import {
  PARTIAL_SNAPSHOT_FILE,
  PARTIAL_SNAPSHOT_HEADER_FILE,
  PartialSnapshotFile,
} from "../raft/storage/partial_snapshot_file.ts";
import { MessageFormatError } from "./codec.ts";
import { peerRoutes } from "./peer_routes.ts";
import { HttpTransport } from "./peer_transport.ts";
import { OFFSET_HEADER, SNAPSHOT_HEADER, SnapshotReceiver } from "./snapshot_chunks.ts";
import { body, follower, header, snapMessage } from "./_snapshot_harness_test.ts";
import { bytes, names, withDir } from "../raft/storage/_partial_harness_test.ts";

const PARTIAL_FILES = [PARTIAL_SNAPSHOT_FILE, PARTIAL_SNAPSHOT_HEADER_FILE];

/** Sends `m`'s bytes from `from` to `to` in chunks of `chunk` bytes, as the leader does. */
async function send(
  r: SnapshotReceiver,
  m: SnapshotMessage,
  from: number,
  to = m.snapshot.data.length,
  chunk = 1000,
) {
  const snapshot = header(m);
  let a = { offset: from, done: false };
  while (!a.done && a.offset < to) {
    const end = Math.min(to, a.offset + chunk);
    a = await r.accept({
      from: m.from,
      snapshot,
      offset: String(a.offset),
      body: body(m.snapshot.data.subarray(a.offset, end)),
    });
  }
  return a;
}

/** The empty request a transfer starts with: where does it go on? */
function probe(r: SnapshotReceiver, m: SnapshotMessage) {
  return r.accept({ from: m.from, snapshot: header(m), offset: "0", body: null });
}

Deno.test("SnapshotReceiver with a dir: a restart mid-transfer goes on from the bytes on disk", async () => {
  await withDir(async (dir) => {
    const m = snapMessage(bytes(10_000));
    const before = new SnapshotReceiver("n2", () => {}, { dir });
    assert.deepEqual(await send(before, m, 0, 6000), { offset: 6000, done: false });
    assert.equal(before.heldBytes, 0, "the bytes are in the file, not in memory");
    await before.close(); // the follower stops (a crash is covered by the storage tests)
    assert.deepEqual(names(dir), PARTIAL_FILES);

    const got: Message[] = [];
    let applied = 0;
    const after = new SnapshotReceiver("n2", (x) => got.push(x), {
      dir,
      appliedIndex: () => applied,
    });
    try {
      assert.deepEqual(await probe(after, m), { offset: 6000, done: false });
      assert.deepEqual(after.progress, {
        index: 40,
        term: 3,
        size: 10_000,
        offset: 6000,
        durable: true,
      });
      assert.deepEqual(await send(after, m, 6000), { offset: 10_000, done: true });
      assert.equal(got.length, 1);
      assert.deepEqual((got[0] as SnapshotMessage).snapshot.data, m.snapshot.data);
      // Kept until applied (a restart before the install hands it over again), then deleted.
      await after.sweep();
      assert.deepEqual(names(dir), PARTIAL_FILES);
      applied = 40;
      await after.sweep();
      assert.deepEqual(names(dir), []);
      assert.equal(after.progress, undefined);
    } finally {
      await after.close();
    }
  });
});

Deno.test("SnapshotReceiver with a dir: a snapshot complete before a restart is handed over again without a transfer", async () => {
  await withDir(async (dir) => {
    const m = snapMessage(bytes(3000));
    const before = new SnapshotReceiver("n2", () => {}, { dir });
    assert.deepEqual(await send(before, m, 0), { offset: 3000, done: true });
    await before.close(); // stopped before Raft installed it
    const got: Message[] = [];
    const after = new SnapshotReceiver("n2", (x) => got.push(x), { dir });
    try {
      assert.deepEqual(await probe(after, m), { offset: 3000, done: false });
      const last = await after.accept({
        from: "n1",
        snapshot: header(m),
        offset: "3000",
        body: null,
      });
      assert.deepEqual(last, { offset: 3000, done: true });
      assert.deepEqual((got[0] as SnapshotMessage).snapshot.data, m.snapshot.data);
      // Asked again in the same run (the answer got lost): done, not handed over twice.
      assert.deepEqual(
        await after.accept({ from: "n1", snapshot: header(m), offset: "3000", body: null }),
        { offset: 3000, done: true },
      );
      assert.equal(got.length, 1);
    } finally {
      await after.close();
    }
  });
});

Deno.test("SnapshotReceiver with a dir: a damaged partial file is deleted on start and the transfer starts over", async () => {
  await withDir(async (dir) => {
    const m = snapMessage(bytes(5000));
    const before = new SnapshotReceiver("n2", () => {}, { dir });
    await send(before, m, 0, 3000);
    await before.close();
    const path = join(dir, PARTIAL_SNAPSHOT_FILE);
    const onDisk = await Deno.readFile(path);
    onDisk[100]! ^= 0xff;
    await Deno.writeFile(path, onDisk);

    const got: Message[] = [];
    const logged: string[] = [];
    const after = new SnapshotReceiver("n2", (x) => got.push(x), {
      dir,
      log: (_, msg) => void logged.push(msg),
    });
    try {
      await after.ready();
      assert.deepEqual(names(dir), []);
      assert.deepEqual(logged, ["damaged partial snapshot deleted"]);
      assert.deepEqual(await probe(after, m), { offset: 0, done: false });
      assert.deepEqual(await send(after, m, 0), { offset: 5000, done: true });
      assert.deepEqual((got[0] as SnapshotMessage).snapshot.data, m.snapshot.data);
    } finally {
      await after.close();
    }
  });
});

Deno.test("SnapshotReceiver with a dir: a partial file whose whole fails the snapshot's CRC-32 is never handed to Raft", async () => {
  await withDir(async (dir) => {
    const m = snapMessage(bytes(2000));
    // A file that is consistent in itself (header and bytes agree) but holds other bytes.
    const wrong = bytes(2000, 5);
    const p = await PartialSnapshotFile.create(
      dir,
      { index: 40, term: 3, size: 2000, crc: crc32(m.snapshot.data) },
      3,
    );
    await p.write(0, wrong);
    await p.checkpoint();
    p.close();

    const got: Message[] = [];
    const r = new SnapshotReceiver("n2", (x) => got.push(x), { dir });
    try {
      assert.deepEqual(await probe(r, m), { offset: 2000, done: false });
      await assert.rejects(
        r.accept({ from: "n1", snapshot: header(m), offset: "2000", body: null }),
        MessageFormatError,
      );
      assert.equal(got.length, 0);
      assert.deepEqual(names(dir), []);
      assert.deepEqual(await probe(r, m), { offset: 0, done: false });
      assert.deepEqual(await send(r, m, 0), { offset: 2000, done: true });
      assert.deepEqual((got[0] as SnapshotMessage).snapshot.data, m.snapshot.data);
    } finally {
      await r.close();
    }
  });
});

Deno.test("SnapshotReceiver with a dir: another snapshot replaces the one kept from before a restart", async () => {
  await withDir(async (dir) => {
    const old = snapMessage(bytes(5000, 1), 40, 3);
    const before = new SnapshotReceiver("n2", () => {}, { dir });
    await send(before, old, 0, 3000);
    await before.close();

    const got: Message[] = [];
    const r = new SnapshotReceiver("n2", (x) => got.push(x), { dir });
    try {
      const newer = snapMessage(bytes(4000, 2), 90, 4);
      assert.deepEqual(await probe(r, newer), { offset: 0, done: false });
      assert.equal(r.progress?.index, 90);
      assert.deepEqual(await send(r, newer, 0, 1500), { offset: 1500, done: false });
      // On disk now: the newer snapshot's first bytes only.
      await r.close();
      const { partial } = await PartialSnapshotFile.open(dir);
      assert.deepEqual([partial?.id.index, partial?.offset], [90, 1500]);
      partial!.close();
      assert.equal((await Deno.stat(join(dir, PARTIAL_SNAPSHOT_FILE))).size, 1500);
    } finally {
      await r.close();
    }
  });
});

Deno.test("SnapshotReceiver with a dir: a partial snapshot this node has applied is deleted on start", async () => {
  await withDir(async (dir) => {
    const before = new SnapshotReceiver("n2", () => {}, { dir });
    await send(before, snapMessage(bytes(5000)), 0, 3000);
    await before.close();
    const r = new SnapshotReceiver("n2", () => {}, { dir, appliedIndex: () => 45 });
    try {
      await r.ready();
      assert.equal(r.progress, undefined);
      assert.deepEqual(names(dir), []);
    } finally {
      await r.close();
    }
  });
});

Deno.test("SnapshotReceiver with a dir: a partial snapshot kept from before a restart is deleted after ten idle minutes", async () => {
  await withDir(async (dir) => {
    const before = new SnapshotReceiver("n2", () => {}, { dir });
    await send(before, snapMessage(bytes(5000)), 0, 3000);
    await before.close();
    let now = 1_000_000;
    // The idle time counts from the start: the node may have been down for longer.
    const r = new SnapshotReceiver("n2", () => {}, { dir, now: () => now });
    try {
      await r.ready();
      now += 9 * 60_000;
      await r.sweep();
      assert.equal(r.progress?.offset, 3000);
      now += 2 * 60_000;
      await r.sweep();
      assert.equal(r.progress, undefined);
      assert.deepEqual(names(dir), []);
    } finally {
      await r.close();
    }
  });
});

Deno.test("HttpTransport: a follower restarted mid-transfer gets only the rest of the snapshot", async () => {
  await withDir(async (dir) => {
    const data = bytes(100_000, 9);
    const m = snapMessage(data);
    const chunk = 16 * 1024;
    const sent: { offset: number; bytes: number }[] = [];
    let failAfter = 3;
    const via: typeof fetch = (input, init) => {
      if (String(input).endsWith("/raft/snapshot")) {
        const b = init?.body as Uint8Array;
        if (b.length > 0 && --failAfter === 0) return Promise.reject(new TypeError("reset"));
        const offset = Number(new Headers(init?.headers).get(OFFSET_HEADER));
        if (b.length > 0) sent.push({ offset, bytes: b.length });
      }
      return fetch(input, init);
    };
    /** Follower n2 over HTTP with its partial snapshot in `dir`. */
    const startFollower = async () => {
      let restored: Uint8Array | undefined;
      const node = await follower((d) => void (restored = d.slice()));
      const peers = peerRoutes({ node, clusterId: "c", secret: "s", dataDir: dir });
      const server = Deno.serve(
        { port: 0, hostname: "127.0.0.1", onListen() {} },
        peers.app.fetch,
      );
      return {
        node,
        url: `http://127.0.0.1:${server.addr.port}`,
        restored: () => restored,
        async stop() {
          await peers.close();
          await server.shutdown();
          await node.stop();
        },
      };
    };
    const reports: boolean[] = [];
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
    };
    let f = await startFollower();
    const t = new HttpTransport({
      id: "n1",
      clusterId: "c",
      secret: "s",
      peers: { n2: f.url },
      snapshotChunkBytes: chunk,
      fetch: via,
    });
    t.attach({ reportUnreachable() {}, reportSnapshot: (_, ok) => void reports.push(ok) });
    try {
      t.send([m]);
      await until(() => reports.length === 1);
      assert.deepEqual(reports, [false]);
      assert.deepEqual(sent, [{ offset: 0, bytes: chunk }, { offset: chunk, bytes: chunk }]);
      // The follower restarts (a new process would find the same files).
      await f.stop();
      f = await startFollower();
      t.addPeer("n2", f.url);
      t.send([m]);
      await until(() => reports.length === 2);
      assert.deepEqual(reports, [false, true]);
      assert.equal(sent[2]?.offset, 2 * chunk, "the transfer goes on where it stopped");
      assert.equal(sent.reduce((a, b) => a + b.bytes, 0), data.length);
      assert.deepEqual(f.restored(), data);
      assert.equal(f.node.status().applied, 40);
      // Installed: its files go.
      await until(() => names(dir).length === 0);
      assert.deepEqual(names(dir), []);
    } finally {
      t.close();
      await f.stop();
    }
  });
});

Deno.test("the snapshot chunk route answers 409 to an older term's leader while a newer one's transfer is under way", async () => {
  const node = await follower(() => {});
  const peers = peerRoutes({ node, clusterId: "c", secret: "s" });
  const put = (m: SnapshotMessage) =>
    peers.app.request("/raft/snapshot", {
      method: "PUT",
      headers: {
        "x-raftlog-secret": "s",
        "x-raftlog-cluster": "c",
        "x-raftlog-from": m.from,
        [SNAPSHOT_HEADER]: header(m),
        [OFFSET_HEADER]: "0",
      },
      body: new Uint8Array(0),
    });
  try {
    const res = await put({ ...snapMessage(bytes(500, 2), 60, 4), from: "n3" });
    assert.deepEqual(await res.json(), { offset: 0, done: false });
    const refused = await put(snapMessage(bytes(1000, 1), 40, 3));
    assert.equal(refused.status, 409);
    assert.equal((await refused.json()).error, "snapshot_superseded");
  } finally {
    await peers.close();
    await node.stop();
  }
});
