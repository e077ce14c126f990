/**
 * A deposed leader in a minority partition, read with each consistency level.
 * `linearizable` never returns stale data; `local` and `leader` do, and the
 * linearizability checker says so.
 */
import assert from "node:assert/strict";
import { RaftNode } from "../raft/node.ts";
import { TimeoutError } from "../raft/node_errors.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import {
  encodeKvCommand,
  type KvResult,
  KvStateMachine,
} from "../raft/testing/kv_state_machine.ts";
import {
  checkHistory,
  HistoryRecorder,
  type RegisterInput,
  registerModel,
  type RegisterOutput,
} from "../raft/testing/lincheck/mod.ts";
import { ManualClock } from "../raft/testing/manual_clock.ts";
import { MemoryNetwork } from "../raft/testing/memory_transport.ts";
import { type Consistency, readBarrier } from "../transport/kv_routes.ts";

const IDS = ["n1", "n2", "n3", "n4", "n5"];

interface Cluster {
  clock: ManualClock;
  net: MemoryNetwork;
  nodes: Map<string, RaftNode<KvResult>>;
  kvs: Map<string, KvStateMachine>;
}

async function startCluster(checkQuorum: boolean): Promise<Cluster> {
  const clock = new ManualClock();
  const net = new MemoryNetwork();
  const nodes = new Map<string, RaftNode<KvResult>>();
  const kvs = new Map<string, KvStateMachine>();
  for (const id of IDS) {
    const kv = new KvStateMachine();
    const node = await RaftNode.start<KvResult>({
      id,
      storage: MemoryStorage.withVoters(IDS),
      transport: net.transport(id),
      stateMachine: kv,
      clock,
      tickMs: 10,
      requestTimeoutMs: 600,
      raft: { checkQuorum, preVote: true, electionTick: 10, seed: IDS.indexOf(id) + 1 },
    });
    net.register(node as RaftNode<unknown>);
    nodes.set(id, node);
    kvs.set(id, kv);
  }
  return { clock, net, nodes, kvs };
}

async function until(c: Cluster, what: string, cond: () => boolean, maxMs = 5_000): Promise<void> {
  for (let t = 0; t < maxMs; t += 10) {
    if (cond()) return;
    await c.clock.advance(10);
  }
  assert.fail(`not reached within ${maxMs} simulated ms: ${what}`);
}

/** Runs `p` while simulated time advances; returns its outcome. */
async function drive<T>(
  c: Cluster,
  p: Promise<T>,
  maxMs = 5_000,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  p.then((value) => (outcome = { ok: true, value }), (error) => (outcome = { ok: false, error }));
  for (let t = 0; t < maxMs && outcome === undefined; t += 10) await c.clock.advance(10);
  assert.ok(outcome !== undefined, "operation neither completed nor timed out");
  return outcome;
}

async function scenario(consistency: Consistency, checkQuorum: boolean) {
  const c = await startCluster(checkQuorum);
  const n1 = c.nodes.get("n1")!;
  const rec = new HistoryRecorder<RegisterInput, RegisterOutput>();
  try {
    n1.campaign();
    await until(c, "n1 leads", () => n1.role === "leader");
    const w1 = rec.invoke("writer", { f: "write", value: 1 });
    const r1 = await drive(c, n1.propose(encodeKvCommand({ op: "put", key: "x", value: "1" })));
    assert.ok(r1.ok);
    rec.ok(w1);
    await until(
      c,
      "everyone applied x=1",
      () => [...c.kvs.values()].every((kv) => kv.get("x") === "1"),
    );

    // The old leader and one follower end up in the minority.
    c.net.partition(["n1", "n2"], ["n3", "n4", "n5"]);
    const majority = ["n3", "n4", "n5"].map((id) => c.nodes.get(id)!);
    await until(c, "a leader in the majority", () => majority.some((n) => n.role === "leader"));
    const newLeader = majority.find((n) => n.role === "leader")!;
    const w2 = rec.invoke("writer", { f: "write", value: 2 });
    const r2 = await drive(
      c,
      newLeader.propose(encodeKvCommand({ op: "put", key: "x", value: "2" })),
    );
    assert.ok(r2.ok, "the majority side commits");
    rec.ok(w2);

    // A client reads x from the old leader, after the write of 2 was acknowledged.
    const rd = rec.invoke("reader", { f: "read" });
    const outcome = await drive(
      c,
      readBarrier(n1 as RaftNode<unknown>, consistency).then(() => c.kvs.get("n1")!.get("x")),
    );
    if (outcome.ok) rec.ok(rd, outcome.value === null ? null : Number(outcome.value));
    else rec.info(rd); // timed out or refused: the read returned nothing
    return { outcome, verdict: checkHistory(registerModel, rec.history()), oldLeaderRole: n1.role };
  } finally {
    for (const n of c.nodes.values()) await n.stop();
  }
}

Deno.test("§6.4 linearizable reads from a deposed leader in a minority never return stale data", async () => {
  for (const checkQuorum of [true, false]) {
    const { outcome, verdict } = await scenario("linearizable", checkQuorum);
    assert.equal(outcome.ok, false, `checkQuorum=${checkQuorum}: the read must not be served`);
    if (!outcome.ok) {
      assert.ok(outcome.error instanceof TimeoutError || outcome.error instanceof Error);
    }
    assert.equal(verdict.ok, true);
  }
});

Deno.test("§6.4 local reads from a deposed leader return stale data, and the checker catches it", async () => {
  const { outcome, verdict } = await scenario("local", true);
  assert.ok(outcome.ok);
  if (outcome.ok) assert.equal(outcome.value, "1", "the minority node still has the old value");
  assert.equal(verdict.ok, false, "a stale local read is not linearizable");
});

Deno.test("§6.4 leader reads from a leader that does not know it was deposed return stale data", async () => {
  // Without check-quorum the old leader keeps believing it leads.
  const { outcome, verdict, oldLeaderRole } = await scenario("leader", false);
  assert.equal(oldLeaderRole, "leader");
  assert.ok(outcome.ok);
  if (outcome.ok) assert.equal(outcome.value, "1");
  assert.equal(verdict.ok, false);
});
