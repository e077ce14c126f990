import assert from "node:assert/strict";
import { RaftNode } from "./node.ts";
import { StoppedError } from "./node_errors.ts";
import type { Message } from "./core/types.ts";
import { MemoryStorage } from "./storage/memory_storage.ts";
import { ManualClock } from "./testing/manual_clock.ts";
import {
  appendFromN1,
  nullMachine,
  RecordingTransport,
  settle,
  startTestNode,
  winElection,
} from "./_node_harness_test.ts";

/** Node n1 (a heartbeat every tick) with its round trips recorded. */
async function measuringTrips() {
  const clock = new ManualClock();
  const t = new RecordingTransport();
  const node = await startTestNode({
    id: "n1",
    clock,
    transport: t,
    raft: { electionTick: 10, heartbeatTick: 1, checkQuorum: false },
  });
  const trips: { peer: string; ms: number }[] = [];
  node.on("roundTrip", (e) => trips.push(e));
  return { clock, t, node, trips };
}

Deno.test("node: a round trip is never measured from a heartbeat of an earlier leadership", async () => {
  const { clock, t, node, trips } = await measuringTrips();
  try {
    await clock.advance(10);
    await winElection(node, t);
    await clock.advance(10); // heartbeats to n2 and n3; n3 is down and does not answer
    assert.ok(t.take().some((m) => m.type === "heartbeat" && m.to === "n3"));
    // n2 leads a later term for 500 ms, then n1 wins again.
    const term = node.status().term;
    node.step({
      type: "app",
      from: "n2",
      to: "n1",
      term: term + 1,
      index: 0,
      logTerm: 0,
      entries: [],
      commit: 0,
    });
    await settle();
    assert.equal(node.role, "follower");
    for (let i = 0; i < 50; i++) {
      await clock.advance(10);
      node.step({
        type: "heartbeat",
        from: "n2",
        to: "n1",
        term: term + 1,
        commit: 0,
        context: "",
      });
    }
    t.take();
    await winElection(node, t);
    await clock.advance(10);
    const hb = t.take().find((m): m is Extract<Message, { type: "heartbeat" }> =>
      m.type === "heartbeat" && m.to === "n3"
    );
    assert.ok(hb !== undefined, "a heartbeat to n3 in the new term");
    // n3 is back and answers at once.
    node.step({ type: "heartbeatResp", from: "n3", to: "n1", term: hb.term, context: hb.context });
    await settle();
    const n3 = trips.filter((x) => x.peer === "n3");
    assert.equal(n3.length, 1);
    assert.ok(n3[0]!.ms <= 10, `n3 answered at once, but the round trip says ${n3[0]!.ms} ms`);
  } finally {
    await node.stop();
  }
});

Deno.test("node: stop() rejects a pending waitForLeader at once, and later calls too", async () => {
  const clock = new ManualClock();
  const node = await RaftNode.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1", "n2", "n3"]),
    transport: { send() {} },
    clock,
    snapshotEvery: 0,
    stateMachine: nullMachine,
  });
  let outcome: unknown = "pending";
  const w = node.waitForLeader(5000).then((l) => (outcome = `leader ${l}`), (e) => (outcome = e));
  await node.stop();
  await settle();
  assert.ok(outcome instanceof StoppedError, `at stop: ${outcome}`);
  await w;
  await assert.rejects(node.waitForLeader(5000), StoppedError);
});

Deno.test("node: a proposal it took and a read still pending at stop() fail differently: the proposal's outcome is unknown", async () => {
  const node = await startTestNode({ id: "n2", clock: new ManualClock() });
  node.step(appendFromN1({ commit: 3 }));
  await settle();
  assert.equal(node.leader, "n1");
  let proposed: unknown = "pending", read: unknown = "pending";
  node.propose(new Uint8Array([1])).then((v) => (proposed = v), (e) => (proposed = e));
  node.readIndex().then((v) => (read = v), (e) => (read = e));
  await settle();
  await node.stop();
  await settle();
  // Forwarded to n1, which may have appended it: it may still commit.
  assert.ok(proposed instanceof StoppedError && proposed.outcomeUnknown, String(proposed));
  assert.match(proposed.message, /outcome is unknown/);
  assert.ok(read instanceof StoppedError && !read.outcomeUnknown, String(read));
  const late = await node.propose(new Uint8Array([2])).catch((e) => e);
  assert.ok(late instanceof StoppedError && !late.outcomeUnknown, String(late));
});

Deno.test("node: a peer's round trip is measured afresh once it is reported unreachable or connected again (not from a heartbeat of before its restart)", async () => {
  for (const report of ["reportUnreachable", "reportConnected"] as const) {
    const { clock, t, node, trips } = await measuringTrips();
    const warnings: string[] = [];
    node.on("warning", (e) => warnings.push(e.message));
    try {
      await clock.advance(10);
      await winElection(node, t);
      await clock.advance(10);
      assert.ok(t.take().some((m) => m.type === "heartbeat" && m.to === "n3"));
      // n3 is down for 1 s (two election timeouts), then comes back on a new connection.
      for (let i = 0; i < 100; i++) await clock.advance(10);
      node[report]("n3");
      t.take();
      await clock.advance(10);
      const hb = t.take().find((m): m is Extract<Message, { type: "heartbeat" }> =>
        m.type === "heartbeat" && m.to === "n3"
      );
      assert.ok(hb !== undefined, "a heartbeat to n3");
      node.step({
        type: "heartbeatResp",
        from: "n3",
        to: "n1",
        term: hb.term,
        context: hb.context,
      });
      await settle();
      const n3 = trips.filter((x) => x.peer === "n3");
      assert.equal(n3.length, 1, report);
      assert.ok(
        n3[0]!.ms <= 10,
        `${report}: n3 answered at once, but the round trip says ${n3[0]!.ms} ms`,
      );
      assert.deepEqual(warnings.filter((w) => w.includes("n3")), [], report);
    } finally {
      await node.stop();
    }
  }
});
