import assert from "node:assert/strict";
import { decodeConfChange } from "./confchange.ts";
import { ProposalDroppedError } from "./errors.ts";
import type { Message } from "./types.ts";
import { enc, Net } from "./_net_test.ts";

const CFG = { electionTick: 10, heartbeatTick: 1, checkQuorum: true, preVote: true };

function leaveIndex(net: Net, id: string): number | undefined {
  const s = net.storages.get(id)!;
  for (let i = s.firstIndex(); i <= s.lastIndex(); i++) {
    const e = s.entries(i, i + 1)[0]!;
    if (e.type === "confChange" && decodeConfChange(e.data).changes.length === 0) return i;
  }
  return undefined;
}

Deno.test("a leader that made itself a learner takes no proposals, so the cluster can elect again", () => {
  // Voters n1, n2; learner n3. n1 leads and swaps itself for n3 in one joint change.
  const net = new Net(["n1", "n2", "n3"], CFG, ["n3"]);
  net.node("n1").campaign();
  net.pump();
  net.propose("n1", "a");
  // The followers never learn that the leave-joint entry committed, though they stored it.
  net.filter = (m: Message) => {
    const li = leaveIndex(net, "n1");
    if (li === undefined || m.from !== "n1") return false;
    return (m.type === "app" || m.type === "heartbeat") && m.commit >= li;
  };
  net.node("n1").proposeConfChange({
    changes: [{ type: "addVoter", nodeId: "n3" }, { type: "addLearner", nodeId: "n1" }],
    transition: "implicit",
  });
  net.pump();
  const st = net.node("n1").status();
  assert.ok(st.hardState.commit >= leaveIndex(net, "n1")!);
  assert.deepEqual(st.confState.learners, ["n1"]);
  assert.equal(st.softState.role, "leader", "it leads until the voters know");
  assert.throws(
    () => net.node("n1").propose(new TextEncoder().encode("after-demotion")),
    ProposalDroppedError,
  );
  // Cut off, it steps down by check-quorum; healed, the voters elect a leader again.
  net.isolate("n1");
  for (let i = 0; i < 30; i++) net.tickAll();
  assert.notEqual(net.role("n1"), "leader");
  net.heal();
  net.filter = () => false;
  for (let i = 0; i < 300 && net.leaders().length === 0; i++) net.tickAll();
  assert.equal(net.leaders().length, 1, "a leader again");
  assert.notEqual(net.leaders()[0], "n1");
});

Deno.test("without stepDownOnRemoval, a leader that made itself a learner goes on taking proposals", () => {
  const net = new Net(["n1", "n2", "n3"], { ...CFG, stepDownOnRemoval: false }, ["n3"]);
  net.node("n1").campaign();
  net.pump();
  net.propose("n1", "a");
  net.node("n1").proposeConfChange({
    changes: [{ type: "addVoter", nodeId: "n3" }, { type: "addLearner", nodeId: "n1" }],
    transition: "implicit",
  });
  net.pump();
  for (let i = 0; i < 50; i++) net.tickAll();
  assert.deepEqual(net.leaders(), ["n1"]);
  const before = net.commit("n1");
  net.propose("n1", "b");
  assert.ok(net.commit("n1") > before, "the cluster still takes writes");
});

