import assert from "node:assert/strict";
import { HistoryParseError } from "./history.ts";
import { parseKvLog } from "./parse_kv.ts";

Deno.test("parseKvLog() reads EDN maps into key-value operations", () => {
  const ops = parseKvLog(
    [
      '{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}',
      '{:process 1, :type :invoke, :f :get, :key "4", :value nil}',
      '{:process 0, :type :ok, :f :append, :key "4", :value "x 0 1 y"}',
      '{:process 1, :type :ok, :f :get, :key "4", :value "say \\"hi\\""}',
      '{:process 2, :type :invoke, :f :put, :key "5", :value "v"}',
    ].join("\n"),
  );
  assert.deepEqual(ops, [
    {
      process: 0,
      input: { f: "append", key: "4", value: "x 0 1 y" },
      call: 0,
      return: 2,
      status: "ok",
      line: 1,
    },
    {
      process: 1,
      input: { f: "get", key: "4" },
      output: 'say "hi"',
      call: 1,
      return: 3,
      status: "ok",
      line: 2,
    },
    {
      process: 2,
      input: { f: "put", key: "5", value: "v" },
      call: 4,
      return: Infinity,
      status: "info",
      line: 5,
    },
  ]);
});

Deno.test("parseKvLog() names file and line of malformed lines", () => {
  const bad: [string, RegExp][] = [
    ['{:process 0, :type :invoke, :f :get, :key "1"', /k\.txt:1: not an EDN map: missing "}"/],
    ["[1 2]", /k\.txt:1: expected an EDN map/],
    ['{:process 0, :type :start, :f :get, :key "1", :value nil}', /:type must be/],
    ['{:process 0, :type :invoke, :f "get", :key "1", :value nil}', /:f must be a keyword/],
    ["{:process 0, :type :invoke, :f :get, :key 1, :value nil}", /:key must be a string/],
    [
      '{:process 0, :type :invoke, :f :del, :key "1", :value nil}',
      /unknown key-value function "del"/,
    ],
  ];
  for (const [line, pattern] of bad) {
    assert.throws(
      () => parseKvLog(line, { source: "k.txt" }),
      (err: unknown) => err instanceof HistoryParseError && pattern.test(err.message),
      line,
    );
  }
});
