import assert from "node:assert/strict";
import { RaftNode } from "./node.ts";
import { MemoryStorage } from "./storage/memory_storage.ts";
import { ManualClock } from "./testing/manual_clock.ts";
import type { Clock } from "./clock.ts";
import type { Message } from "./core/types.ts";
import { NotLeaderError } from "./core/errors.ts";
import {
  appendFromN1,
  GatedStorage,
  nullMachine,
  RecordingTransport,
  settle,
  startTestNode,
  winElection,
} from "./_node_harness_test.ts";

for (const writeMs of [10, 120]) {
  Deno.test(`node: reads are answered while writes keep arriving during every ${writeMs} ms write`, async () => {
    const clock = new ManualClock();
    const storage = new GatedStorage(MemoryStorage.withVoters(["n1"]));
    // An election timeout of 100 ms: writes of 120 ms take longer (a slow disk).
    const node = await startTestNode({
      id: "n1",
      clock,
      storage,
      raft: { electionTick: 10, heartbeatTick: 1 },
    });
    const writes: Promise<unknown>[] = [];
    try {
      await clock.advance(10);
      node.campaign();
      await settle();
      assert.equal(node.role, "leader");
      // Steady load: during every write one new proposal arrives.
      let left = 100;
      storage.onSave = async () => {
        if (left-- <= 0) return;
        writes.push(node.propose(new Uint8Array([1]), { timeoutMs: 60_000 }));
        await clock.advance(writeMs);
      };
      writes.push(node.propose(new Uint8Array([1]), { timeoutMs: 60_000 }));
      while (writes.length < 5) await settle(1);
      const commitBefore = node.status().commit;
      let outcome = "pending";
      const read = node.readIndex({ timeoutMs: 40 * writeMs }).then(
        (i) => (outcome = `resolved at index ${i}`),
        (e) => (outcome = String(e)),
      );
      // A single-voter leader answers a read at once; the writes go on for 100 writes.
      while (left > 0 && outcome === "pending") await settle(1);
      const commitAfter = node.status().commit;
      storage.onSave = undefined;
      left = 0;
      await clock.advance(50 * writeMs);
      await read;
      assert.match(
        outcome,
        /^resolved/,
        `read on a healthy leader: ${outcome} (commit went ${commitBefore} -> ${commitAfter})`,
      );
    } finally {
      storage.onSave = undefined;
      await Promise.allSettled(writes);
      await node.stop();
    }
  });
}

/** A clock whose intervals behave like setInterval: after a pause, a due interval fires once. */
class PausableClock implements Clock {
  t = 1_700_000_000_000;
  timers = new Set<{ at: number; every: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  every(ms: number, fn: () => void): () => void {
    const x = { at: this.t + ms, every: ms, fn };
    this.timers.add(x);
    return () => this.timers.delete(x);
  }
  after(ms: number, fn: () => void): () => void {
    const x = { at: this.t + ms, every: 0, fn };
    this.timers.add(x);
    return () => this.timers.delete(x);
  }
  /** Normal time: every due callback fires, one interval at a time. */
  async step(ms: number): Promise<void> {
    this.t += ms;
    for (const x of [...this.timers]) {
      if (x.at > this.t) continue;
      if (x.every > 0) x.at += x.every;
      else this.timers.delete(x);
      x.fn();
    }
    await settle(2);
  }
  /** The event loop was blocked for `ms` and a request runs before any timer. */
  freeze(ms: number): void {
    this.t += ms;
    for (const x of this.timers) if (x.every > 0) x.at = Math.max(x.at, this.t + x.every);
  }
  /** The event loop was blocked for `ms`: each due interval fires once (coalesced). */
  async pause(ms: number): Promise<void> {
    this.t += ms;
    for (const x of [...this.timers]) {
      if (x.at > this.t) continue;
      if (x.every > 0) x.at = this.t + x.every;
      else this.timers.delete(x);
      x.fn();
    }
    await settle(2);
  }
}

/** A leader of n1..n3 with lease reads, whose lease holds (n2 acked a heartbeat round). */
async function leaseLeader(
  clock: PausableClock,
): Promise<{ node: RaftNode; t: RecordingTransport }> {
  const t = new RecordingTransport();
  const node = await RaftNode.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1", "n2", "n3"]),
    transport: t,
    clock,
    tickMs: 10,
    raft: {
      electionTick: 10,
      heartbeatTick: 1,
      checkQuorum: true,
      preVote: true,
      readOnlyOption: "leaseBased",
      maxClockDriftTicks: 2,
    },
    snapshotEvery: 0,
    stateMachine: nullMachine,
  });
  await clock.step(10);
  await winElection(node, t);
  const term = node.status().term;
  const last = node.status().lastIndex;
  node.step({
    type: "appResp",
    from: "n2",
    to: "n1",
    term,
    index: last,
    reject: false,
    rejectHint: 0,
    logTerm: 0,
  });
  await settle();
  assert.equal(node.status().commit, last, "the leader's entry is committed");
  // A heartbeat round (lease context) acked by n2: the lease holds.
  await clock.step(10);
  const hb = t.take().find((m) => m.type === "heartbeat" && m.to === "n2") as Extract<
    Message,
    { type: "heartbeat" }
  >;
  assert.ok(hb.context.startsWith("~lease:"));
  node.step({ type: "heartbeatResp", from: "n2", to: "n1", term, context: hb.context });
  await settle();
  assert.equal(await node.readIndex(), last, "lease read while the lease holds");
  return { node, t };
}

