import assert from "node:assert/strict";
import { Hono } from "hono";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { ManualClock } from "../raft/testing/manual_clock.ts";
import { confChangeFromN1, settle, startTestNode } from "../raft/_node_harness_test.ts";
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

Deno.test("RaftNode.removed: a node that has not learned any membership yet (joining) is not removed", async () => {
  const node = await startTestNode({
    id: "n4",
    clock: new ManualClock(),
    storage: MemoryStorage.withVoters([]),
  });
  try {
    assert.equal(node.removed, false);
  } finally {
    await node.stop();
  }
});
