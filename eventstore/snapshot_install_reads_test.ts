import assert from "node:assert/strict";
import type { Message, NodeId } from "../raft/core/types.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { MemoryArchive } from "./archive.ts";
import { EventStore } from "./event_store.ts";
import { FakeClock } from "./_cluster_test.ts";

type Gated = MemoryStorage & { gate?: Promise<void>; installing?: boolean };

Deno.test("reads and subscriptions on a follower installing a snapshot wait for the install (its log is gone)", async () => {
  const clock = new FakeClock();
  const ids = ["n1", "n2", "n3"];
  const isolated = new Set<NodeId>();
  const stores = new Map<NodeId, EventStore>();
  const storages = new Map<NodeId, Gated>();
  const send = (ms: readonly Message[]) => {
    for (const m of ms) {
      if (isolated.has(m.from) || isolated.has(m.to)) continue;
      clock.after(0, () => {
        if (!isolated.has(m.from) && !isolated.has(m.to)) stores.get(m.to)?.node.step(m);
      });
    }
  };
  let seed = 7;
  for (const id of ids) {
    const st = MemoryStorage.withVoters(ids) as Gated;
    const save = st.save.bind(st);
    // Like FileStorage: the log is replaced by the snapshot first, then the
    // write finishes (fsync of the hard state) some time later.
    st.save = (u, o) => {
      const p = save(u, o);
      if (u.snapshot === undefined || st.gate === undefined) return p;
      st.installing = true;
      return p.then(() => st.gate!).finally(() => (st.installing = false));
    };
    storages.set(id, st);
    stores.set(
      id,
      await EventStore.start({
        id,
        storage: st,
        archive: new MemoryArchive(),
        transport: { send },
        clock,
        tickMs: 10,
        requestTimeoutMs: 1500,
        snapshotEvery: 10,
        snapshotKeep: 0,
        cache: { cacheEntries: 0 }, // stands for events older than the 1024-entry cache
        raft: { seed: seed++, electionTick: 10, heartbeatTick: 1 },
      }),
    );
  }
  const runUntil = async (cond: () => boolean, ms = 10_000) => {
    for (let t = 0; t < ms; t += 5) {
      if (cond()) return true;
      clock.advance(5);
      await new Promise((r) => setTimeout(r, 0));
    }
    return cond();
  };
  const drive = async <T>(p: Promise<T>): Promise<T> => {
    let settled = false;
    p.finally(() => (settled = true)).catch(() => {});
    await runUntil(() => settled);
    return await p;
  };
  try {
    assert.ok(await runUntil(() => ids.some((id) => stores.get(id)!.node.role === "leader")));
    const leaderId = ids.find((id) => stores.get(id)!.node.role === "leader")!;
    const lagId = ids.find((id) => id !== leaderId)!;
    const leader = stores.get(leaderId)!;
    for (let i = 0; i < 10; i++) await drive(leader.append("tmp", { type: "T", data: i }));
    const lag = stores.get(lagId)!;
    assert.ok(await runUntil(() => lag.stateMachine.lastPosition === 9));
    // The follower reads tmp fine.
    assert.equal((await lag.read("tmp", { consistency: "local" })).events.length, 10);

    isolated.add(lagId);
    await drive(leader.setMetadata("tmp", { maxCount: 2 }));
    for (let i = 10; i < 60; i++) await drive(leader.append("tmp", { type: "T", data: i }));
    assert.ok(storages.get(leaderId)!.firstIndex() > 12, "leader compacted");

    const lagStorage = storages.get(lagId)!;
    let release!: () => void;
    lagStorage.gate = new Promise<void>((r) => (release = r));
    isolated.delete(lagId);
    assert.ok(await runUntil(() => lagStorage.installing === true), "snapshot install started");

    // In the window the follower still holds its old state (tmp 0..9), but that log is gone:
    // a read and a $all subscription from 0 wait for the install instead of failing.
    let outcome = "pending";
    const read = lag.read("tmp", { consistency: "local" }).then(
      (r) => (outcome = `ok ${r.events.map((e) => e.data).join(",")}`),
      (e) => (outcome = `${(e as Error).name}: ${(e as Error).message}`),
    );
    let subOutcome = "pending";
    const sub = (async () => {
      let n = 0;
      for await (const item of lag.subscribe("$all", { from: 0 })) {
        if (item.kind === "caught-up") break;
        n++;
      }
      return n;
    })().then((n) => (subOutcome = `ok ${n}`), (e) => (subOutcome = `${(e as Error).name}: ${e}`));
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
    assert.equal(outcome, "pending", "the read waits while the install is under way");
    assert.equal(subOutcome, "pending");
    release();
    assert.ok(await runUntil(() => outcome !== "pending" && subOutcome !== "pending"));
    await read;
    await sub;
    // It answers from the installed snapshot (tmp keeps its last 2 events), not the old state.
    const m = /^ok (\d+),(\d+)$/.exec(outcome);
    assert.ok(m !== null && Number(m[1]) >= 10 && Number(m[2]) === Number(m[1]) + 1, outcome);
    // tmp keeps 2 events; the other events of $all after the snapshot are all there.
    assert.match(subOutcome, /^ok \d+$/, subOutcome);
    assert.ok(await runUntil(() => lag.stateMachine.lastPosition === 59));
    assert.deepEqual(
      (await lag.read("tmp", { consistency: "local" })).events.map((e) => e.data),
      [58, 59],
    );
  } finally {
    for (const s of stores.values()) await s.stop();
  }
});
