import assert from "node:assert/strict";
import { RaftNode } from "./node.ts";
import { TimeoutError } from "./node_errors.ts";
import { confStateOf } from "./core/conf_state.ts";
import { FileStorage } from "./storage/file_storage.ts";
import { MemoryStorage } from "./storage/memory_storage.ts";
import { waitFor } from "../tests/helpers.ts";
import { encodeKvCommand, type KvResult, KvStateMachine } from "./testing/kv_state_machine.ts";
import { ManualClock } from "./testing/manual_clock.ts";
import { MemoryNetwork } from "./testing/memory_transport.ts";

Deno.test("node: propose copies the command, so the caller may reuse its buffer at once", async () => {
  const applied: number[][] = [];
  const node = await RaftNode.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1"]),
    transport: { send() {} },
    tickMs: 5,
    stateMachine: {
      apply: (cmds) => cmds.map((c) => applied.push([...c.payload])),
      snapshot: () => new Uint8Array(),
      restore: () => {},
    },
  });
  try {
    await node.waitForLeader(2000);
    const buf = new Uint8Array([1, 2, 3]);
    const one = node.propose(buf);
    buf.set([4, 5, 6]);
    const many = node.proposeMany([buf.subarray(0, 2), buf.subarray(1)]);
    buf.fill(9);
    await one;
    await many;
    assert.deepEqual(applied, [[1, 2, 3], [4, 5], [5, 6]]);
  } finally {
    await node.stop();
  }
});

Deno.test("node: a snapshot waits until the entries applied since the last one add up to its size", async () => {
  let snapshots = 0;
  const stateBytes = 64 << 10;
  const node = await RaftNode.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1"]),
    transport: { send() {} },
    tickMs: 5,
    snapshotEvery: 10,
    stateMachine: {
      apply: (cmds) => cmds.map(() => null),
      snapshot: () => (snapshots++, new Uint8Array(stateBytes)),
      restore: () => {},
    },
  });
  try {
    await node.waitForLeader(2000);
    const small = new Uint8Array(100);
    for (let i = 0; i < 16; i++) await node.propose(small);
    await waitFor("the first snapshot", () => snapshots >= 1 || undefined);
    // 40 more small entries: over twice the entries due, but only 4 KB of the 64 KB state.
    for (let i = 0; i < 40; i++) await node.propose(small);
    assert.equal(snapshots, 1, "a large state is not serialized again after a few small entries");
    // Entries adding up to the state's size make the next one due.
    for (let i = 0; i < 16; i++) await node.propose(new Uint8Array(stateBytes / 8));
    await waitFor("the second snapshot", () => snapshots === 2 || undefined);
  } finally {
    await node.stop();
  }
});

Deno.test("node: a snapshot's buffer goes back to the state machine once storage that keeps none has it on disk", async () => {
  for (const file of [true, false]) {
    const dir = await Deno.makeTempDir({ prefix: "raftlog-node-release-" });
    const made: Uint8Array[] = [];
    const released: Uint8Array[] = [];
    const storage = file
      ? await FileStorage.open(dir, { bootstrap: confStateOf(["n1"]) })
      : MemoryStorage.withVoters(["n1"]);
    const node = await RaftNode.start({
      id: "n1",
      storage,
      transport: { send() {} },
      tickMs: 5,
      snapshotEvery: 5,
      stateMachine: {
        apply: (cmds) => cmds.map(() => null),
        snapshot: () => {
          const b = new Uint8Array(256 << 10).fill(made.length + 1);
          made.push(b);
          return b;
        },
        restore: () => {},
        snapshotReleased: (b) => void released.push(b),
      },
    });
    try {
      await node.waitForLeader(2000);
      for (let i = 0; i < 40; i++) await node.propose(new Uint8Array(64 << 10));
      await waitFor("two snapshots", () => made.length >= 2 || undefined);
      if (file) {
        await waitFor("their release", () => released.length >= 2 || undefined);
        // The very buffers the state machine made, each once the storage had written it.
        assert.ok(released.every((b, i) => b === made[i]));
        // The state machine may write over them: what storage serves is its file's copy.
        for (const b of released) b.fill(0);
        const latest = storage.snapshot();
        assert.equal(latest.data.length, 256 << 10);
        assert.ok(latest.data.every((x) => x !== 0), "storage served a released buffer");
      } else {
        await node.stop();
        assert.equal(released.length, 0, "storage that may hold snapshots gets to keep them");
      }
    } finally {
      await node.stop();
      await Deno.remove(dir, { recursive: true });
    }
  }
});

