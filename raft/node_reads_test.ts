import assert from "node:assert/strict";
import { RaftNode } from "./node.ts";
import { MemoryStorage } from "./storage/memory_storage.ts";
import { ManualClock } from "./testing/manual_clock.ts";
import { GatedStorage, nullMachine, settle } from "./_node_harness_test.ts";

Deno.test("node: reads are answered while writes keep arriving during every storage write", async () => {
  const clock = new ManualClock();
  const storage = new GatedStorage(MemoryStorage.withVoters(["n1"]));
  const node = await RaftNode.start({
    id: "n1",
    storage,
    transport: { send() {} },
    clock,
    tickMs: 10,
    snapshotEvery: 0,
    stateMachine: nullMachine,
  });
  const writes: Promise<unknown>[] = [];
  try {
    await clock.advance(10);
    node.campaign();
    await settle();
    assert.equal(node.role, "leader");
    // Steady load: every write takes 10 ms, during which one new proposal arrives.
    let left = 200;
    storage.onSave = async () => {
      if (left-- <= 0) return;
      writes.push(node.propose(new Uint8Array([1])));
      await clock.advance(10);
    };
    writes.push(node.propose(new Uint8Array([1])));
    while (writes.length < 5) await settle(1);
    let outcome = "pending";
    const read = node.readIndex({ timeoutMs: 1000 }).then(
      (i) => (outcome = `resolved at index ${i}`),
      (e) => (outcome = String(e)),
    );
    // A single-voter leader answers a read at once; the writes go on for 2 s.
    while (left > 0 && outcome === "pending") await settle(1);
    storage.onSave = undefined;
    left = 0;
    await clock.advance(2000);
    await read;
    assert.match(outcome, /^resolved/, `read on a healthy leader: ${outcome}`);
  } finally {
    storage.onSave = undefined;
    await Promise.allSettled(writes);
    await node.stop();
  }
});
