import assert from "node:assert/strict";
import { checkHistory } from "./check.ts";
import { HistoryRecorder } from "./history.ts";
import {
  type AppendOutput,
  type ExpectedRevision,
  type StreamInput,
  streamJson,
  streamModel,
  type StreamOutput,
} from "./model_stream.ts";

const append = (
  stream: string,
  events: string[],
  expected: ExpectedRevision = "any",
): StreamInput => ({
  f: "append",
  stream,
  events,
  expected,
});
const read = (stream: string): StreamInput => ({ f: "read", stream });
const CONFLICT: AppendOutput = { error: "wrong_expected_revision" };

function recorder() {
  return new HistoryRecorder<StreamInput, StreamOutput>();
}

Deno.test("streamModel assigns consecutive revisions from 0 and reads ids in order", () => {
  const a = streamModel.step(streamModel.init(), append("s", ["e1", "e2"], "no_stream"), {
    revisions: [0, 1],
  });
  assert.ok(a.ok);
  assert.deepEqual(a.state.ids, ["e1", "e2"]);
  const b = streamModel.step(a.state, append("s", ["e3"], 1), { revisions: [2] });
  assert.ok(b.ok);
  assert.ok(streamModel.step(b.state, read("s"), ["e1", "e2", "e3"]).ok);
  assert.equal(streamModel.step(b.state, read("s"), ["e1", "e2"]).ok, false);
  assert.equal(
    streamModel.step(a.state, append("s", ["e3"]), { revisions: [5] }).ok,
    false,
    "reported revisions must be the next ones",
  );
  assert.ok(streamModel.step(a.state, append("s", ["e3"]), {}).ok, "unrecorded revisions pass");
});

Deno.test("streamModel checks expected revisions and conflict results", () => {
  const s0 = streamModel.init();
  const one = streamModel.step(s0, append("s", ["e1"]), undefined);
  assert.ok(one.ok);
  const s1 = one.state;
  // [state, expected, holds]
  const cases: [typeof s0, ExpectedRevision, boolean][] = [
    [s0, "no_stream", true],
    [s0, "stream_exists", false],
    [s0, 0, false],
    [s1, "no_stream", false],
    [s1, "stream_exists", true],
    [s1, 0, true],
    [s1, 1, false],
    [s1, "any", true],
  ];
  for (const [state, expected, holds] of cases) {
    const input = append("s", ["x"], expected);
    assert.equal(streamModel.step(state, input, {}).ok, holds, `success with ${expected}`);
    assert.equal(streamModel.step(state, input, CONFLICT).ok, !holds, `conflict with ${expected}`);
  }
});

Deno.test("streamModel treats a repeated append of the same ids as an idempotent retry", () => {
  const a = streamModel.step(streamModel.init(), append("s", ["e1", "e2"]), undefined);
  assert.ok(a.ok);
  const retry = streamModel.step(a.state, append("s", ["e1", "e2"]), { revisions: [0, 1] });
  assert.ok(retry.ok);
  assert.deepEqual(retry.state.ids, ["e1", "e2"]);
  assert.equal(
    streamModel.step(a.state, append("s", ["e2", "e3"]), {}).ok,
    false,
    "partial overlap",
  );
  assert.equal(streamModel.step(a.state, append("s", ["e9", "e9"]), {}).ok, false, "duplicate ids");
});

Deno.test("streamModel.stepUnknown applies an append only if it would change the stream", () => {
  const s0 = streamModel.init();
  const applied = streamModel.stepUnknown(s0, append("s", ["e1"], "no_stream"));
  assert.ok(applied.ok);
  assert.deepEqual(applied.state.ids, ["e1"]);
  assert.equal(streamModel.stepUnknown(s0, append("s", ["e1"], 3)).ok, false);
  assert.equal(streamModel.stepUnknown(applied.state, append("s", ["e1"])).ok, false);
  assert.equal(streamModel.readOnly?.(read("s")), true);
});

Deno.test("streamModel equal and hash follow the ids, not how they were appended", () => {
  const one = streamModel.step(streamModel.init(), append("s", ["a", "b"]), undefined);
  const a = streamModel.step(streamModel.init(), append("s", ["a"]), undefined);
  assert.ok(one.ok && a.ok);
  const two = streamModel.step(a.state, append("s", ["b"]), undefined);
  assert.ok(two.ok);
  assert.ok(streamModel.equal(one.state, two.state));
  assert.equal(streamModel.hash(one.state), streamModel.hash(two.state));
  const ab = streamModel.step(streamModel.init(), append("s", ["ab"]), undefined);
  assert.ok(ab.ok);
  assert.equal(streamModel.equal(one.state, ab.state), false);
});

Deno.test("checkHistory() with streamModel accepts concurrent appends and a read of either order", () => {
  const rec = recorder();
  const a = rec.invoke(1, append("s", ["a"]));
  const b = rec.invoke(2, append("s", ["b"]));
  rec.ok(b, { revisions: [0] });
  rec.ok(a, { revisions: [1] });
  const r = rec.invoke(3, read("s"));
  rec.ok(r, ["b", "a"]);
  assert.equal(checkHistory(streamModel, rec.history()).verdict, "linearizable");
});

