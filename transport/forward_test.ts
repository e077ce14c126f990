import assert from "node:assert/strict";
import { Hono } from "hono";
import { RaftNode } from "../raft/node.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { ManualClock } from "../raft/testing/manual_clock.ts";
import {
  appendFromN1,
  confChangeFromN1,
  nullMachine,
  settle,
  startTestNode,
} from "../raft/_node_harness_test.ts";
import { encodeConfChange } from "../raft/core/confchange.ts";
import { confStateOf } from "../raft/core/conf_state.ts";
import type { Entry } from "../raft/core/types.ts";
import { forwardWrites } from "./forward.ts";

Deno.test("forwardWrites: a node removed from the cluster says so and names the members", async () => {
  const node = await startTestNode({ id: "n2", clock: new ManualClock() });
  node.setPeerUrl("n1", "http://127.0.0.1:7001");
  const app = new Hono().use(forwardWrites(node)).post("/x", (c) => c.text("ok"));
  try {
    // A follower with no leader yet: the usual 503.
    let res = await app.request("/x", { method: "POST" });
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error, "no_leader");
    assert.equal(node.removed, false);
    // Leader n1 removes n2; n2 applies it.
    node.step(confChangeFromN1({ type: "removeNode", nodeId: "n2" }));
    await settle();
    assert.equal(node.applied, 4);
    assert.equal(node.removed, true);
    res = await app.request("/x", { method: "POST" });
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.error, "removed");
    assert.match(body.message, /n2 was removed/);
    assert.deepEqual(body.members, [
      { id: "n1", url: "http://127.0.0.1:7001" },
      { id: "n3", url: null },
    ]);
  } finally {
    await node.stop();
  }
});

Deno.test("RaftNode.removed: a joining node replaying memberships from before its addition is not removed", async () => {
  const node = await startTestNode({
    id: "n4",
    clock: new ManualClock(),
    storage: MemoryStorage.withVoters([]),
  });
  try {
    assert.equal(node.removed, false);
    // Leader n1 catches n4 up from index 1: the bootstrap voters first, n4's own addition later.
    const voters = ["n1", "n2", "n3"].map((id, i): Entry => ({
      term: 1,
      index: i + 1,
      type: "confChange",
      data: encodeConfChange({ changes: [{ type: "addVoter", nodeId: id }] }),
    }));
    node.step({ ...appendFromN1({ commit: 3, index: 0, logTerm: 0, entries: voters }), to: "n4" });
    await settle();
    assert.equal(node.applied, 3);
    assert.equal(node.removed, false);
  } finally {
    await node.stop();
  }
});

Deno.test("RaftNode.removed: a node restarted on its snapshot taken after its removal is removed", async () => {
  const restart = async (voters: string[]) => {
    const storage = MemoryStorage.withVoters(["n1", "n2", "n3"]);
    storage.applySnapshot({
      metadata: { index: 10, term: 2, confState: confStateOf(voters) },
      data: new Uint8Array(),
    });
    storage.setHardState({ term: 2, vote: "", commit: 10 });
    return await startTestNode({ id: "n2", clock: new ManualClock(), storage });
  };
  const gone = await restart(["n1", "n3"]);
  try {
    assert.equal(gone.removed, true);
    const app = new Hono().use(forwardWrites(gone)).post("/x", (c) => c.text("ok"));
    const res = await app.request("/x", { method: "POST" });
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error, "removed");
  } finally {
    await gone.stop();
  }
  const member = await restart(["n1", "n2", "n3"]);
  try {
    assert.equal(member.removed, false);
  } finally {
    await member.stop();
  }
});

Deno.test("RaftNode.removed: a removed node added again is not removed any more", async () => {
  const node = await startTestNode({ id: "n2", clock: new ManualClock() });
  try {
    node.step(confChangeFromN1({ type: "removeNode", nodeId: "n2" }));
    await settle();
    assert.equal(node.removed, true);
    node.step(appendFromN1({
      commit: 5,
      index: 4,
      logTerm: 2,
      entries: [{
        term: 2,
        index: 5,
        type: "confChange",
        data: encodeConfChange({ changes: [{ type: "addLearner", nodeId: "n2" }] }),
      }],
    }));
    await settle();
    assert.equal(node.applied, 5);
    assert.equal(node.removed, false);
  } finally {
    await node.stop();
  }
});

Deno.test("forwardWrites: a leader that never answers (a one-way partition) fails the write after 1.5 request timeouts", async () => {
  // A "leader" that takes the connection and never answers.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const node = await RaftNode.start({
    id: "n2",
    storage: MemoryStorage.withVoters(["n1", "n2", "n3"]),
    transport: { send() {} },
    clock: new ManualClock(),
    stateMachine: nullMachine,
    requestTimeoutMs: 200,
  });
  node.setPeerUrl("n1", `http://127.0.0.1:${listener.addr.port}`);
  const app = new Hono().use(forwardWrites(node)).post("/x", (c) => c.text("ok"));
  try {
    node.step(appendFromN1({ commit: 0, index: 0, logTerm: 0 }));
    await settle();
    assert.equal(node.leader, "n1");
    const started = performance.now();
    const res = await app.request("http://127.0.0.1/x", { method: "POST", body: "{}" });
    const took = performance.now() - started;
    assert.equal(res.status, 502);
    const body = await res.json();
    assert.equal(body.error, "forward_failed");
    assert.match(body.message, /outcome is unknown/);
    assert.ok(took >= 250 && took < 5_000, `answered after ${took} ms`);
  } finally {
    await node.stop();
    listener.close();
    for (const c of held) c.close();
    await accepting.catch(() => {});
  }
});

/**
 * Runs `body` with follower n2 of a leader n1 that is a stand-in server
 * answering every request with `respond`; `post` sends n2's app a write.
 */
