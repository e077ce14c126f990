import assert from "node:assert/strict";
import { Net } from "./_net_test.ts";

Deno.test("a configuration change dropped by the uncommitted-size limit does not block the next one", () => {
  const net = new Net(["n1", "n2", "n3"], {
    electionTick: 10,
    heartbeatTick: 1,
    maxUncommittedEntriesSize: 16,
  });
  net.node("n1").campaign();
  net.pump();
  // Entries stay uncommitted for now, filling the limit.
  net.filter = (m) => m.type === "app" && m.entries.length > 0;
  net.node("n1").propose(new TextEncoder().encode("0123456789"));
  net.pump();
  const change = { changes: [{ type: "addLearner" as const, nodeId: "n4" }] };
  assert.throws(() => net.node("n1").proposeConfChange(change), /uncommitted/);
  net.filter = () => false;
  for (let i = 0; i < 5; i++) net.tickAll();
  const st = net.node("n1").status();
  assert.equal(st.applied, st.lastIndex, "everything committed and applied");
  net.node("n1").proposeConfChange(change);
  net.pump();
  assert.ok(net.node("n1").status().confState.learners.includes("n4"));
});
