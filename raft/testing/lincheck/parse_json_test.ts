import assert from "node:assert/strict";
import { HistoryParseError } from "./history.ts";
import { registerJson } from "./model_register.ts";
import { streamJson } from "./model_stream.ts";
import { parseJsonHistory, rawJson } from "./parse_json.ts";

Deno.test("parseJsonHistory() reads JSON Lines and pairs events per process", () => {
  const text = [
    '{"process": 1, "type": "invoke", "f": "write", "value": 3}',
    "",
    '{"process": "c2", "type": "invoke", "f": "read", "value": null}',
    '{"process": 1, "type": "ok", "f": "write", "value": 3}',
    '{"process": "c2", "type": "ok", "f": "read", "value": 3}',
  ].join("\n");
  assert.deepEqual(parseJsonHistory(text, registerJson), [
    { process: 1, input: { f: "write", value: 3 }, call: 0, return: 2, status: "ok", line: 1 },
    { process: "c2", input: { f: "read" }, output: 3, call: 1, return: 3, status: "ok", line: 3 },
  ]);
});

Deno.test("parseJsonHistory() reads a JSON array with keys", () => {
  const text = JSON.stringify([
    {
      process: 0,
      type: "invoke",
      f: "append",
      key: "s",
      value: { events: ["a"], expected: "no_stream" },
    },
    { process: 0, type: "ok", f: "append", key: "s", value: { revisions: [0] } },
    { process: 1, type: "invoke", f: "read", key: "s" },
    { process: 1, type: "info", f: "read" },
  ]);
  const ops = parseJsonHistory(text, streamJson);
  assert.deepEqual(ops.map((o) => [o.input, o.output, o.status, o.line]), [
    [
      { f: "append", stream: "s", events: ["a"], expected: "no_stream" },
      { revisions: [0] },
      "ok",
      1,
    ],
    [{ f: "read", stream: "s" }, undefined, "info", 3],
  ]);
});

Deno.test("parseJsonHistory() with rawJson keeps calls and results as they are", () => {
  const ops = parseJsonHistory(
    '[{"process":0,"type":"invoke","f":"x","key":"k","value":[1]},' +
      '{"process":0,"type":"ok","f":"x","value":{"y":2}}]',
    rawJson,
  );
  assert.deepEqual(ops[0]?.input, { f: "x", key: "k", value: [1] });
  assert.deepEqual(ops[0]?.output, { y: 2 });
});

Deno.test("parseJsonHistory() names file and line of malformed input", () => {
  const cases: [string, RegExp][] = [
    ['{"process": 1, "type": "invoke", "f": "read"}\n{oops', /^h\.jsonl:2: invalid JSON/],
    ['{"process": true, "type": "invoke", "f": "read"}', /^h\.jsonl:1: "process" must be/],
    ['{"process": 1, "type": "begin", "f": "read"}', /^h\.jsonl:1: "type" must be/],
    ['{"process": 1, "type": "invoke", "f": 3}', /^h\.jsonl:1: "f" must be a string/],
    [
      '{"process": 1, "type": "invoke", "f": "read", "key": 4}',
      /^h\.jsonl:1: "key" must be a string/,
    ],
    ["[1]", /^h\.jsonl:1: expected an event object/],
    ["[1, 2", /^h\.jsonl: invalid JSON/],
    [
      '{"process": 1, "type": "invoke", "f": "incr", "value": 1}',
      /^h\.jsonl:1: unknown register function/,
    ],
    [
      '{"process": 1, "type": "ok", "f": "read", "value": 1}',
      /^h\.jsonl:1: process 1 completes read/,
    ],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => parseJsonHistory(text, registerJson, { source: "h.jsonl" }),
      (err: unknown) => err instanceof HistoryParseError && pattern.test(err.message),
      text,
    );
  }
});
