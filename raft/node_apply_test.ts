import assert from "node:assert/strict";
import { type AppliedCommand, RaftNode } from "./node.ts";
import { MemoryStorage } from "./storage/memory_storage.ts";
import { ManualClock } from "./testing/manual_clock.ts";
import { settle } from "./_node_harness_test.ts";

Deno.test("node: with an async state machine, applied and waitForApplied wait for its apply to finish", async () => {
  const clock = new ManualClock();
  const state: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const node = await RaftNode.start<number>({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1"]),
    transport: { send() {} },
    clock,
    snapshotEvery: 0,
    stateMachine: {
      async apply(cmds: readonly AppliedCommand[]) {
        await gate; // e.g. the state machine writes to a database
        for (const c of cmds) state.push(c.index);
        return cmds.map((c) => c.index);
      },
      snapshot: () => new Uint8Array(),
      restore: () => {},
    },
  });
  try {
    await clock.advance(10);
    node.campaign();
    await settle();
    assert.equal(node.role, "leader");
    const before = node.applied;
    const p = node.propose(new Uint8Array([1]));
    await settle();
    const idx = before + 1;
    let seen: boolean | undefined;
    const w = node.waitForApplied(idx).then(() => (seen = state.includes(idx)));
    await settle();
    assert.equal(
      seen,
      undefined,
      `waitForApplied(${idx}) resolved before the state machine had it`,
    );
    assert.ok(node.applied < idx, "applied does not count entries still being applied");
    release();
    assert.equal(await p, idx);
    await w;
    assert.equal(seen, true, "the reader sees the entry");
    assert.equal(node.applied, idx);
  } finally {
    release();
    await node.stop();
  }
});
