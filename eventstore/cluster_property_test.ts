import assert from "node:assert/strict";
import fc from "fast-check";
import { NotLeaderError, ProposalDroppedError } from "../raft/core/errors.ts";
import { StoppedError, TimeoutError } from "../raft/node_errors.ts";
import { TestCluster } from "./_cluster_test.ts";
import { EventIdConflictError, WrongExpectedRevisionError } from "./errors.ts";
import type { AppendResult, ExpectedRevision } from "./types.ts";

interface Op {
  stream: number;
  expected: "exact" | "any" | "no_stream" | "stream_exists" | "stale";
  size: number;
  node: number;
  /** Fake milliseconds the client waits before this operation. */
  think: number;
}

interface Scenario {
  seed: number;
  clients: Op[][];
  drop: number;
  maxDelay: number;
  isolations: { at: number; node: number; for: number }[];
  restarts: { at: number; node: number }[];
  /** Keep only the last 2 events of acc-3 (so some events are removed and the log may be compacted). */
  retention: boolean;
}

const STREAMS = ["acc-1", "acc-2", "acc-3"];

const opArb: fc.Arbitrary<Op> = fc.record({
  stream: fc.integer({ min: 0, max: STREAMS.length - 1 }),
  expected: fc.constantFrom("exact", "exact", "any", "no_stream", "stream_exists", "stale"),
  size: fc.integer({ min: 1, max: 4 }),
  node: fc.integer({ min: 0, max: 2 }),
  think: fc.integer({ min: 0, max: 80 }),
});

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  clients: fc.array(fc.array(opArb, { minLength: 1, maxLength: 10 }), {
    minLength: 2,
    maxLength: 4,
  }),
  drop: fc.constantFrom(0, 0.02, 0.1),
  maxDelay: fc.integer({ min: 0, max: 15 }),
  isolations: fc.array(
    fc.record({
      at: fc.integer({ min: 0, max: 400 }).map((n) => n * 5),
      node: fc.integer({ min: 0, max: 2 }),
      for: fc.integer({ min: 10, max: 120 }).map((n) => n * 5),
    }),
    { maxLength: 2 },
  ),
  restarts: fc.array(
    fc.record({
      at: fc.integer({ min: 0, max: 300 }).map((n) => n * 5),
      node: fc.integer({ min: 0, max: 2 }),
    }),
    { maxLength: 2 },
  ),
  retention: fc.boolean(),
});

interface Ack {
  stream: string;
  ids: string[];
  expected: ExpectedRevision;
  result: AppendResult;
}

const RETRYABLE = (e: unknown) =>
  e instanceof TimeoutError || e instanceof ProposalDroppedError || e instanceof NotLeaderError ||
  e instanceof StoppedError;

