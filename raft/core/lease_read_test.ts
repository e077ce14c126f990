/**
 * Lease reads against schedules that once let a deposed leader serve a
 * stale read: every read a leader answers from its lease must see every
 * write committed before it.
 */
import assert from "node:assert/strict";
import { Net } from "./_net_test.ts";

const LEASE = {
  electionTick: 10,
  heartbeatTick: 1,
  checkQuorum: true,
  preVote: true,
  readOnlyOption: "leaseBased" as const,
  maxClockDriftTicks: 2,
};

/** A leader n1 of n1-n3 whose lease rounds were acked. */
function leaseCluster(): Net {
  const net = new Net(["n1", "n2", "n3"], LEASE);
  net.node("n1").campaign();
  net.pump();
  assert.deepEqual(net.leaders(), ["n1"]);
  net.propose("n1", "x=1");
  for (let i = 0; i < 3; i++) net.tickAll();
  return net;
}

function staleRead(net: Net, newCommit: number): string | undefined {
  net.node("n1").readIndex("stale-read");
  net.pump();
  const rs = net.reads.get("n1")!.find((r) => r.context === "stale-read");
  return rs !== undefined && rs.index < newCommit
    ? `deposed n1 answered a read at ${rs.index} after n2 committed ${newCommit}: ${
      net.log.slice(-12).join(", ")
    }`
    : undefined;
}

Deno.test("lease read: a timeoutNow delivered late, after its transfer was abandoned, voids the lease", () => {
  const net = leaseCluster();
  net.filter = (m) => (m.type === "timeoutNow" ? "hold" : false);
  net.node("n1").transferLeader("n2");
  net.pump();
  assert.equal(net.held.length, 1, "timeoutNow held in the network");
  // The transfer is abandoned after an election timeout; heartbeats go on renewing the lease.
  for (let i = 0; i < 11; i++) net.tickAll();
  assert.equal(net.node("n1").status().leadTransferee, "");
  // n1 is cut off; the old timeoutNow reaches n2, whose transfer election bypasses n3's lease.
  net.isolate("n1");
  net.filter = () => false;
  net.deliver(net.held.pop()!);
  net.pump();
  assert.ok(net.leaders().includes("n2"));
  net.propose("n2", "x=2");
  assert.equal(staleRead(net, net.commit("n2")), undefined);
});

Deno.test("lease read: a follower that restarts does not vote at once, so it cannot break the lease", () => {
  const net = leaseCluster();
  // n2 loses contact with n1; n3 still hears from n1 and acks its lease rounds.
  net.cut.add("n1>n2").add("n2>n1");
  for (let i = 0; i < 5; i++) net.tickAll();
  net.node("n2").campaign();
  net.pump();
  assert.equal(net.role("n1"), "leader");
  assert.notEqual(net.role("n2"), "leader", "n3 ignores n2 while it hears from n1");
  // n3 restarts right after acking n1's latest lease round; n2's timer fires again at once.
  net.restart("n3");
  net.node("n2").campaign();
  net.pump();
  assert.ok(!net.leaders().includes("n2"), "the restarted n3 did not vote for n2");
  net.propose("n1", "x=2");
  const committed = net.commit("n1");
  assert.equal(staleRead(net, committed), undefined);
  // Time passes for all: the restarted node votes again once an election timeout has passed
  // without a leader (n1 now cut off from everyone), and n2 wins.
  net.isolate("n1");
  for (let i = 0; i < 3 * LEASE.electionTick && !net.leaders().includes("n2"); i++) {
    net.tickAll(["n2", "n3"]);
  }
  assert.ok(net.leaders().some((id) => id !== "n1"), "a new leader once n1 is gone");
});
