import assert from "node:assert/strict";
import { RawNode } from "./raw_node.ts";
import { MemoryStorage } from "../storage/memory_storage.ts";
import { Net } from "./_net_test.ts";

function electN1(net: Net): void {
  net.node("n1").campaign();
  net.pump();
  assert.deepEqual(net.leaders(), ["n1"]);
}

Deno.test("§6.4 a read index is answered only after a quorum confirms leadership", () => {
  const net = new Net(["n1", "n2", "n3"]);
  electN1(net);
  net.isolate("n1");
  net.node("n1").readIndex("r1");
  net.pump();
  assert.equal(net.reads.get("n1")!.length, 0, "an isolated leader must not answer a safe read");
  net.heal();
  net.tickAll(); // the next heartbeat carries the read context
  assert.deepEqual(net.reads.get("n1")!.map((r) => r.context), ["r1"]);
});

Deno.test("§6.4 the round confirming a read also confirms every read queued before it", () => {
  const net = new Net(["n1", "n2", "n3"]);
  electN1(net);
  const n1 = net.node("n1");
  n1.readIndex("a");
  n1.readIndex("b");
  const rd = n1.ready();
  n1.advance(rd);
  const heartbeats = rd.messages.filter((m) => m.type === "heartbeat");
  assert.deepEqual(
    [...new Set(heartbeats.map((m) => m.type === "heartbeat" ? m.context : ""))].sort(),
    ["a", "b"],
  );
  // Deliver only the round of "b": it confirms "a" too.
  for (const m of heartbeats) {
    if (m.type === "heartbeat" && m.context === "b") net.node(m.to).step(m);
  }
  net.pump();
  assert.deepEqual(net.reads.get("n1")!.map((r) => r.context), ["a", "b"]);
});

Deno.test("§6.4 a follower's read index is confirmed by the leader and answered with its commit", () => {
  const net = new Net(["n1", "n2", "n3"]);
  electN1(net);
  net.node("n1").propose(new Uint8Array([1]));
  net.pump();
  net.tickAll();
  net.node("n2").readIndex("f1");
  net.pump();
  const rs = net.reads.get("n2")!;
  assert.equal(rs.length, 1);
  assert.equal(rs[0]!.index, net.node("n1").status().hardState.commit);
});

Deno.test("§6.4.1 lease reads are answered without a heartbeat round while the lease holds", () => {
  const net = new Net(["n1", "n2", "n3"], { readOnlyOption: "leaseBased" });
  electN1(net);
  net.tickAll(); // heartbeat round acked by a quorum: lease starts
  net.isolate("n1"); // no message can confirm anything now
  net.node("n1").readIndex("lease-read");
  net.pump();
  assert.deepEqual(net.reads.get("n1")!.map((r) => r.context), ["lease-read"]);
});

Deno.test("§6.4.1 a partitioned leader stops lease reads before another leader can be elected", () => {
  const et = 10;
  const net = new Net(["n1", "n2", "n3"], { readOnlyOption: "leaseBased", electionTick: et });
  electN1(net);
  net.tickAll();
  net.isolate("n1");
  let served = 0;
  let newLeaderTick = -1;
  for (let t = 0; t < 6 * et; t++) {
    net.tickAll();
    const others = net.leaders().filter((id) => id !== "n1");
    if (others.length > 0 && newLeaderTick < 0) newLeaderTick = t;
    const before = net.reads.get("n1")!.length;
    if (net.node("n1").status().softState.role === "leader") {
      net.node("n1").readIndex(`r${t}`);
      net.pump();
    }
    if (net.reads.get("n1")!.length > before) {
      served++;
      assert.equal(others.length, 0, `lease read served at tick ${t} while ${others} leads`);
    }
  }
  assert.ok(served > 0, "the lease should serve some reads right after the partition");
  assert.ok(newLeaderTick > 0, "the majority side should elect a new leader");
});

Deno.test("§6.4.1 lease-based reads require check-quorum", () => {
  assert.throws(
    () =>
      new RawNode({
        id: "n1",
        storage: new MemoryStorage(),
        readOnlyOption: "leaseBased",
        checkQuorum: false,
      }),
    /requires checkQuorum/,
  );
});

Deno.test("RawNode.readIndex rejects empty and reserved contexts", () => {
  const n = new RawNode({ id: "n1", storage: MemoryStorage.withVoters(["n1"]) });
  assert.throws(() => n.readIndex(""), RangeError);
  assert.throws(() => n.readIndex("~lease:1"), RangeError);
});
