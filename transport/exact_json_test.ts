import assert from "node:assert/strict";
import { BadRequest } from "./append_body.ts";
import { parseJson } from "./exact_json.ts";

function refusal(text: string): string {
  try {
    parseJson(text);
  } catch (e) {
    assert.ok(e instanceof BadRequest, String(e));
    assert.equal(e.code, "invalid_json");
    return e.message;
  }
  assert.fail(`accepted ${text.slice(0, 60)}`);
}

Deno.test("parseJson refuses numbers it cannot keep, wherever they are", () => {
  for (
    const text of [
      "12345678901234567891",
      "-9007199254740993",
      "1e400",
      "-1E400",
      '{"a":{"b":[1,2,{"c":9007199254740993}]}}',
      '[{"x":"12345678901234567891"},[[1e999]]]',
      `[${Array.from({ length: 500 }, (_, i) => i).join(",")},90071992547409930]`,
    ]
  ) {
    assert.match(refusal(text), /cannot be kept exactly/, text);
  }
});

Deno.test("parseJson keeps what reads back the same, big-looking text included", () => {
  const cases: [string, unknown][] = [
    ['{"a":9007199254740991,"b":-9007199254740991}', { a: 9007199254740991, b: -9007199254740991 }],
    // Integer values beyond 2^53 written in a form that is exact: an exponent, a fraction.
    ["[1e20,12345678901234567.5]", [1e20, 12345678901234567.5]],
    // Underflow to zero, and digits inside strings.
    ['{"c":1e-400,"id":"12345678901234567891","s":"1e999"}', {
      c: 0,
      id: "12345678901234567891",
      s: "1e999",
    }],
    ['{"__proto__":{"n":1},"m":[]}', JSON.parse('{"__proto__":{"n":1},"m":[]}')],
    ["null", null],
    ['"x"', "x"],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseJson(text), want, text);
});

Deno.test("parseJson: not JSON, or too deep to check, is a 400 that says so", () => {
  assert.match(refusal('{"a":'), /not valid JSON/);
  const deep = 100_000;
  assert.match(
    refusal("[".repeat(deep) + "12345678901234567891" + "]".repeat(deep)),
    /nested too deeply/,
  );
  // Deep nesting with nothing to check is parsed as usual.
  assert.equal(Array.isArray(parseJson("[".repeat(deep) + "1" + "]".repeat(deep))), true);
});