async function runScenario(s: Scenario): Promise<void> {
  const c = await TestCluster.start(s.seed, { snapshotEvery: 10, snapshotKeep: 2 });
  const acks: Ack[] = [];
  try {
    assert.ok(await c.runUntil(() => c.leader() !== undefined, 5000), "no leader elected");
    if (s.retention) {
      const set = c.store(c.leader()!).setMetadata("acc-3", { maxCount: 2 });
      assert.ok(
        await c.runUntil(
          () => c.ids.every((id) => c.store(id).stateMachine.getMetadata("acc-3").maxCount === 2),
          5000,
        ),
      );
      await set;
    }
    c.faults = { drop: s.drop, maxDelay: s.maxDelay };
    let done = 0;
    const clients = s.clients.map(async (ops, ci) => {
      for (const [oi, op] of ops.entries()) {
        if (op.think > 0) await new Promise<void>((r) => c.clock.after(op.think, r));
        const stream = STREAMS[op.stream]!;
        const ids = Array.from({ length: op.size }, (_, k) => `c${ci}-o${oi}-e${k}`);
        // Decide the expected revision from what some node has applied: it may be stale.
        const local = c.store(c.ids[op.node]!).stateMachine.streamInfo(stream);
        const current = local?.exists ? local.lastRevision : -1;
        const expected: ExpectedRevision = op.expected === "exact"
          ? (current < 0 ? "no_stream" : current)
          : op.expected === "stale"
          ? Math.max(0, current - 1)
          : op.expected;
        let node = op.node;
        for (let attempt = 0; attempt < 40; attempt++) {
          const store = c.store(c.ids[node]!);
          try {
            const result = await store.append(
              stream,
              ids.map((id) => ({ id, type: "Deposited", data: { client: ci, op: oi } })),
              { expectedRevision: expected },
            );
            acks.push({ stream, ids, expected, result });
            break;
          } catch (e) {
            if (e instanceof WrongExpectedRevisionError) break;
            if (e instanceof EventIdConflictError) {
              throw new Error(`id conflict on a whole-batch retry: ${e.message}`);
            }
            if (!RETRYABLE(e)) throw e;
            node = (node + 1) % c.ids.length;
            await new Promise<void>((r) => c.clock.after(20 + c.rand.int(100), r));
          }
        }
      }
      done++;
    });
    const failures: unknown[] = [];
    for (const p of clients) p.catch((e) => failures.push(e));

    // Drive time while clients run, isolating nodes on schedule.
    const isolations = [...s.isolations].sort((a, b) => a.at - b.at);
    let t = 0;
    while (done + failures.length < clients.length && t < 60_000) {
      for (const iso of isolations) {
        const id = c.ids[iso.node]!;
        if (t === iso.at) c.isolated.add(id);
        if (t === iso.at + iso.for) c.isolated.delete(id);
      }
      for (const r of s.restarts) if (t === r.at) await c.restart(c.ids[r.node]!);
      await c.run(5);
      t += 5;
    }
    assert.deepEqual(failures, []);
    assert.equal(done, clients.length, "clients did not finish");

    // Heal and let every node catch up.
    c.isolated.clear();
    c.faults = { drop: 0, maxDelay: 0 };
    const converged = await c.runUntil(() => {
      const lasts = c.ids.map((id) => c.store(id).stateMachine.lastPosition);
      const applied = c.ids.map((id) => c.store(id).node.applied);
      return c.leader() !== undefined && new Set(lasts).size === 1 && new Set(applied).size === 1;
    }, 20_000);
    assert.ok(converged, "nodes did not converge");

    // Every node: per-stream revisions gapless in position order, the same
    // stream/revision at every position on every node, and the same events.
    let reference: string[] | undefined;
    for (const id of c.ids) {
      const sm = c.store(id).stateMachine;
      const summary: string[] = [];
      const revs = new Map<string, number>();
      const aliveIds = new Set<string>();
      for (let p = 0; p <= sm.lastPosition; p++) {
        const info = sm.positionInfo(p)!;
        const expect = revs.get(info.stream) ?? 0;
        assert.equal(info.revision, expect, `revision at position ${p} on ${id}`);
        revs.set(info.stream, expect + 1);
        let eventId = "-";
        if (info.alive) {
          eventId = sm.eventAt(p).id;
          assert.ok(!aliveIds.has(eventId), `duplicate id ${eventId} on ${id}`);
          aliveIds.add(eventId);
        }
        summary.push(`${p}:${info.stream}/${info.revision}:${eventId}`);
      }
      const visible = sm.readAll({ limit: 10_000 }).events;
      assert.deepEqual(visible.map((e) => e.id).sort(), [...aliveIds].sort(), `readAll on ${id}`);
      if (reference === undefined) reference = summary;
      else assert.deepEqual(summary, reference, `node ${id} disagrees`);
    }

    // Every acknowledged append is there exactly once, where it was acknowledged.
    const sm0 = c.store(c.ids[0]!).stateMachine;
    let events = 0;
    for (const a of acks) {
      const first = a.result.position - (a.ids.length - 1);
      assert.equal(a.result.lastRevision - a.result.firstRevision + 1, a.ids.length);
      for (let k = 0; k < a.ids.length; k++) {
        const info = sm0.positionInfo(first + k);
        assert.deepEqual(
          info && { stream: info.stream, revision: info.revision },
          { stream: a.stream, revision: a.result.firstRevision + k },
        );
        if (info!.alive) assert.equal(sm0.eventAt(first + k).id, a.ids[k]);
        events++;
      }
      if (typeof a.expected === "number") assert.equal(a.result.firstRevision, a.expected + 1);
      if (a.expected === "no_stream") assert.equal(a.result.firstRevision, 0);
    }
    if (Deno.env.get("EVENTSTORE_PROPERTY_VERBOSE")) {
      const replays = acks.filter((a) => a.result.replayed).length;
      console.log(
        `seed ${s.seed}: ${acks.length} acknowledged appends (${replays} replayed), ${events} events, ${
          sm0.lastPosition + 1
        } positions, t=${t} ms, first index ${c.storages.get(c.ids[0]!)!.firstIndex()}`,
      );
    }
  } finally {
    await c.stop();
  }
}

Deno.test("3-node cluster: concurrent appends with expected revisions under drops, delays and partitions never leave gaps or duplicates", async () => {
  const seed = Number(Deno.env.get("EVENTSTORE_PROPERTY_SEED") ?? Date.now() % 2 ** 31);
  await fc.assert(fc.asyncProperty(scenarioArb, runScenario), {
    numRuns: Number(Deno.env.get("EVENTSTORE_PROPERTY_RUNS") ?? 12),
    seed,
    endOnFailure: true,
    reporter: (out) => {
      if (out.failed) {
        throw new Error(
          `Property failed (fast-check seed ${seed}; rerun with EVENTSTORE_PROPERTY_SEED=${seed}): ${
            out.counterexample === null ? "" : JSON.stringify(out.counterexample)
          }\n${out.errorInstance}`,
        );
      }
    },
  });
});
