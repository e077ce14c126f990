import assert from "node:assert/strict";
import { HistoryParseError } from "./history.ts";
import { parseJepsenLog } from "./parse_jepsen.ts";

Deno.test("parseJepsenLog() reads tab- and space-separated lines into register operations", () => {
  const ops = parseJepsenLog(
    [
      "INFO  jepsen.util - 0\t:invoke\t:read\tnil",
      "INFO  jepsen.util - 1   :invoke :cas    [1 2]",
      "INFO  jepsen.util - 2\t:invoke\t:write\t4",
      "",
      "INFO  jepsen.util - 0\t:ok\t:read\tnil",
      "INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]",
      "INFO  jepsen.util - 2\t:info\t:write\t:timed-out",
      "INFO  jepsen.util - 3\t:invoke\t:read\tnil",
      "INFO  jepsen.util - 3\t:ok\t:read\t4",
    ].join("\n"),
  );
  assert.deepEqual(ops, [
    { process: 0, input: { f: "read" }, output: null, call: 0, return: 3, status: "ok", line: 1 },
    { process: 1, input: { f: "cas", value: [1, 2] }, call: 1, return: 4, status: "fail", line: 2 },
    {
      process: 2,
      input: { f: "write", value: 4 },
      call: 2,
      return: Infinity,
      status: "info",
      line: 3,
    },
    { process: 3, input: { f: "read" }, output: 4, call: 6, return: 7, status: "ok", line: 8 },
  ]);
});

Deno.test("parseJepsenLog() names file and line of an unparseable line", () => {
  assert.throws(
    () =>
      parseJepsenLog("INFO  jepsen.util - 0\t:invoke\t:read\tnil\ngarbage here\n", {
        source: "e.log",
      }),
    (err: unknown) =>
      err instanceof HistoryParseError && err.line === 2 &&
      err.message.startsWith("e.log:2: expected"),
  );
});

Deno.test("parseJepsenLog() rejects unknown types, functions and bad values", () => {
  assert.throws(
    () => parseJepsenLog("INFO  jepsen.util - 0\t:start\t:read\tnil"),
    /1: unknown type :start/,
  );
  assert.throws(
    () => parseJepsenLog("INFO  jepsen.util - 0\t:invoke\t:incr\t1"),
    /1: unknown register function "incr"/,
  );
  assert.throws(
    () => parseJepsenLog("INFO  jepsen.util - 0\t:invoke\t:write\t[1 2"),
    /1: bad value/,
  );
  assert.throws(
    () => parseJepsenLog("INFO  jepsen.util - 0\t:invoke\t:cas\t3"),
    /cas value must be/,
  );
});

Deno.test("parseJepsenLog() reads a log with Windows line endings like one without", () => {
  const lines = [
    "INFO  jepsen.util - 0\t:invoke\t:write\t1",
    "INFO  jepsen.util - 0\t:ok\t:write\t1",
  ];
  assert.deepEqual(parseJepsenLog(lines.join("\r\n") + "\r\n"), parseJepsenLog(lines.join("\n")));
  assert.equal(parseJepsenLog(lines.join("\r\n")).length, 1);
});