Deno.test("a leader takes no proposals once it appended the change that removes it, so the voters can elect again", () => {
  // Voters n1, n2; learner n3. n1 leads and replaces itself with n3 in one joint change.
  const net = new Net(["n1", "n2", "n3"], CFG, ["n3"]);
  net.node("n1").campaign();
  net.pump();
  net.propose("n1", "a");
  let hold = true;
  net.filter = (m: Message) => {
    const li = leaveIndex(net, "n1");
    if (li === undefined) return false;
    // The leave-joint entry does not commit yet: its acks are held.
    if (hold && m.to === "n1" && m.type === "appResp" && m.index >= li) return "hold";
    if (m.from !== "n1") return false;
    // The voters never learn that it committed, nor receive entries after it.
    if ((m.type === "app" || m.type === "heartbeat") && m.commit >= li) return true;
    return m.type === "app" && m.entries.some((e) => e.index > li);
  };
  net.node("n1").proposeConfChange({
    changes: [{ type: "addVoter", nodeId: "n3" }, { type: "removeNode", nodeId: "n1" }],
    transition: "implicit",
  });
  net.pump();
  const li = leaveIndex(net, "n1")!;
  assert.ok(li !== undefined && net.commit("n1") < li, "the leave-joint entry is not committed");
  assert.throws(
    () => net.node("n1").propose(new TextEncoder().encode("after-removal")),
    ProposalDroppedError,
  );
  // The acks arrive: n1 commits and applies its removal; the voters do not learn of it.
  hold = false;
  for (const m of net.held.splice(0)) net.deliver(m);
  net.pump();
  assert.ok(net.commit("n1") >= li);
  assert.ok(net.commit("n2") < li && net.commit("n3") < li);
  net.isolate("n1");
  for (let i = 0; i < 30; i++) net.tickAll();
  assert.notEqual(net.role("n1"), "leader");
  net.heal();
  net.filter = () => false;
  for (let i = 0; i < 300 && net.leaders().length === 0; i++) net.tickAll();
  assert.equal(net.leaders().length, 1, "a leader again");
  assert.notEqual(net.leaders()[0], "n1");
});

Deno.test("a new leader whose log holds an unapplied change removing it takes no proposals", () => {
  const net = new Net(["n1", "n2", "n3"], {
    electionTick: 10,
    heartbeatTick: 1,
    preVote: false,
    checkQuorum: false,
  });
  net.node("n1").campaign();
  net.pump();
  net.propose("n1", "a");
  // n1 removes n2; the entry reaches everyone but does not commit (the acks are lost).
  net.filter = (m: Message) => m.to === "n1" && m.type === "appResp";
  net.node("n1").proposeConfChange({ changes: [{ type: "removeNode", nodeId: "n2" }] });
  net.pump();
  const k = net.storages.get("n2")!.lastIndex();
  assert.ok(net.commit("n2") < k);
  // n2 is elected (n3's acks of its entries are held back for now).
  net.filter = (m: Message) => m.to === "n2" && m.type === "appResp" ? "hold" : false;
  net.isolate("n1");
  net.node("n2").campaign();
  net.pump();
  assert.equal(net.role("n2"), "leader");
  assert.ok(net.commit("n2") < k, "the removal is not committed yet");
  assert.throws(() => net.node("n2").propose(enc.encode("x")), ProposalDroppedError);
  // The removal commits, n2 steps down once n3 knows, and n1 and n3 elect a leader.
  net.filter = () => false;
  for (const m of net.held.splice(0)) net.deliver(m);
  net.heal();
  const newLeader = () =>
    net.leaders().find((id) =>
      id !== "n2" && net.node(id).status().confState.voters.toSorted().join() === "n1,n3"
    );
  for (let i = 0; i < 300 && newLeader() === undefined; i++) net.tickAll();
  assert.ok(newLeader() !== undefined, "n1 or n3 leads the cluster without n2");
  assert.notEqual(net.role("n2"), "leader");
});

Deno.test("a leader that removed itself steps down once a quorum of the new voters knows, also with one of them down", () => {
  const net = new Net(["a", "b", "c", "d"], { electionTick: 10, heartbeatTick: 1 });
  net.node("a").campaign();
  net.pump();
  net.propose("a", "x");
  net.isolate("d"); // d is down for good; {b, c} is a quorum of {b, c, d}
  net.node("a").proposeConfChange({ changes: [{ type: "removeNode", nodeId: "a" }] });
  net.pump();
  for (let i = 0; i < 200 && net.leaders().every((x) => x === "a"); i++) net.tickAll();
  const l = net.leaders().find((x) => x !== "a");
  assert.ok(l !== undefined, "b or c leads");
  assert.notEqual(net.role("a"), "leader");
  const before = net.commit(l);
  net.propose(l, "after");
  assert.ok(net.commit(l) > before, "the cluster takes writes");
});
