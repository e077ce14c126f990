import assert from "node:assert/strict";
import { checkHistory } from "./check.ts";
import type { Operation } from "./history.ts";
import { hashString } from "./model.ts";
import { type KvInput, kvJson, kvModel, type KvOutput } from "./model_kv.ts";

Deno.test("kvModel reads an absent key as the empty string and appends by concatenation", () => {
  const s0 = kvModel.init();
  assert.ok(kvModel.step(s0, { f: "get", key: "k" }, "").ok);
  assert.ok(kvModel.step(s0, { f: "get", key: "k" }, undefined).ok);
  const a = kvModel.step(s0, { f: "append", key: "k", value: "x" }, undefined);
  assert.ok(a.ok);
  const b = kvModel.step(a.state, { f: "append", key: "k", value: "y" }, undefined);
  assert.ok(b.ok);
  assert.equal(b.state.value, "xy");
  assert.equal(b.state.hash, hashString("xy"), "the incremental hash equals a full hash");
  assert.equal(kvModel.step(b.state, { f: "get", key: "k" }, "x").ok, false);
  const p = kvModel.step(b.state, { f: "put", key: "k", value: "z" }, undefined);
  assert.ok(p.ok);
  assert.ok(kvModel.equal(p.state, { value: "z", hash: hashString("z") }));
});

Deno.test("kvModel.stepUnknown applies put and append", () => {
  const r = kvModel.stepUnknown(kvModel.init(), { f: "append", key: "k", value: "q" });
  assert.ok(r.ok);
  assert.equal(r.state.value, "q");
  assert.equal(kvModel.readOnly?.({ f: "get", key: "k" }), true);
});

Deno.test("kvModel.partition splits the history by key, keeping order", () => {
  const op = (key: string, call: number): Operation<KvInput, KvOutput> => ({
    process: call,
    input: { f: "get", key },
    output: "",
    call,
    return: call + 1,
    status: "ok",
  });
  const parts = kvModel.partition!([op("a", 0), op("b", 1), op("a", 2)]);
  assert.deepEqual(parts.map((p) => p.map((o) => o.call)), [[0, 2], [1]]);
});

Deno.test("checkHistory() with kvModel catches a get that misses an acknowledged append", () => {
  const history: Operation<KvInput, KvOutput>[] = [
    { process: 0, input: { f: "append", key: "k", value: "a" }, call: 0, return: 1, status: "ok" },
    { process: 1, input: { f: "append", key: "k", value: "b" }, call: 2, return: 3, status: "ok" },
    { process: 2, input: { f: "get", key: "k" }, output: "b", call: 4, return: 5, status: "ok" },
  ];
  assert.equal(checkHistory(kvModel, history).verdict, "not-linearizable");
});

Deno.test("kvJson decodes get, put and append and rejects malformed records", () => {
  assert.deepEqual(kvJson.input({ f: "get", key: "k", value: null }), { f: "get", key: "k" });
  assert.deepEqual(kvJson.input({ f: "put", key: "k", value: "v" }), {
    f: "put",
    key: "k",
    value: "v",
  });
  assert.equal(kvJson.output({ f: "get", key: "k" }, null), "");
  assert.equal(kvJson.output({ f: "get", key: "k" }, "v"), "v");
  assert.equal(kvJson.output({ f: "put", key: "k", value: "v" }, "v"), undefined);
  assert.throws(() => kvJson.input({ f: "get", value: null }), /get "key" must be a string/);
  assert.throws(
    () => kvJson.input({ f: "append", key: "k", value: 3 }),
    /append value must be a string/,
  );
  assert.throws(
    () => kvJson.input({ f: "del", key: "k", value: null }),
    /unknown key-value function/,
  );
});