for (const how of ["the timer fires once after the pause", "a read arrives before any timer"]) {
  Deno.test(`node: no lease read after the process was paused longer than the lease (${how})`, async () => {
    const clock = new PausableClock();
    const { node, t } = await leaseLeader(clock);
    try {
      // n1 is blocked for 10 s: n2 and n3 may elect a new leader and commit writes meanwhile.
      if (how.startsWith("the timer")) await clock.pause(10_000);
      else clock.freeze(10_000);
      t.take();
      let outcome = "pending";
      const r = node.readIndex({ timeoutMs: 50 }).then(
        (i) => (outcome = `answered at ${i}`),
        (e) => (outcome = String(e)),
      );
      await settle();
      const early = outcome;
      for (let i = 0; i < 6; i++) await clock.step(10);
      await r;
      // It counts the 100 election timeouts: no longer leader (check-quorum), it refuses the
      // read; never the lease's old answer.
      assert.doesNotMatch(early, /^answered/, `10 s after the last ack, the read was ${early}`);
      assert.doesNotMatch(outcome, /^answered/);
      assert.notEqual(node.role, "leader");
    } finally {
      await node.stop();
    }
  });
}

/** Follower n2 of leader n1 (term 2), 10 ms ticks, election timeout 10 ticks; sent messages in `t`. */
async function followerOfN1() {
  const clock = new ManualClock();
  const t = new RecordingTransport();
  const node = await startTestNode({
    id: "n2",
    clock,
    transport: t,
    raft: { electionTick: 10, heartbeatTick: 1 },
  });
  node.step(appendFromN1({ commit: 0, index: 0, logTerm: 0 }));
  await settle();
  assert.equal(node.leader, "n1");
  t.take();
  return { clock, t, node };
}

Deno.test("node: a read whose request to the leader was lost is asked again after an election timeout", async () => {
  const { clock, t, node } = await followerOfN1();
  const heartbeat = () =>
    node.step({ type: "heartbeat", from: "n1", to: "n2", term: 2, commit: 0, context: "" });
  try {
    const read = node.readIndex({ timeoutMs: 1000 });
    await settle();
    const first = t.take().filter((m) => m.type === "readIndex");
    assert.equal(first.length, 1, "the read goes to the leader");
    // That request is lost. The leader stays, and n2 asks again within an election timeout or so.
    let again: Message | undefined;
    for (let i = 0; i < 30 && again === undefined; i++) {
      heartbeat();
      await clock.advance(10);
      again = t.take().find((m) => m.type === "readIndex");
    }
    assert.ok(again !== undefined && again.type === "readIndex", "asked again");
    assert.notEqual(again.context, (first[0] as { context: string }).context);
    node.step({
      type: "readIndexResp",
      from: "n1",
      to: "n2",
      term: 2,
      index: 0,
      context: again.context,
    });
    assert.equal(await read, 0);
  } finally {
    await node.stop();
  }
});

Deno.test("node: a leader re-elected in a new term within one batch asks again for the reads of its old term", async () => {
  const clock = new ManualClock();
  const t = new RecordingTransport();
  const node = await startTestNode({
    id: "n1",
    clock,
    transport: t,
    raft: { electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false },
  });
  /** Makes n1 leader of a new term (n2 votes) and commits its first entry (n2 acks). */
  const win = async () => {
    node.campaign();
    const term = node.status().term;
    node.step({ type: "voteResp", from: "n2", to: "n1", term, reject: false });
    await settle();
    assert.equal(node.role, "leader");
    node.step({
      type: "appResp",
      from: "n2",
      to: "n1",
      term,
      index: node.status().lastIndex,
      reject: false,
      rejectHint: 0,
      logTerm: 0,
    });
    await settle();
    return term;
  };
  try {
    await clock.advance(10);
    const term = await win();
    t.take();
    let answered: number | undefined;
    const read = node.readIndex({ timeoutMs: 5000 }).then((i) => (answered = i));
    await settle();
    assert.ok(t.take().some((m) => m.type === "heartbeat" && m.context !== ""), "a read round");
    // Before n2 answers, a leader of a later term shows up, and n1 wins the term after that,
    // all within one batch: the Ready shows n1 leading, as before, in a new term.
    node.step({
      type: "app",
      from: "n3",
      to: "n1",
      term: term + 1,
      index: 0,
      logTerm: 0,
      entries: [],
      commit: 0,
    });
    await win();
    const round = t.take().find((m) => m.type === "heartbeat" && m.context !== "");
    assert.ok(round !== undefined && round.type === "heartbeat", "the read is asked again at once");
    node.step({
      type: "heartbeatResp",
      from: "n2",
      to: "n1",
      term: round.term,
      context: round.context,
    });
    await settle();
    assert.equal(answered, node.status().commit);
    await read;
  } finally {
    await node.stop();
  }
});

