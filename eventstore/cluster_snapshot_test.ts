import assert from "node:assert/strict";
import { TestCluster } from "./_cluster_test.ts";

Deno.test("a follower that installs a snapshot reads the events before it from the archive the snapshot carried", async () => {
  const c = await TestCluster.start(42, { snapshotEvery: 10, snapshotKeep: 0 });
  try {
    assert.ok(await c.runUntil(() => c.leader() !== undefined, 5000));
    const leaderId = c.leader()!;
    const lagging = c.ids.find((id) => id !== leaderId)!;
    const leader = c.store(leaderId);
    const drive = async <T>(p: Promise<T>): Promise<T> => {
      let settled = false;
      p.finally(() => (settled = true)).catch(() => {});
      await c.runUntil(() => settled, 10_000);
      return await p;
    };
    await drive(leader.setMetadata("tmp", { maxCount: 5 }));
    c.isolated.add(lagging);
    for (let i = 0; i < 60; i++) await drive(leader.append("tmp", { type: "T", data: i }));
    await drive(
      leader.append("kept", [{ id: "k0", type: "K", data: "a" }, { id: "k1", type: "K" }]),
    );
    for (let i = 60; i < 100; i++) await drive(leader.append("tmp", { type: "T", data: i }));
    const leaderStorage = c.storages.get(leaderId)!;
    assert.ok(leaderStorage.firstIndex() > 60, `leader compacted to ${leaderStorage.firstIndex()}`);

    c.isolated.delete(lagging);
    const follower = c.store(lagging);
    assert.ok(
      await c.runUntil(
        () => follower.stateMachine.lastPosition === leader.stateMachine.lastPosition,
        10_000,
      ),
      "follower did not catch up",
    );
    const followerStorage = c.storages.get(lagging)!;
    assert.ok(followerStorage.firstIndex() > 60, "the follower installed a snapshot");
    assert.ok(c.archives.get(lagging)!.size > 0, "the snapshot's archive was kept");
    const read = async (id: string) => {
      const s = c.store(id);
      const kept = await drive(s.read("kept", { consistency: "local" }));
      const tmp = await drive(s.read("tmp", { consistency: "local" }));
      return { kept: kept.events.map((e) => [e.id, e.data]), tmp: tmp.events.map((e) => e.data) };
    };
    const expected = { kept: [["k0", "a"], ["k1", null]], tmp: [95, 96, 97, 98, 99] };
    assert.deepEqual(await read(leaderId), expected);
    assert.deepEqual(await read(lagging), expected);

    // A restart of that follower keeps serving the archived events, and it keeps up.
    await c.restart(lagging);
    const last = leader.stateMachine.lastPosition;
    assert.ok(await c.runUntil(() => c.store(lagging).stateMachine.lastPosition === last, 10_000));
    assert.deepEqual(await read(lagging), expected);
    const after = await drive(c.store(c.leader()!).append("kept", { id: "k2", type: "K" }));
    assert.ok(
      await c.runUntil(() => c.store(lagging).stateMachine.lastPosition === after.position, 10_000),
    );
    assert.equal((await read(lagging)).kept.length, 3);
  } finally {
    await c.stop();
  }
});
