import assert from "node:assert/strict";
import { Net } from "./_net_test.ts";

function elect(net: Net, id: string): void {
  net.node(id).campaign();
  net.pump();
  assert.equal(net.role(id), "leader");
}

Deno.test("a caught-up follower sent to probe goes back to replicate on the first probe ack", () => {
  const net = new Net(["a", "b", "c"], { electionTick: 10, heartbeatTick: 1 });
  elect(net, "a");
  net.propose("a", "x");
  assert.equal(net.node("a").status().progress.get("b")!.state, "replicate");
  net.node("a").reportUnreachable("b");
  assert.equal(net.node("a").status().progress.get("b")!.state, "probe");
  // b is reachable: heartbeats go through and the probe append is acked at b's match.
  const before = net.log.length;
  for (let i = 0; i < 5; i++) net.tickAll();
  const appsToB = net.log.slice(before).filter((l) => l.startsWith("a->b app")).length;
  assert.equal(net.node("a").status().progress.get("b")!.state, "replicate");
  assert.equal(appsToB, 1, "one probe append, not one per heartbeat");
});

Deno.test("a follower whose inflight window is full gets no empty append per proposal", () => {
  const net = new Net(["a", "b", "c"], { electionTick: 10, heartbeatTick: 1, maxInflightMsgs: 2 });
  elect(net, "a");
  // b stops answering appends (a slow follower): appends to b are held.
  net.filter = (m) => (m.to === "b" && m.type === "app") ? "hold" : false;
  net.propose("a", "1");
  net.propose("a", "2");
  assert.equal(net.node("a").status().progress.get("b")!.state, "replicate");
  // A heartbeat round: b's answer lets the leader send one empty append.
  net.tickAll();
  const held = net.held.length;
  for (let i = 0; i < 10; i++) net.propose("a", `p${i}`);
  assert.equal(net.held.length - held, 0, "the full window keeps further appends back");
});
