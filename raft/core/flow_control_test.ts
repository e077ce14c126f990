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

Deno.test("flow control: by default at most 16 MiB of entries are in flight to a follower that has not acknowledged them", () => {
  const net = new Net(["n1", "n2", "n3"]);
  net.node("n1").campaign();
  net.pump();
  assert.deepEqual(net.leaders(), ["n1"]);
  // n3's acknowledgements are held back: its window fills and stays full.
  const sent = { n2: 0, n3: 0 };
  net.filter = (m) => {
    if (m.type === "app" && m.entries.length > 0 && (m.to === "n2" || m.to === "n3")) {
      sent[m.to] += m.entries.length;
    }
    return m.type === "appResp" && m.from === "n3" ? "hold" : false;
  };
  const mib = new Uint8Array(1 << 20);
  for (let i = 0; i < 40; i++) {
    net.node("n1").propose(mib);
    net.pump();
  }
  const toN3 = sent.n3, toN2 = sent.n2;
  assert.ok(toN2 >= 40, `n2 acknowledges and gets every entry (${toN2} entries)`);
  assert.ok(toN3 >= 15 && toN3 <= 17, `${toN3} entries of 1 MiB went to n3 unacknowledged`);
  // Once n3's acknowledgements arrive, the rest follows.
  net.filter = () => false;
  for (const m of net.held.splice(0)) net.deliver(m);
  for (let i = 0; i < 10; i++) net.tickAll();
  assert.equal(net.node("n3").status().lastIndex, net.node("n1").status().lastIndex);
});