/** Follower n2 of n1..n3 whose writes can be held, with a recording transport. */
async function gatedFollower() {
  const clock = new ManualClock();
  const t = new RecordingTransport();
  const storage = new GatedStorage(MemoryStorage.withVoters(["n1", "n2", "n3"]));
  const node = await startTestNode({
    id: "n2",
    clock,
    transport: t,
    storage,
    raft: { electionTick: 10, heartbeatTick: 1 },
  });
  return { clock, t, storage, node };
}

Deno.test("node: a read answered while a slow write is in flight keeps its answer", async () => {
  const { clock, t, storage, node } = await gatedFollower();
  const heartbeat = () =>
    node.step({ type: "heartbeat", from: "n1", to: "n2", term: 2, commit: 0, context: "" });
  try {
    node.step(appendFromN1({ commit: 3 }));
    await settle();
    t.take();
    let answered: unknown;
    const read = node.readIndex({ timeoutMs: 5000 }).then(
      (i) => (answered = i),
      (e) => (answered = e),
    );
    await settle();
    const request = t.take().find((m) => m.type === "readIndex");
    assert.ok(request !== undefined && request.type === "readIndex");
    // A write that takes 300 ms (three election timeouts) starts; the answer arrives meanwhile.
    storage.block();
    node.step(
      appendFromN1({
        commit: 3,
        entries: [{ term: 2, index: 4, type: "normal", data: new Uint8Array() }],
      }),
    );
    await settle();
    assert.equal(storage.waiting, 1);
    node.step({
      type: "readIndexResp",
      from: "n1",
      to: "n2",
      term: 2,
      index: 3,
      context: request.context,
    });
    for (let i = 0; i < 30; i++) {
      heartbeat();
      await clock.advance(10);
    }
    storage.release();
    await settle();
    await read;
    assert.equal(answered, 3, "the answer to the first request counts (it may be asked again)");
  } finally {
    storage.release();
    await node.stop();
  }
});

Deno.test("node: a lost read request is asked again while the follower's disk stays busy", async () => {
  const { clock, t, storage, node } = await gatedFollower();
  let read: Promise<unknown> = Promise.resolve();
  try {
    node.step(appendFromN1({ commit: 3 }));
    await settle();
    t.take();
    read = node.readIndex({ timeoutMs: 5000 }).catch((e) => e);
    await settle();
    const request = t.take().find((m) => m.type === "readIndex");
    assert.ok(request !== undefined, "the read goes to the leader");
    // That request is lost. The leader keeps appending; every write takes 30 ms.
    storage.block();
    let index = 4;
    node.step(appendFromN1({
      commit: 3,
      entries: [{ term: 2, index, type: "normal", data: new Uint8Array() }],
    }));
    await settle();
    let asked = 0;
    for (let cycle = 0; cycle < 40 && asked === 0; cycle++) {
      // The next append arrives while the current write is in flight.
      node.step(appendFromN1({
        index,
        logTerm: 2,
        commit: 3,
        entries: [{ term: 2, index: index + 1, type: "normal", data: new Uint8Array() }],
      }));
      index++;
      for (let k = 0; k < 3; k++) await clock.advance(10);
      storage.release();
      storage.block();
      await settle();
      asked += t.take().filter((m) => m.type === "readIndex").length;
    }
    assert.ok(asked > 0, "the lost read was never asked again in 1200 ms (12 election timeouts)");
  } finally {
    storage.release();
    await node.stop();
  }
  await read;
});

Deno.test("node: a read waiting on a leader that went silent fails once no leader is known for an election timeout", async () => {
  const { clock, t, node } = await followerOfN1();
  try {
    let outcome: unknown = "pending";
    node.readIndex({ timeoutMs: 60_000 }).then((i) => outcome = i, (e) => outcome = e);
    await settle();
    assert.ok(t.take().some((m) => m.type === "readIndex"), "the read goes to the leader");
    // n1 goes silent: n2 stops following it and campaigns, in vain (nobody answers).
    let ms = 0;
    for (; ms < 2000 && outcome === "pending"; ms += 10) await clock.advance(10);
    assert.equal(node.leader, "");
    assert.ok(outcome instanceof NotLeaderError && outcome.leaderHint === "", String(outcome));
    assert.ok(ms <= 600, `failed after ${ms} ms, not at its 60 s timeout`);
  } finally {
    await node.stop();
  }
});
