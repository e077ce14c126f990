import assert from "node:assert/strict";
import { RaftNode } from "./node.ts";
import { MemoryStorage } from "./storage/memory_storage.ts";

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
