import assert from "node:assert/strict";
import type { Clock } from "../raft/clock.ts";
import type { Message } from "../raft/core/types.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { FakeClock } from "./_cluster_test.ts";
import { EventStore } from "./event_store.ts";

Deno.test("an event's timestamp is the leader's clock, also when a follower proposes it", async () => {
  const clock = new FakeClock();
  const ids = ["n1", "n2", "n3"];
  const SKEW = 3_600_000;
  // n1 keeps time, n2 is an hour ahead, n3 an hour behind.
  const offset = (id: string) => id === "n1" ? 0 : id === "n2" ? SKEW : -SKEW;
  const clockOf = (id: string): Clock => ({
    now: () => clock.now() + offset(id),
    after: (ms, fn) => clock.after(ms, fn),
    every: (ms, fn) => clock.every(ms, fn),
  });
  const stores = new Map<string, EventStore>();
  const send = (ms: readonly Message[]) => {
    for (const m of ms) clock.after(0, () => stores.get(m.to)?.node.step(m));
  };
  let seed = 1;
  for (const id of ids) {
    stores.set(
      id,
      await EventStore.start({
        id,
        storage: MemoryStorage.withVoters(ids),
        transport: { send },
        clock: clockOf(id),
        tickMs: 10,
        requestTimeoutMs: 1500,
        raft: { seed: seed++, electionTick: 10, heartbeatTick: 1 },
      }),
    );
  }
  const runUntil = async (done: () => boolean) => {
    for (let t = 0; t < 10_000 && !done(); t += 5) {
      clock.advance(5);
      await new Promise((r) => setTimeout(r, 0));
    }
    assert.ok(done(), "timed out");
  };
  try {
    await runUntil(() => ids.some((id) => stores.get(id)!.node.role === "leader"));
    const leader = ids.find((id) => stores.get(id)!.node.role === "leader")!;
    for (const proposer of ids) {
      let settled = false;
      const p = stores.get(proposer)!.append(`s-${proposer}`, { id: `e-${proposer}`, type: "T" });
      p.finally(() => (settled = true)).catch(() => {});
      await runUntil(() => settled);
      await p;
      const leaderNow = clock.now() + offset(leader);
      for (const id of ids) {
        await runUntil(() =>
          stores.get(id)!.stateMachine.appliedIndex >= stores.get(leader)!.stateMachine.appliedIndex
        );
        const e = stores.get(id)!.stateMachine.readStream(`s-${proposer}`).events[0]!;
        assert.ok(
          Math.abs(e.timestamp - leaderNow) < 60_000,
          `${proposer}'s event on ${id}: ${e.timestamp}, leader ${leader}'s clock ${leaderNow}`,
        );
      }
    }
  } finally {
    for (const s of stores.values()) await s.stop();
  }
});
