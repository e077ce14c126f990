/**
 * Liveness after faults heal: once partitions, drops and crashes are gone, a
 * leader is elected and a new proposal commits on every member within
 * 50 election timeouts of ticks, for every combination of pre-vote and
 * check-quorum.
 */

import assert from "node:assert/strict";
import { InvariantViolation } from "../raft/testing/invariants.ts";
import { awaitLiveness, healAll, type LivenessReport } from "../raft/testing/liveness.ts";
import { SimRandom } from "../raft/testing/prng.ts";
import { SimCluster, type SimClusterOptions } from "../raft/testing/sim_cluster.ts";

const ELECTION_TICK = 10;
const MAX_TICKS = 50 * ELECTION_TICK;
const IDS = ["n1", "n2", "n3", "n4", "n5"];
const enc = new TextEncoder();

const MODES = [
  { preVote: true, checkQuorum: true },
  { preVote: true, checkQuorum: false },
  { preVote: false, checkQuorum: true },
  { preVote: false, checkQuorum: false },
];

function cluster(seed: number, mode: (typeof MODES)[number], o: Partial<SimClusterOptions> = {}) {
  return new SimCluster({
    seed,
    ids: IDS,
    raft: { electionTick: ELECTION_TICK, heartbeatTick: 1, ...mode },
    tickChance: 0.8,
    snapshotEvery: 20,
    ...o,
  });
}

function run(c: SimCluster, steps: number, each?: (i: number) => void): void {
  for (let i = 0; i < steps; i++) {
    each?.(i);
    c.step();
  }
}

function live(c: SimCluster, what: string): LivenessReport {
  healAll(c);
  try {
    return awaitLiveness(c, { maxTicks: MAX_TICKS });
  } catch (e) {
    if (e instanceof InvariantViolation) {
      assert.fail(`${what}: ${e.message}\n${c.trace.lines().slice(-40).join("\n")}`);
    }
    throw e;
  }
}

function proposeSomewhere(c: SimCluster, rng: SimRandom, i: number): void {
  if (!rng.chance(0.3)) return;
  const up = c.ids().filter((id) => c.isUp(id));
  if (up.length > 0) c.propose(rng.pick(up), enc.encode(`k${i % 5}=${i}`));
}

for (const mode of MODES) {
  const name = `preVote ${mode.preVote}, checkQuorum ${mode.checkQuorum}`;

  Deno.test(`liveness (${name}): after every node crashed and restarted`, () => {
    const c = cluster(1, mode);
    const rng = new SimRandom(1);
    run(c, 100, (i) => proposeSomewhere(c, rng, i));
    for (const id of IDS) c.crash(id);
    run(c, 20);
    const r = live(c, "all crashed");
    assert.ok(r.ticks < MAX_TICKS);
  });

  Deno.test(`liveness (${name}): after the leader was isolated in a minority`, () => {
    const c = cluster(2, mode);
    const rng = new SimRandom(2);
    run(c, 100, (i) => proposeSomewhere(c, rng, i));
    const l = c.leader() ?? "n1";
    const other = IDS.find((id) => id !== l)!;
    c.network.partition([[l, other], IDS.filter((id) => id !== l && id !== other)]);
    run(c, 300, (i) => proposeSomewhere(c, rng, i));
    live(c, "minority leader");
  });

  Deno.test(`liveness (${name}): after one-way partitions (a leader that can send but not hear)`, () => {
    const c = cluster(3, mode);
    const rng = new SimRandom(3);
    run(c, 100, (i) => proposeSomewhere(c, rng, i));
    const l = c.leader() ?? "n1";
    for (const id of IDS) if (id !== l) c.network.cut(id, l);
    run(c, 300, (i) => proposeSomewhere(c, rng, i));
    live(c, "deaf leader");
  });

  Deno.test(`liveness (${name}): after a node inflated its term alone and rejoins`, () => {
    const c = cluster(4, mode);
    run(c, 100);
    c.network.isolate("n5", IDS);
    run(c, 400);
    live(c, "inflated term");
  });

  Deno.test(`liveness (${name}): after 30 seeds of random drops, duplicates, delays, partitions and crashes`, () => {
    for (let seed = 100; seed < 130; seed++) {
      const c = cluster(seed, mode, { crashBeforePersist: 0.005, crashBeforeSend: 0.002 });
      const rng = new SimRandom(seed);
      c.network.faults = { drop: 0.2, duplicate: 0.1, maxDelay: 6 };
      run(c, 400, (i) => {
        proposeSomewhere(c, rng, i);
        if (rng.chance(0.02)) {
          c.network.heal();
          c.network.isolate(rng.pick(IDS), IDS);
        }
        if (rng.chance(0.01)) c.crash(rng.pick(IDS));
        if (rng.chance(0.03)) c.restart(rng.pick(IDS));
      });
      live(c, `seed ${seed}`);
    }
  });
}

Deno.test("awaitLiveness reports a violation when a majority never comes back", () => {
  const c = cluster(9, MODES[0]!);
  run(c, 50);
  for (const id of ["n1", "n2", "n3"]) c.crash(id);
  assert.throws(
    () => awaitLiveness(c, { maxTicks: 100 }),
    (e: unknown) => e instanceof InvariantViolation && e.invariant === "liveness",
  );
});

Deno.test("awaitLiveness reports a leader whose quorum is gone after maxTicks: no match rises", () => {
  const c = new SimCluster({
    seed: 11,
    ids: ["n1", "n2", "n3"],
    raft: { electionTick: ELECTION_TICK, heartbeatTick: 1, preVote: true, checkQuorum: false },
  });
  run(c, 100);
  const l = c.leader();
  assert.ok(l !== undefined);
  for (const id of c.ids()) if (id !== l) c.crash(id);
  const t0 = c.node(l).ticks;
  assert.throws(
    () => awaitLiveness(c, { maxTicks: 100 }),
    (e: unknown) =>
      e instanceof InvariantViolation && e.invariant === "liveness" &&
      /no proposal committed/.test(e.message),
  );
  // Reported at the first bound, not the longer one a quorum catching up gets.
  assert.ok(c.node(l).ticks - t0 < 200, `${c.node(l).ticks - t0} ticks`);
});
