import assert from "node:assert/strict";
import { confStateOf } from "./core/conf_state.ts";
import { RaftNode } from "./node.ts";
import { MemoryStorage } from "./storage/memory_storage.ts";
import { ManualClock } from "./testing/manual_clock.ts";
import {
  appendFromN1,
  confChangeFromN1,
  GatedStorage,
  nullMachine,
  RecordingTransport,
  settle,
  startTestNode,
  winElection,
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
    node.step(confChangeFromN1({ type: "addVoter", nodeId: "n4" }));
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

/** n1 leads term 2 and proposes three commands (entries 5-7) nobody acknowledges. */
async function deposedLeaderWithProposals() {
  const transport = new RecordingTransport();
  const clock = new ManualClock();
  const node = await startTestNode({ id: "n1", clock, transport });
  await clock.advance(10);
  await winElection(node, transport);
  const outcomes = [1, 2, 3].map((i) =>
    node.propose(new Uint8Array([i]), { timeoutMs: 60_000 }).then(
      () => "applied",
      (e: Error) => `${e.name}: ${e.message}`,
    )
  );
  await settle();
  assert.deepEqual([node.status().lastIndex, node.status().term], [7, 2]);
  // n2 leads term 5 and sends a snapshot at 100, taken with entry 100 of `snapTerm`.
  const snapshot = (snapTerm: number) => {
    node.step({
      type: "snap",
      from: "n2",
      to: "n1",
      term: 5,
      snapshot: {
        metadata: { index: 100, term: snapTerm, confState: confStateOf(["n1", "n2", "n3"]) },
        data: new Uint8Array(),
      },
    });
  };
  return { node, outcomes, snapshot };
}

for (
  const [snapTerm, expected] of [
    [2, /^OutcomeUnknownError: entry \d was committed/],
    [4, /^OutcomeUnknownError: entry \d of term 2 is covered/],
    [1, /^ProposalDroppedError: Proposal dropped: entry \d of term 2 is not in the committed log/],
  ] as const
) {
  Deno.test(`node: a deposed leader's proposals a snapshot of term ${snapTerm} covers are settled at once`, async () => {
    const { node, outcomes, snapshot } = await deposedLeaderWithProposals();
    try {
      snapshot(snapTerm);
      await settle();
      assert.equal(node.applied, 100);
      assert.equal(node.role, "follower");
      // Settled when the snapshot is installed, not after their 60 s timeout.
      const results = await Promise.race([
        Promise.all(outcomes),
        settle().then(() => "pending"),
      ]);
      assert.ok(Array.isArray(results), "the proposals are still pending");
      for (const r of results) assert.match(r, expected);
    } finally {
      await node.stop();
    }
  });
}
