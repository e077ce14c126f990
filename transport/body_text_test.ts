import assert from "node:assert/strict";
import { RaftNode } from "../raft/node.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { KvStateMachine } from "../raft/testing/kv_state_machine.ts";
import { bodyText } from "./body_text.ts";
import { kvFastCommand, kvRoutes } from "./kv_routes.ts";
import { memberRoutes } from "./member_routes.ts";
import { NodeMetrics } from "./metrics.ts";

const notUtf8 = new Uint8Array([0x7b, 0x22, 0x6f, 0x70, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]); // {"op":"<c3 28>"}

Deno.test("bodyText refuses bytes that are not UTF-8 and keeps everything else", async () => {
  const req = (body: BodyInit) => new Request("http://h/", { method: "POST", body });
  assert.equal(await bodyText(req('{"a":"é😀"}')), '{"a":"é😀"}');
  await assert.rejects(bodyText(req(notUtf8)), SyntaxError);
});

Deno.test("the kv and membership routes answer 400 to a body that is not UTF-8", async () => {
  const kv = new KvStateMachine();
  const node = await RaftNode.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1"]),
    transport: { send() {} },
    stateMachine: kv,
    tickMs: 5,
  });
  try {
    await node.waitForLeader(2000);
    const metrics = new NodeMetrics();
    const fast = await kvFastCommand(node, metrics)(
      new Request("http://h/commands", { method: "POST", body: notUtf8 }),
      "/commands",
    )!;
    const routed = await kvRoutes(node, kv, metrics).request("/commands", {
      method: "POST",
      body: notUtf8,
    });
    const members = await memberRoutes({ node, secret: "s", timeoutMs: 1000 }).request("/members", {
      method: "POST",
      body: notUtf8,
      headers: { "x-raftlog-secret": "s" },
    });
    for (const r of [fast, routed, members]) {
      assert.equal(r.status, 400);
      const body = await r.json();
      assert.equal(body.error, "invalid_json");
      assert.match(body.message, /not valid UTF-8/);
    }
  } finally {
    await node.stop();
  }
});