Deno.test("checkHistory() with streamModel catches a stale read", () => {
  const rec = recorder();
  const a = rec.invoke(1, append("orders-1", ["e1"], "no_stream"));
  rec.ok(a, { revisions: [0] });
  const b = rec.invoke(1, append("orders-1", ["e2"], 0));
  rec.ok(b, { revisions: [1] });
  const r = rec.invoke(2, read("orders-1"));
  rec.ok(r, ["e1"]); // misses e2, acknowledged before the read began
  const result = checkHistory(streamModel, rec.history());
  assert.equal(result.verdict, "not-linearizable");
  assert.deepEqual(result.longestPrefix?.map((o) => o.input), [
    append("orders-1", ["e1"], "no_stream"),
    append("orders-1", ["e2"], 0),
  ]);
  assert.deepEqual(result.unplaced?.map((o) => o.output), [["e1"]]);
});

Deno.test("checkHistory() with streamModel catches a lost write", () => {
  const rec = recorder();
  const a = rec.invoke(1, append("s", ["e1"]));
  const b = rec.invoke(2, append("s", ["e2"]));
  rec.ok(a, { revisions: [0] });
  rec.ok(b, { revisions: [1] });
  const r = rec.invoke(3, read("s"));
  rec.ok(r, ["e1"]); // e2 was acknowledged but is gone
  const later = rec.invoke(3, append("s", ["e3"], 1));
  rec.ok(later, { revisions: [2] });
  assert.equal(checkHistory(streamModel, rec.history()).verdict, "not-linearizable");
});

Deno.test("checkHistory() with streamModel catches a duplicated append", () => {
  const rec = recorder();
  const a = rec.invoke(1, append("s", ["e1"]));
  rec.info(a); // timed out; the client retries the same event id
  const retry = rec.invoke(2, append("s", ["e1"]));
  rec.ok(retry, { revisions: [0] });
  const r = rec.invoke(3, read("s"));
  rec.ok(r, ["e1", "e1"]); // applied twice
  assert.equal(checkHistory(streamModel, rec.history()).verdict, "not-linearizable");

  // The same history is fine when the store deduplicates the retry.
  const good = recorder();
  const g1 = good.invoke(1, append("s", ["e1"]));
  good.info(g1);
  const g2 = good.invoke(2, append("s", ["e1"]));
  good.ok(g2, { revisions: [0] });
  const g3 = good.invoke(3, read("s"));
  good.ok(g3, ["e1"]);
  assert.equal(checkHistory(streamModel, good.history()).verdict, "linearizable");
});

Deno.test("checkHistory() with streamModel catches a conflict reported when none could occur", () => {
  const rec = recorder();
  const a = rec.invoke(1, append("s", ["e1"], "no_stream"));
  rec.ok(a, CONFLICT); // nothing else wrote to the stream
  assert.equal(checkHistory(streamModel, rec.history()).verdict, "not-linearizable");
});

Deno.test("checkHistory() with streamModel lets an unknown append show up later or never", () => {
  const rec = recorder();
  const a = rec.invoke(1, append("s", ["e1"]));
  rec.info(a);
  const r1 = rec.invoke(2, read("s"));
  rec.ok(r1, []);
  const r2 = rec.invoke(2, read("s"));
  rec.ok(r2, ["e1"]);
  assert.equal(checkHistory(streamModel, rec.history()).verdict, "linearizable");
});

Deno.test("checkHistory() with streamModel checks streams independently", () => {
  const rec = recorder();
  const a = rec.invoke(1, append("a", ["x"], "no_stream"));
  const b = rec.invoke(2, append("b", ["y"], "no_stream"));
  rec.ok(a, { revisions: [0] });
  rec.ok(b, { revisions: [0] });
  const result = checkHistory(streamModel, rec.history());
  assert.equal(result.verdict, "linearizable");
  assert.equal(result.partitions.length, 2);
});

Deno.test("streamJson decodes appends and reads, with events as ids or objects", () => {
  assert.deepEqual(
    streamJson.input({ f: "append", key: "s", value: { events: ["a", { id: "b" }], expected: 3 } }),
    append("s", ["a", "b"], 3),
  );
  assert.deepEqual(
    streamJson.input({ f: "append", key: "s", value: { events: [] } }),
    append("s", [], "any"),
  );
  assert.deepEqual(streamJson.input({ f: "read", key: "s", value: null }), read("s"));
  assert.deepEqual(streamJson.output(read("s"), [{ id: "a" }, "b"]), ["a", "b"]);
  assert.deepEqual(streamJson.output(append("s", ["a"]), { revisions: [0] }), { revisions: [0] });
  assert.deepEqual(streamJson.output(append("s", ["a"]), null), {});
  assert.deepEqual(streamJson.output(append("s", ["a"]), CONFLICT), CONFLICT);
});

Deno.test("streamJson rejects malformed records with a reason", () => {
  assert.throws(() => streamJson.input({ f: "read", value: null }), /needs a string "key"/);
  assert.throws(
    () => streamJson.input({ f: "append", key: "s", value: ["a"] }),
    /append value must be/,
  );
  assert.throws(
    () => streamJson.input({ f: "append", key: "s", value: { events: ["a"], expected: -2 } }),
    /"expected" must be/,
  );
  assert.throws(
    () => streamJson.input({ f: "append", key: "s", value: { events: [1] } }),
    /append events\[0\]/,
  );
  assert.throws(
    () => streamJson.input({ f: "delete", key: "s", value: null }),
    /unknown stream function/,
  );
  assert.throws(
    () => streamJson.output(append("s", ["a"]), { error: "boom" }),
    /unknown append error/,
  );
  assert.throws(
    () => streamJson.output(append("s", ["a"]), { revisions: ["x"] }),
    /array of integers/,
  );
});