/** Three KV nodes on a manual clock and an in-memory network; n1 is made leader. */
async function manualCluster(requestTimeoutMs?: number) {
  const ids = ["n1", "n2", "n3"];
  const clock = new ManualClock();
  const net = new MemoryNetwork();
  const nodes: RaftNode<KvResult>[] = [];
  for (const id of ids) {
    const node = await RaftNode.start<KvResult>({
      id,
      storage: MemoryStorage.withVoters(ids),
      transport: net.transport(id),
      stateMachine: new KvStateMachine(),
      clock,
      tickMs: 10,
      ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
      raft: { electionTick: 10, seed: ids.indexOf(id) + 1 },
    });
    net.register(node as RaftNode<unknown>);
    nodes.push(node);
  }
  const n1 = nodes[0]!;
  n1.campaign();
  for (let t = 0; t < 5000 && n1.role !== "leader"; t += 10) await clock.advance(10);
  assert.equal(n1.role, "leader");
  return { ids, clock, net, nodes };
}

Deno.test("node: a proposal made on a follower is forwarded, and resolves there once applied", async () => {
  const { clock, nodes } = await manualCluster();
  const [n1, n2] = nodes as [RaftNode<KvResult>, RaftNode<KvResult>];
  try {
    let result: KvResult | undefined;
    const both = Promise.all([
      n2.propose(encodeKvCommand({ op: "put", key: "a", value: "from n2" })),
      n1.propose(encodeKvCommand({ op: "put", key: "b", value: "from n1" })),
    ]).then(([r2]) => result = r2);
    for (let t = 0; t < 5000 && result === undefined; t += 10) await clock.advance(10);
    assert.ok(result !== undefined, "both proposals resolved");
    await both;
    assert.equal(result?.value, "from n2", "the follower's promise got its own command's result");
  } finally {
    for (const n of nodes.values()) await n.stop();
  }
});

Deno.test("node: proposals with many distinct timeouts each time out at their own deadline", async () => {
  const { ids, clock, net, nodes } = await manualCluster(1_000);
  const n1 = nodes[0]!;
  try {
    net.isolate("n1", ids);
    const fired: { ms: number; at: number; message: string }[] = [];
    // More distinct timeouts than get a deadline ring, in an order that is not sorted.
    const timeouts = [300, 120, 500, 240, 160, 420, 200, 360, 140, 460, 260, 180];
    const start = clock.now();
    const all = timeouts.map((ms, i) =>
      n1.propose(encodeKvCommand({ op: "put", key: `t${i}`, value: "v" }), { timeoutMs: ms })
        .then(
          () => fired.push({ ms, at: clock.now() - start, message: "resolved" }),
          (e) => fired.push({ ms, at: clock.now() - start, message: String(e) }),
        )
    );
    for (let t = 0; t < 600; t += 10) await clock.advance(10);
    await Promise.all(all);
    assert.equal(fired.length, timeouts.length);
    for (const f of fired) {
      assert.ok(f.at >= f.ms && f.at <= f.ms + 20, `${f.ms} ms timed out at ${f.at}`);
      assert.match(
        f.message,
        new RegExp(`TimeoutError: propose did not complete within ${f.ms} ms`),
      );
    }
  } finally {
    for (const n of nodes) await n.stop();
  }
});

Deno.test("node: a proposal that cannot commit times out after requestTimeoutMs, not before", async () => {
  const { ids, clock, net, nodes } = await manualCluster(1_000);
  const n1 = nodes[0]!;
  try {
    net.isolate("n1", ids);
    const outcomes: (KvResult | Error)[] = [];
    const put = (key: string, timeoutMs?: number) =>
      n1.propose(
        encodeKvCommand({ op: "put", key, value: "v" }),
        timeoutMs === undefined ? {} : { timeoutMs },
      ).then(
        (r) => outcomes.push(r),
        (e) => outcomes.push(e),
      );
    // Many with the default timeout (past the deadline ring's first growth), one with its own.
    const all = [...Array.from({ length: 100 }, (_, i) => put(`k${i}`)), put("own", 300)];
    await clock.advance(250);
    assert.equal(outcomes.length, 0, "nothing settles before a deadline");
    await clock.advance(100);
    assert.equal(outcomes.length, 1, "the proposal with its own 300 ms timeout");
    assert.ok(outcomes[0] instanceof TimeoutError);
    await clock.advance(600);
    assert.equal(outcomes.length, 1, "the others wait for requestTimeoutMs");
    await clock.advance(100);
    assert.equal(outcomes.length, 101);
    await Promise.all(all);
    assert.ok(outcomes.every((o) => o instanceof TimeoutError), "every one timed out");
  } finally {
    for (const n of nodes) await n.stop();
  }
});
