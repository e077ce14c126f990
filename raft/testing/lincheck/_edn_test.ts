import assert from "node:assert/strict";
import { EdnKeyword, ednToJson, readEdn } from "./_edn.ts";

Deno.test("readEdn() reads scalars, keywords, vectors, lists and maps", () => {
  assert.equal(readEdn("nil"), null);
  assert.equal(readEdn(" true "), true);
  assert.equal(readEdn("-12"), -12);
  assert.equal(readEdn("1.5e2"), 150);
  assert.equal(readEdn("42N"), 42);
  assert.equal(readEdn('"a\\"b\\\\c\\n"'), 'a"b\\c\n');
  assert.deepEqual(readEdn(":timed-out"), new EdnKeyword("timed-out"));
  assert.deepEqual(readEdn("[1 2, (3)]"), [1, 2, [3]]);
  assert.deepEqual(ednToJson(readEdn('{:a [nil :b], "c" "d"}')), { a: [null, ":b"], c: "d" });
});

Deno.test("readEdn() throws TypeError with the column for malformed text", () => {
  for (
    const [text, pattern] of [
      ["[1 2", /missing "\]"/],
      ['"abc', /unterminated string/],
      ["{1 2}", /map keys must be keywords or strings/],
      ["1 2", /unexpected text after the value at column 3/],
      ["#{}", /cannot read/],
      ['"\\q"', /unknown escape/],
      ["", /unexpected end of input/],
    ] as const
  ) {
    assert.throws(
      () => readEdn(text),
      (err: unknown) => err instanceof TypeError && pattern.test(err.message),
      text,
    );
  }
});
