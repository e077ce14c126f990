/**
 * A proposal a follower forwards under a context, and that a leader (or a
 * node that no longer leads) refuses, comes back to its sender in
 * `Ready.refusedProposals`, so its caller fails at once instead of at its
 * timeout. A refused proposal is appended nowhere.
 */
import assert from "node:assert/strict";
import { MemoryStorage } from "../storage/memory_storage.ts";
import { RawNode } from "./raw_node.ts";
import { enc, Net } from "./_net_test.ts";

/** n1 leads n1..n3. */
function cluster(): Net {
  const net = new Net(["n1", "n2", "n3"]);
  net.node("n1").campaign();
  net.pump();
  assert.deepEqual(net.leaders(), ["n1"]);
  return net;
}

function logHas(net: Net, id: string, text: string): boolean {
  const s = net.storages.get(id)!;
  return s.entries(s.firstIndex(), s.lastIndex() + 1).some((e) =>
    new TextDecoder().decode(e.data) === text
  );
}

Deno.test("forwarding: a leader transferring leadership refuses a forwarded proposal and says so", () => {
  const net = cluster();
  net.isolate("n3"); // the transfer to n3 stays pending
  net.node("n1").transferLeader("n3");
  net.heal();
  net.cut.add("n1>n3").add("n3>n1");
  net.node("n2").proposeBatch([enc.encode("x")], "ctx-1");
  net.pump();
  assert.equal(net.refused.get("n2")!.length, 1);
  assert.equal(net.refused.get("n2")![0]!.context, "ctx-1");
  assert.match(net.refused.get("n2")![0]!.reason, /transferred to n3/);
  assert.ok(!logHas(net, "n1", "x"), "the refused proposal is not in the leader's log");
  assert.deepEqual(net.refused.get("n1"), [], "only the sender hears of it");
});

Deno.test("forwarding: a proposal forwarded without a context is refused silently, as before", () => {
  const net = cluster();
  net.isolate("n3");
  net.node("n1").transferLeader("n3");
  net.heal();
  net.cut.add("n1>n3").add("n3>n1");
  net.log = [];
  net.node("n2").propose(enc.encode("x"));
  net.pump();
  assert.ok(net.log.some((l) => l.startsWith("n2->n1 prop")));
  assert.ok(!net.log.some((l) => l.includes("propRefused")));
  assert.deepEqual(net.refused.get("n2"), []);
});

Deno.test("forwarding: a node that no longer leads refuses a proposal forwarded to it, naming the leader", () => {
  const net = cluster();
  // n1 hands over to n3 while n2 hears nothing: n2 still forwards to n1.
  net.isolate("n2");
  net.node("n1").transferLeader("n3");
  net.pump();
  assert.deepEqual(net.leaders(), ["n3"]);
  assert.equal(net.node("n2").status().softState.leader, "n1");
  net.cut.delete("n2>n1");
  net.cut.delete("n1>n2");
  net.node("n2").proposeBatch([enc.encode("y")], "ctx-2");
  net.pump();
  assert.deepEqual(net.refused.get("n2")!.map((r) => [r.context, r.reason]), [
    ["ctx-2", "n1 is not the leader (n3 is)"],
  ]);
  assert.ok(!logHas(net, "n1", "y") && !logHas(net, "n3", "y"));
});

Deno.test("forwarding: a forwarded membership change the leader does not allow is refused, not logged", () => {
  const net = cluster();
  // A first change stays unapplied: its appends are held back.
  net.filter = (m) => m.type === "app" && m.from === "n1" ? "hold" : false;
  net.node("n1").proposeConfChange({ changes: [{ type: "addLearner", nodeId: "n4" }] });
  net.pump();
  const last = net.node("n1").status().lastIndex;
  net.node("n2").proposeConfChange({ changes: [{ type: "addLearner", nodeId: "n5" }] }, "cc-1");
  net.pump();
  const refused = net.refused.get("n2")!;
  assert.equal(refused.length, 1);
  assert.equal(refused[0]!.context, "cc-1");
  assert.match(refused[0]!.reason, /is not applied yet/);
  assert.equal(net.node("n1").status().lastIndex, last, "nothing was appended for it");
});

Deno.test("forwarding: a refusal that arrives while a Ready is outstanding goes in the next Ready, once", () => {
  const raw = new RawNode({ id: "n2", storage: MemoryStorage.withVoters(["n1", "n2", "n3"]) });
  raw.step({ type: "heartbeat", from: "n1", to: "n2", term: 2, commit: 0, context: "" });
  const rd = raw.ready();
  assert.equal(rd.refusedProposals.length, 0);
  raw.step({
    type: "propRefused",
    from: "n1",
    to: "n2",
    term: 0,
    context: "ctx-1",
    reason: "busy",
  });
  assert.equal(rd.refusedProposals.length, 0, "a Ready handed out does not change");
  raw.advance(rd);
  assert.deepEqual(raw.ready().refusedProposals, [{ context: "ctx-1", reason: "busy" }]);
});
