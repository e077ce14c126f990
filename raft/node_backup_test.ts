import assert from "node:assert/strict";
import { type AppliedCommand, type NodeBackup, RaftNode } from "./node.ts";
import { StoppedError } from "./node_errors.ts";
import { MemoryStorage } from "./storage/memory_storage.ts";
import { ManualClock } from "./testing/manual_clock.ts";
import { settle } from "./_node_harness_test.ts";

/** A state machine whose apply takes a while (it yields twice) and whose state is its last index. */
class SlowCounter {
  applied = 0;
  backups = 0;
  async apply(cmds: readonly AppliedCommand[]): Promise<number[]> {
    const out: number[] = [];
    for (const c of cmds) {
      await Promise.resolve();
      this.applied = c.index;
      out.push(c.index);
      await Promise.resolve();
    }
    return out;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ applied: this.applied, from: "snapshot" }));
  }
  restore(): void {}
}

/** A backup's data as text (these state machines give bytes, not chunks). */
function text(b: NodeBackup): string {
  assert.ok(b.data instanceof Uint8Array);
  return new TextDecoder().decode(b.data);
}

async function leaderNode(sm: SlowCounter & { backup?: () => Uint8Array }) {
  const clock = new ManualClock();
  const storage = MemoryStorage.withVoters(["n1"]);
  const node = await RaftNode.start<number>({
    id: "n1",
    storage,
    transport: { send() {} },
    clock,
    snapshotEvery: 0,
    stateMachine: sm,
  });
  await clock.advance(10);
  node.campaign();
  await settle();
  assert.equal(node.role, "leader");
  return { node, storage };
}

Deno.test("node: a backup's data is the state at its index, also while entries are being applied", async () => {
  const sm = new SlowCounter();
  const { node, storage } = await leaderNode(sm);
  try {
    const proposals: Promise<number>[] = [];
    const backups = [];
    for (let wave = 0; wave < 8; wave++) {
      for (let i = 0; i < 5; i++) proposals.push(node.propose(new Uint8Array([i])));
      backups.push(node.backup());
      // Part of the way into applying the wave: asked while an apply is in flight.
      for (let k = 0; k < 3 + wave; k++) await Promise.resolve();
      backups.push(node.backup());
    }
    const indexes = await Promise.all(proposals);
    backups.push(node.backup());
    const taken = await Promise.all(backups);
    for (const b of taken) {
      // The commands at or below the backup's index, and only those, are in its data.
      const state = JSON.parse(text(b));
      for (const i of indexes) {
        assert.equal(
          i <= state.applied,
          i <= b.metadata.index,
          `command ${i}, ${JSON.stringify(b.metadata)}`,
        );
      }
      assert.equal(b.metadata.term, storage.term(b.metadata.index));
      assert.deepEqual(b.metadata.confState.voters, ["n1"]);
    }
    // Taken while the entries were applied, and at the end once all were.
    assert.ok(new Set(taken.map((b) => b.metadata.index)).size > 1);
    assert.equal(taken[taken.length - 1]!.metadata.index, node.applied);
  } finally {
    await node.stop();
  }
});

Deno.test("node: backup uses the state machine's backup() over snapshot(), and fails once stopped", async () => {
  const sm = Object.assign(new SlowCounter(), {
    backup(this: SlowCounter) {
      this.backups++;
      return new TextEncoder().encode(JSON.stringify({ applied: this.applied, from: "backup" }));
    },
  });
  const { node } = await leaderNode(sm);
  await node.propose(new Uint8Array([1]));
  const b = await node.backup();
  assert.equal(JSON.parse(text(b)).from, "backup");
  assert.equal(sm.backups, 1);
  await node.stop();
  await assert.rejects(node.backup(), StoppedError);
});

Deno.test("node: a backup is taken while writes keep coming", async () => {
  const sm = new SlowCounter();
  const { node } = await leaderNode(sm);
  try {
    let taken = false;
    const backup = node.backup().then((b) => (taken = true, b));
    const proposals: Promise<number>[] = [];
    // The node's own loop is woken by microtasks too: this one never gives up the event loop.
    while (!taken && proposals.length < 20_000) {
      proposals.push(node.propose(new Uint8Array([1])));
      await Promise.resolve();
    }
    assert.ok(taken, `no backup after ${proposals.length} proposals`);
    const b = await backup;
    const state = JSON.parse(text(b));
    for (const i of await Promise.all(proposals)) {
      assert.equal(i <= state.applied, i <= b.metadata.index);
    }
  } finally {
    await node.stop();
  }
});
