import assert from "node:assert/strict";
import { registerJson, registerModel } from "./model_register.ts";

Deno.test("registerModel starts at null and reads back what was written", () => {
  const s0 = registerModel.init();
  assert.equal(s0, null);
  assert.ok(registerModel.step(s0, { f: "read" }, null).ok);
  assert.ok(registerModel.step(s0, { f: "read" }, undefined).ok, "a missing read output is nil");
  assert.equal(registerModel.step(s0, { f: "read" }, 0).ok, false);
  const w = registerModel.step(s0, { f: "write", value: "x" }, undefined);
  assert.deepEqual(w, { ok: true, state: "x" });
});

Deno.test("registerModel cas succeeds only when the compare matches", () => {
  assert.deepEqual(registerModel.step(1, { f: "cas", value: [1, 2] }, undefined), {
    ok: true,
    state: 2,
  });
  assert.equal(registerModel.step(3, { f: "cas", value: [1, 2] }, undefined).ok, false);
  assert.equal(registerModel.step(null, { f: "cas", value: [0, 2] }, undefined).ok, false);
});

Deno.test("registerModel.stepUnknown applies writes and only successful cas", () => {
  assert.deepEqual(registerModel.stepUnknown(0, { f: "write", value: 4 }), { ok: true, state: 4 });
  assert.deepEqual(registerModel.stepUnknown(1, { f: "cas", value: [1, 5] }), {
    ok: true,
    state: 5,
  });
  assert.equal(registerModel.stepUnknown(2, { f: "cas", value: [1, 5] }).ok, false);
  assert.equal(registerModel.readOnly?.({ f: "read" }), true);
  assert.equal(registerModel.readOnly?.({ f: "write", value: 1 }), false);
});

Deno.test("registerModel equal and hash distinguish values of different types", () => {
  assert.equal(registerModel.equal(1, 1), true);
  assert.equal(registerModel.equal(1, "1"), false);
  assert.equal(registerModel.hash("a"), registerModel.hash("a"));
  assert.notEqual(registerModel.hash(null), registerModel.hash(false));
  assert.equal(typeof registerModel.hash(1.5), "number");
});

Deno.test("registerJson decodes read, write and cas and rejects malformed values", () => {
  assert.deepEqual(registerJson.input({ f: "read", value: null }), { f: "read" });
  assert.deepEqual(registerJson.input({ f: "write", value: 2 }), { f: "write", value: 2 });
  assert.deepEqual(registerJson.input({ f: "cas", value: [1, 2] }), { f: "cas", value: [1, 2] });
  assert.equal(registerJson.output({ f: "read" }, 7), 7);
  assert.equal(registerJson.output({ f: "read" }, null), null);
  assert.equal(registerJson.output({ f: "write", value: 1 }, 1), undefined);
  assert.throws(() => registerJson.input({ f: "cas", value: 1 }), /cas value must be \[from, to\]/);
  assert.throws(() => registerJson.input({ f: "write", value: { a: 1 } }), /JSON scalar/);
  assert.throws(
    () => registerJson.input({ f: "incr", value: 1 }),
    /unknown register function "incr"/,
  );
});
