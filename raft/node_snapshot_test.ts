import assert from "node:assert/strict";
import { encodeConfChange } from "./core/confchange.ts";
import { confStateOf } from "./core/conf_state.ts";
import { RaftNode } from "./node.ts";
import { MemoryStorage } from "./storage/memory_storage.ts";
import { ManualClock } from "./testing/manual_clock.ts";
import {
  appendFromN1,
  GatedStorage,
  nullMachine,
  RecordingTransport,
  settle,
} from "./_node_harness_test.ts";

Deno.test("node: a snapshot that arrives during a write is installed after that write's committed membership change", async () => {
  const storage = new GatedStorage(MemoryStorage.withVoters(["n1", "n2", "n3"]));
  const transport = new RecordingTransport();
  const clock = new ManualClock();
  const node = await RaftNode.start({
    id: "n2",
    storage,
    transport,
    clock,
    stateMachine: nullMachine,
    snapshotEvery: 0,
  });
  try {
    node.step(appendFromN1({ commit: 3 }));
    await settle();
    assert.equal(node.applied, 3);
    // Entry 4 adds n4 and commits; its write is in flight.
    storage.block();
    node.step(appendFromN1({
      commit: 4,
      entries: [{
        term: 2,
        index: 4,
        type: "confChange",
        data: encodeConfChange({ changes: [{ type: "addVoter", nodeId: "n4" }] }),
      }],
    }));
    await settle();
    assert.equal(storage.waiting, 1, "the write of entry 4 is in flight");
    // Meanwhile the leader, which removed n4 again and compacted, sends a snapshot at 100.
    node.step({
      type: "snap",
      from: "n1",
      to: "n2",
      term: 2,
      snapshot: {
        metadata: { index: 100, term: 2, confState: confStateOf(["n1", "n2", "n3"]) },
        data: new Uint8Array(),
      },
    });
    storage.release();
    await settle();
    assert.equal(node.applied, 100);
    assert.deepEqual(node.status().confState.voters.toSorted(), ["n1", "n2", "n3"]);
    // Raft's own membership is the snapshot's too: it asks n1 and n3 for votes, not n4.
    transport.take();
    node.campaign();
    await settle();
    const to = transport.take().filter((m) => m.type === "vote" || m.type === "preVote")
      .map((m) => m.to).toSorted();
    assert.deepEqual(to, ["n1", "n3"]);
  } finally {
    await node.stop();
  }
});