async function withStandInLeader(
  respond: (req: Request) => Response,
  body: (post: () => Promise<Response>, node: RaftNode<unknown>) => Promise<void>,
): Promise<void> {
  const leader = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, respond);
  const node = await startTestNode({ id: "n2", clock: new ManualClock() });
  node.setPeerUrl("n1", `http://127.0.0.1:${leader.addr.port}`);
  const app = new Hono().use(forwardWrites(node)).post("/x", (c) => c.text("ok"));
  try {
    node.step(appendFromN1({ commit: 0, index: 0, logTerm: 0 }));
    await settle();
    assert.equal(node.leader, "n1");
    await body(
      async () => await app.request("http://127.0.0.1/x", { method: "POST", body: "{}" }),
      node,
    );
  } finally {
    await node.stop();
    await leader.shutdown();
  }
}

Deno.test("forwardWrites: a leader that answers it was removed is, for the follower's client, no leader", async () => {
  let answer = { status: 503, body: { error: "removed", message: "Node n1 was removed" } };
  await withStandInLeader(
    () => Response.json(answer.body, { status: answer.status }),
    async (post) => {
      let res = await post();
      assert.equal(res.status, 503);
      assert.equal(res.headers.get("retry-after"), "1");
      let body = await res.json();
      assert.equal(body.error, "no_leader");
      assert.match(body.message, /n1 was removed/);
      // Other refusals of the leader pass through unchanged.
      answer = {
        status: 503,
        body: { error: "proposal_dropped", message: "transfer in progress" },
      };
      res = await post();
      assert.equal(res.status, 503);
      body = await res.json();
      assert.equal(body.error, "proposal_dropped");
    },
  );
});

Deno.test("forwardWrites: the leader refuses writes forwarded by a node it does not list", async () => {
  // Leader n1, with learner n2; n9 was removed (or never was a member).
  const storage = MemoryStorage.withVoters(["n1"]);
  storage.applySnapshot({
    metadata: { index: 10, term: 2, confState: confStateOf(["n1"], ["n2"]) },
    data: new Uint8Array(),
  });
  storage.setHardState({ term: 2, vote: "", commit: 10 });
  const node = await startTestNode({ id: "n1", clock: new ManualClock(), storage });
  node.setPeerUrl("n2", "http://127.0.0.1:7002");
  const app = new Hono().use(forwardWrites(node)).post("/x", (c) => c.text("ok"));
  const post = (by?: string) =>
    app.request("/x", {
      method: "POST",
      body: "{}",
      ...(by !== undefined ? { headers: { "x-raftlog-forwarded-by": by } } : {}),
    });
  try {
    node.campaign();
    await settle();
    assert.equal(node.role, "leader");
    const refused = await post("n9");
    assert.equal(refused.status, 403);
    const body = await refused.json();
    assert.equal(body.error, "not_a_member");
    assert.match(body.message, /n9 forwarded this write but is not a member.*nothing was written/);
    assert.deepEqual(body.members, [
      { id: "n1", url: null },
      { id: "n2", url: "http://127.0.0.1:7002" },
    ]);
    // Members (learners too) and clients are served.
    for (const by of ["n2", undefined]) {
      const res = await post(by);
      assert.equal(res.status, 200, `forwarded by ${by}`);
      assert.equal(await res.text(), "ok");
    }
  } finally {
    await node.stop();
  }
});

Deno.test("forwardWrites: a node the leader does not list answers its client that it was removed", async () => {
  let seenBy: string | null = null;
  const respond = (req: Request) => {
    seenBy = req.headers.get("x-raftlog-forwarded-by");
    return Response.json({
      error: "not_a_member",
      message: "Node n2 forwarded this write but is not a member of the cluster",
      members: [{ id: "n1", url: "http://127.0.0.1:7001" }],
    }, { status: 403 });
  };
  await withStandInLeader(respond, async (post, node) => {
    assert.equal(node.removed, false, "n2 never applied its removal");
    const res = await post();
    assert.equal(seenBy, "n2");
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.error, "removed");
    assert.match(body.message, /n2 was removed from the cluster \(leader n1 does not list it\)/);
    assert.deepEqual(body.members, [{ id: "n1", url: "http://127.0.0.1:7001" }]);
  });
});

Deno.test("RaftNode.removed: a node catching up past its removal to its re-addition is never called removed", async () => {
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => (open = r));
  let gated = false;
  const node = await RaftNode.start<unknown>({
    id: "n2",
    storage: MemoryStorage.withVoters(["n1", "n2", "n3"]),
    transport: { send() {} },
    clock: new ManualClock(),
    tickMs: 10,
    snapshotEvery: 0,
    stateMachine: {
      // The command between the removal and the re-addition waits: the node is caught mid-way.
      apply: async (cmds) => {
        gated = true;
        await gate;
        return cmds.map(() => null);
      },
      snapshot: () => new Uint8Array(),
      restore: () => {},
    },
  });
  const conf = (index: number, type: "removeNode" | "addLearner"): Entry => ({
    term: 2,
    index,
    type: "confChange",
    data: encodeConfChange({ changes: [{ type, nodeId: "n2" }] }),
  });
  try {
    node.step(appendFromN1({
      commit: 6,
      entries: [
        conf(4, "removeNode"),
        { term: 2, index: 5, type: "normal", data: new Uint8Array([1]) },
        conf(6, "addLearner"),
      ],
    }));
    await settle();
    assert.ok(gated, "stopped at the command after the removal");
    assert.equal(node.applied, 4, "the removal is applied");
    assert.equal(node.removed, false, "entry 6, committed, adds it again");
    open();
    await settle();
    assert.equal(node.applied, 6);
    assert.equal(node.removed, false);
  } finally {
    open();
    await node.stop();
  }
});
