import assert from "node:assert/strict";
import {
  type EventDecoder,
  formatOperation,
  type HistoryEvent,
  HistoryParseError,
  HistoryRecorder,
  pairEvents,
} from "./history.ts";

const raw: EventDecoder<{ f: string; value: unknown }, unknown> = {
  input: (e) => ({ f: e.f, value: e.value }),
  output: (_input, e) => e.value,
};

Deno.test("pairEvents() pairs invokes with completions per process in invocation order", () => {
  const events: HistoryEvent[] = [
    { process: 0, type: "invoke", f: "write", value: 1 },
    { process: 1, type: "invoke", f: "read", value: null },
    { process: 1, type: "ok", f: "read", value: 1 },
    { process: 0, type: "ok", f: "write", value: 1 },
    { process: 0, type: "invoke", f: "cas", value: [1, 2] },
    { process: 0, type: "fail", f: "cas", value: [1, 2] },
  ];
  const ops = pairEvents(events, raw);
  assert.deepEqual(ops, [
    { process: 0, input: { f: "write", value: 1 }, output: 1, call: 0, return: 3, status: "ok" },
    { process: 1, input: { f: "read", value: null }, output: 1, call: 1, return: 2, status: "ok" },
    { process: 0, input: { f: "cas", value: [1, 2] }, call: 4, return: 5, status: "fail" },
  ]);
});

Deno.test("pairEvents() turns info completions and missing completions into info operations", () => {
  const ops = pairEvents([
    { process: 0, type: "invoke", f: "write", value: 1, line: 1 },
    { process: 1, type: "invoke", f: "write", value: 2, line: 2 },
    { process: 0, type: "info", f: "write", value: "timeout", line: 3 },
  ], raw);
  assert.equal(ops.length, 2);
  for (const op of ops) {
    assert.equal(op.status, "info");
    assert.equal(op.return, Infinity);
    assert.equal(op.output, undefined);
  }
  assert.deepEqual(ops.map((o) => o.line), [1, 2]);
});

Deno.test("pairEvents() omits the output when the decoder returns undefined", () => {
  const ops = pairEvents([
    { process: 0, type: "invoke", f: "write", value: 1 },
    { process: 0, type: "ok", f: "write", value: 1 },
  ], { input: (e) => e.f, output: () => undefined });
  assert.equal("output" in ops[0]!, false);
});

Deno.test("pairEvents() rejects a completion without an invoke, naming source and line", () => {
  assert.throws(
    () =>
      pairEvents([{ process: 4, type: "ok", f: "read", value: 1, line: 7 }], raw, {
        source: "h.log",
      }),
    (err: unknown) =>
      err instanceof HistoryParseError && err.source === "h.log" && err.line === 7 &&
      err.message.startsWith("h.log:7: process 4 completes read"),
  );
});

Deno.test("pairEvents() rejects a second invoke while one is in flight", () => {
  assert.throws(
    () =>
      pairEvents([
        { process: 1, type: "invoke", f: "read", value: null },
        { process: 1, type: "invoke", f: "read", value: null },
      ], raw),
    /2: process 1 invokes read while its previous operation is still in flight/,
  );
});

Deno.test("pairEvents() rejects a completion whose f differs from the invoke", () => {
  assert.throws(
    () =>
      pairEvents([
        { process: 1, type: "invoke", f: "read", value: null },
        { process: 1, type: "ok", f: "write", value: 3 },
      ], raw),
    /completes write but invoked read/,
  );
});

Deno.test("pairEvents() wraps decoder errors with the line", () => {
  assert.throws(
    () =>
      pairEvents([{ process: 1, type: "invoke", f: "zap", value: null, line: 12 }], {
        input: () => {
          throw new TypeError("unknown function zap");
        },
        output: () => undefined,
      }, { source: "x.json" }),
    (err: unknown) =>
      err instanceof HistoryParseError && err.message === "x.json:12: unknown function zap",
  );
});

Deno.test("HistoryRecorder records ok, fail, info and open operations with a logical clock", () => {
  const rec = new HistoryRecorder<string, number>();
  const a = rec.invoke(1, "read");
  const b = rec.invoke(2, "write");
  const c = rec.invoke(3, "write");
  const d = rec.invoke(4, "write");
  rec.ok(a, 5);
  rec.fail(b);
  rec.info(c);
  const h = rec.history();
  assert.deepEqual(h, [
    { process: 1, input: "read", call: 0, return: 4, status: "ok", output: 5 },
    { process: 2, input: "write", call: 1, return: 5, status: "fail" },
    { process: 3, input: "write", call: 2, return: Infinity, status: "info" },
    { process: 4, input: "write", call: 3, return: Infinity, status: "info" },
  ]);
  rec.ok(d);
  assert.equal(rec.history()[3]!.status, "ok");
  assert.throws(() => rec.ok(a), RangeError);
});

Deno.test("formatOperation() describes input, output, status and times", () => {
  assert.equal(
    formatOperation({
      process: 3,
      input: { f: "read" },
      output: 4,
      call: 12,
      return: 15,
      status: "ok",
      line: 13,
    }),
    'process 3 {"f":"read"} -> 4 (ok, call 12, return 15, line 13)',
  );
  assert.equal(
    formatOperation({
      process: "c1",
      input: { f: "write", value: 1 },
      call: 2,
      return: Infinity,
      status: "info",
    }),
    'process c1 {"f":"write","value":1} (info, call 2, no return)',
  );
});

Deno.test("HistoryParseError prefixes only the parts it knows", () => {
  assert.equal(new HistoryParseError("bad").message, "bad");
  assert.equal(new HistoryParseError("bad", { source: "f" }).message, "f: bad");
  assert.equal(new HistoryParseError("bad", { line: 2 }).message, "2: bad");
});
