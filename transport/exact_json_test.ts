import assert from "node:assert/strict";
import fc from "fast-check";
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

Deno.test("parseJson refuses a body exactly when one of its integer literals is beyond 2^53 - 1", () => {
  const MAX = 2n ** 53n - 1n;
  // Integer literals around the limit, written into nested arrays and objects as JSON text.
  const literal = fc.oneof(
    fc.bigInt({ min: -(MAX + 1000n), max: MAX + 1000n }),
    fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
    fc.bigInt({ min: -1000n, max: 1000n }),
  );
  const tree: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      literal.map(String),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
      fc.string().map((t) => JSON.stringify(t)),
      fc.array(tie("node"), { maxLength: 4 }).map((a) => `[${a.join(",")}]`),
      // Keys unique: of a key given twice JSON keeps the last value, and the check with it.
      fc.uniqueArray(fc.tuple(fc.string(), tie("node")), { selector: ([k]) => k, maxLength: 4 })
        .map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(",")}}`),
    ),
  })).node;
  fc.assert(
    fc.property(tree, (text) => {
      // Integer literals outside strings: the tokens JSON.parse reads as numbers.
      const unsafe = [
        ...text.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g),
      ]
        .some((m) => /^-?\d+$/.test(m[0]) && (BigInt(m[0]) > MAX || BigInt(m[0]) < -MAX));
      let refused = false;
      try {
        parseJson(text);
      } catch (e) {
        assert.ok(e instanceof BadRequest && /cannot be kept exactly/.test(e.message), String(e));
        refused = true;
      }
      assert.equal(refused, unsafe, text);
    }),
    { numRuns: 2000 },
  );
});
