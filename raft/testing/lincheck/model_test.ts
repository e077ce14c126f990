import assert from "node:assert/strict";
import { accept, determinize, hashString, mixHash, REJECT } from "./model.ts";

Deno.test("accept() and REJECT build step results", () => {
  assert.deepEqual(accept(3), { ok: true, state: 3 });
  assert.equal(REJECT.ok, false);
  assert.ok(Object.isFrozen(REJECT));
});

Deno.test("hashString() continues from a seed like hashing the concatenation", () => {
  assert.equal(hashString("hello world"), hashString(" world", hashString("hello")));
  assert.notEqual(hashString("ab"), hashString("ba"));
  assert.equal(hashString("x") | 0, hashString("x"));
});

Deno.test("mixHash() spreads nearby integers apart", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) seen.add(mixHash(i));
  assert.equal(seen.size, 1000);
});

Deno.test("determinize() steps sets of states and compares them as sets", () => {
  const model = determinize<number, "fork" | "keep", never>({
    init: () => 0,
    step: (s, input) => (input === "fork" ? [s * 2, s * 2 + 1] : [s]),
    stepUnknown: (s) => [s],
    readOnly: (input) => input === "keep",
    equal: (a, b) => a === b,
    hash: (s) => s,
    partition: (h) => [h],
  });
  const one = model.step(model.init(), "fork", undefined);
  assert.ok(one.ok);
  assert.deepEqual(one.state, [0, 1]);
  const two = model.step(one.state, "fork", undefined);
  assert.ok(two.ok);
  assert.deepEqual(two.state, [0, 1, 2, 3]);
  assert.ok(model.equal([1, 2], [2, 1]));
  assert.equal(model.hash([1, 2]), model.hash([2, 1]));
  assert.equal(model.readOnly?.("keep"), true);
  assert.equal(model.partition?.([]).length, 1);
});

Deno.test("determinize() rejects when no state allows the operation", () => {
  const model = determinize<number, number, never>({
    init: () => 0,
    step: (s, input) => (input === s ? [s] : []),
    stepUnknown: () => [],
    equal: (a, b) => a === b,
    hash: (s) => s,
  });
  assert.equal(model.step([0], 1, undefined).ok, false);
  assert.equal(model.step([0, 1], 1, undefined).ok, true);
});
