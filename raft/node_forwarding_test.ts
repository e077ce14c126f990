import assert from "node:assert/strict";
import { ProposalDroppedError } from "./core/errors.ts";
import type { Message } from "./core/types.ts";
import { ManualClock } from "./testing/manual_clock.ts";
import { appendFromN1, RecordingTransport, settle, startTestNode } from "./_node_harness_test.ts";

/** Follower n2 of leader n1, with what it sends recorded. */
async function follower() {
  const transport = new RecordingTransport();
  const node = await startTestNode({ id: "n2", clock: new ManualClock(), transport });
  node.step(appendFromN1({ commit: 3 }));
  await settle();
  assert.equal(node.leader, "n1");
  transport.take();
  return { node, transport };
}

/** The forwarded proposals n2 sent, with their contexts. */
function forwarded(t: RecordingTransport): Extract<Message, { type: "prop" }>[] {
  return t.take().filter((m): m is Extract<Message, { type: "prop" }> => m.type === "prop");
}

function refusal(context: string, reason: string): Message {
  return { type: "propRefused", from: "n1", to: "n2", term: 0, context, reason };
}

const outcome = (p: Promise<unknown>) => p.then(() => "done", (e: Error) => e);

Deno.test("node: proposals forwarded to a leader that refuses them fail at once with its reason", async () => {
  const { node, transport } = await follower();
  try {
    const first = outcome(node.propose(new Uint8Array([1]), { timeoutMs: 60_000 }));
    await settle();
    const second = outcome(node.propose(new Uint8Array([2]), { timeoutMs: 60_000 }));
    await settle();
    const props = forwarded(transport);
    assert.equal(props.length, 2);
    const [a, b] = props.map((m) => m.context!);
    assert.ok(a !== undefined && b !== undefined && a !== b, "each batch has its own context");
    node.step(refusal(b, "leadership is being transferred to n3"));
    await settle();
    const err = await Promise.race([second, settle().then(() => "pending")]);
    assert.ok(err instanceof ProposalDroppedError, String(err));
    assert.match(err.message, /transferred to n3/);
    // The other batch is untouched: it still waits for its entry (or its timeout).
    assert.equal(await Promise.race([first, settle().then(() => "pending")]), "pending");
    // A refusal for an unknown or settled context changes nothing.
    node.step(refusal(b, "again"));
    node.step(refusal("n9:x:1", "not ours"));
    await settle();
    assert.equal(await Promise.race([first, settle().then(() => "pending")]), "pending");
  } finally {
    await node.stop();
  }
});

Deno.test("node: a membership change forwarded to a leader that refuses it fails at once", async () => {
  const { node, transport } = await follower();
  try {
    const change = outcome(
      node.changeMembership([{ type: "addLearner", nodeId: "n4" }], { timeoutMs: 60_000 }),
    );
    await settle();
    const [prop] = forwarded(transport);
    assert.ok(prop?.context !== undefined);
    node.step(refusal(prop.context, "a configuration change at index 9 is not applied yet"));
    await settle();
    const err = await Promise.race([change, settle().then(() => "pending")]);
    assert.ok(err instanceof ProposalDroppedError, String(err));
    assert.match(err.message, /not applied yet/);
  } finally {
    await node.stop();
  }
});

Deno.test("node: forwarded batches are forgotten once settled, also behind one that waits long", async () => {
  const clock = new ManualClock();
  const transport = new RecordingTransport();
  const node = await startTestNode({ id: "n2", clock, transport });
  node.step(appendFromN1({ commit: 3 }));
  await settle();
  try {
    const long = outcome(node.propose(new Uint8Array([0]), { timeoutMs: 60_000 }));
    await settle(1);
    const short: Promise<unknown>[] = [];
    for (let i = 1; i <= 2000; i++) {
      short.push(outcome(node.propose(new Uint8Array([i & 0xff]), { timeoutMs: 10 })));
      await settle(1);
      if (i % 100 === 0) await clock.advance(20); // these time out
    }
    await clock.advance(20);
    await Promise.all(short);
    assert.equal(forwarded(transport).length, 2001, "each proposal went in its own batch");
    assert.ok(node.forwardedBatches < 1200, `${node.forwardedBatches} batches still remembered`);
    assert.equal(await Promise.race([long, settle().then(() => "pending")]), "pending");
  } finally {
    await node.stop();
  }
});
