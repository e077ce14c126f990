import assert from "node:assert/strict";
import fc from "fast-check";
import { checkHistory } from "./check.ts";
import type { Operation, OperationStatus } from "./history.ts";
import { accept, determinize, type Model, REJECT } from "./model.ts";
import { kvModel } from "./model_kv.ts";
import {
  type RegisterInput,
  registerModel,
  type RegisterOutput,
  type RegisterValue,
} from "./model_register.ts";

type RegOp = Operation<RegisterInput, RegisterOutput>;

let nextProcess = 0;
function op(
  input: RegisterInput,
  call: number,
  ret: number,
  extra: { output?: RegisterOutput; status?: OperationStatus } = {},
): RegOp {
  const status = extra.status ?? "ok";
  const base = {
    process: nextProcess++,
    input,
    call,
    return: status === "info" ? Infinity : ret,
    status,
  };
  return extra.output === undefined ? base : { ...base, output: extra.output };
}
const read = (v: RegisterValue, call: number, ret: number) =>
  op({ f: "read" }, call, ret, { output: v });
const write = (v: RegisterValue, call: number, ret: number, status?: OperationStatus) =>
  op({ f: "write", value: v }, call, ret, status === undefined ? {} : { status });

Deno.test("checkHistory() accepts an empty history", () => {
  const r = checkHistory(registerModel, []);
  assert.equal(r.ok, true);
  assert.equal(r.verdict, "linearizable");
});

Deno.test("checkHistory() accepts concurrent operations in either order and returns a witness", () => {
  const w = write(1, 0, 10);
  const r1 = read(null, 1, 2);
  const r2 = read(1, 3, 4);
  const result = checkHistory(registerModel, [w, r1, r2]);
  assert.equal(result.verdict, "linearizable");
  assert.deepEqual(result.partitions[0]!.longestPrefix, [r1, w, r2]);
  assert.deepEqual(result.partitions[0]!.unplaced, []);
  assert.equal(result.longestPrefix, undefined);
});

Deno.test("checkHistory() reports a stale read with the prefix and the operation it cannot place", () => {
  const w = write(1, 0, 1);
  const stale = read(null, 2, 3);
  const result = checkHistory(registerModel, [w, stale]);
  assert.equal(result.ok, false);
  assert.equal(result.verdict, "not-linearizable");
  assert.deepEqual(result.longestPrefix, [w]);
  assert.deepEqual(result.unplaced, [stale]);
});

Deno.test("checkHistory() lists every candidate that could not be placed", () => {
  const a = read(5, 0, 10);
  const b = read(6, 1, 11);
  const result = checkHistory(registerModel, [a, b]);
  assert.equal(result.verdict, "not-linearizable");
  assert.deepEqual(result.longestPrefix, []);
  assert.deepEqual(result.unplaced, [a, b]);
});

Deno.test("checkHistory() drops failed operations", () => {
  const failed = write(5, 0, 1, "fail");
  assert.equal(checkHistory(registerModel, [failed, read(5, 2, 3)]).verdict, "not-linearizable");
  assert.equal(checkHistory(registerModel, [failed, read(null, 2, 3)]).verdict, "linearizable");
});

Deno.test("checkHistory() lets an unknown-outcome write take effect at any later time", () => {
  const info = write(3, 0, 1, "info");
  // Not yet visible, then visible much later.
  assert.equal(
    checkHistory(registerModel, [info, read(null, 50, 51), read(3, 100, 101)]).verdict,
    "linearizable",
  );
  // Never visible at all.
  assert.equal(checkHistory(registerModel, [info, read(null, 100, 101)]).verdict, "linearizable");
  // But once visible it cannot be undone.
  assert.equal(
    checkHistory(registerModel, [info, read(3, 50, 51), read(null, 100, 101)]).verdict,
    "not-linearizable",
  );
});

Deno.test("checkHistory() never lets an operation take effect before its invocation", () => {
  const early = read(7, 0, 1);
  const info = write(7, 5, 6, "info");
  assert.equal(checkHistory(registerModel, [early, info]).verdict, "not-linearizable");
});

Deno.test("checkHistory() treats an unknown cas as applying only when its compare succeeds", () => {
  const cas = op({ f: "cas", value: [1, 2] }, 0, 0, { status: "info" });
  assert.equal(checkHistory(registerModel, [cas, read(2, 5, 6)]).verdict, "not-linearizable");
  const set = write(1, 1, 2);
  assert.equal(checkHistory(registerModel, [cas, set, read(2, 5, 6)]).verdict, "linearizable");
});

Deno.test("checkHistory() treats operations touching at an instant as concurrent", () => {
  assert.equal(
    checkHistory(registerModel, [write(1, 0, 5), read(null, 5, 6)]).verdict,
    "linearizable",
  );
  assert.equal(
    checkHistory(registerModel, [write(1, 0, 5), read(null, 6, 7)]).verdict,
    "not-linearizable",
  );
});

Deno.test("checkHistory() throws RangeError when an operation returns before its call", () => {
  assert.throws(() => checkHistory(registerModel, [write(1, 5, 4)]), RangeError);
  assert.throws(() => checkHistory(registerModel, [write(1, NaN, 4)]), RangeError);
});

Deno.test("checkHistory() answers unknown when maxSteps runs out", () => {
  const history = manyConcurrentWrites(14);
  const result = checkHistory(registerModel, history, { maxSteps: 50 });
  assert.equal(result.verdict, "unknown");
  assert.equal(result.ok, false);
  assert.ok(result.steps <= 50);
  assert.ok(result.longestPrefix !== undefined);
  assert.equal(checkHistory(registerModel, history).verdict, "not-linearizable");
});

Deno.test("checkHistory() answers unknown when shouldStop says so", () => {
  let polls = 0;
  const result = checkHistory(registerModel, manyConcurrentWrites(16), {
    shouldStop: () => ++polls >= 2,
  });
  assert.equal(result.verdict, "unknown");
  assert.ok(polls >= 2 && polls < 10, `polled ${polls} times`);
});

/** n concurrent writes, then a read of a value none wrote: needs a big search. */
function manyConcurrentWrites(n: number): RegOp[] {
  const ops: RegOp[] = [];
  for (let i = 0; i < n; i++) ops.push(write(i, i, 100 + i));
  ops.push(read(-1, 200, 201));
  return ops;
}

Deno.test("checkHistory() checks partitions separately and stops at the first violation", () => {
  const history = [
    kvOp("a", "put", "1", 0, 1),
    kvOp("a", "get", "1", 2, 3),
    kvOp("b", "get", "zzz", 0, 1),
    kvOp("c", "get", "", 0, 1),
  ];
  const result = checkHistory(kvModel, history);
  assert.equal(result.verdict, "not-linearizable");
  assert.deepEqual(result.unplaced, [history[2]]);
  assert.ok(result.partitions.length + result.skippedPartitions === 3);
  const all = checkHistory(kvModel, history, { checkAllPartitions: true });
  assert.equal(all.partitions.length, 3);
  assert.deepEqual(all.partitions.map((p) => p.verdict), [
    "linearizable",
    "not-linearizable",
    "linearizable",
  ]);
});

function kvOp(key: string, f: "get" | "put" | "append", value: string, call: number, ret: number) {
  return f === "get"
    ? {
      process: nextProcess++,
      input: { f, key },
      output: value,
      call,
      return: ret,
      status: "ok" as const,
    }
    : {
      process: nextProcess++,
      input: { f, key, value },
      call,
      return: ret,
      status: "ok" as const,
    };
}

Deno.test("checkHistory() works with a determinized nondeterministic model", () => {
  // A set whose "take" may remove any member.
  type In = { f: "add"; value: number } | { f: "take" };
  const model = determinize<readonly number[], In, number>({
    init: () => [],
    step: (s, input, output) =>
      input.f === "add"
        ? [[...s, input.value].sort()]
        : s.includes(output!)
        ? [s.filter((x) => x !== output)]
        : [],
    stepUnknown: (s, input) =>
      input.f === "add" ? [[...s, input.value].sort()] : s.map((x) => s.filter((y) => y !== x)),
    equal: (a, b) => a.length === b.length && a.every((x, i) => x === b[i]),
    hash: (s) => s.reduce((h, x) => Math.imul(h, 31) + x, 7),
  });
  const add = (v: number, c: number, r: number) => ({
    process: nextProcess++,
    input: { f: "add" as const, value: v },
    call: c,
    return: r,
    status: "ok" as const,
  });
  const take = (v: number, c: number, r: number) => ({
    process: nextProcess++,
    input: { f: "take" as const },
    output: v,
    call: c,
    return: r,
    status: "ok" as const,
  });
  assert.equal(
    checkHistory(model, [add(1, 0, 1), add(2, 2, 3), take(2, 4, 5), take(1, 6, 7)]).verdict,
    "linearizable",
  );
  assert.equal(
    checkHistory(model, [add(1, 0, 1), take(1, 2, 3), take(1, 4, 5)]).verdict,
    "not-linearizable",
  );
});

// ---------------------------------------------------------------------------
// Property tests against a brute-force oracle.

/** Tries every order allowed by real time; info operations may be left out. */
function bruteForce<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[]): boolean {
  const ops = history.filter((o) => o.status !== "fail");
  const used = new Array<boolean>(ops.length).fill(false);
  const search = (state: S): boolean => {
    if (ops.every((o, i) => used[i] || o.status !== "ok")) return true;
    for (let i = 0; i < ops.length; i++) {
      if (used[i]) continue;
      const c = ops[i]!;
      // c may go next only if no pending "ok" operation returned before c was called.
      const blocked = ops.some((o, j) => !used[j] && o.status === "ok" && o.return < c.call);
      if (blocked) continue;
      const r = c.status === "ok"
        ? model.step(state, c.input, c.output)
        : model.stepUnknown(state, c.input);
      if (!r.ok) continue;
      used[i] = true;
      if (search(r.state)) return true;
      used[i] = false;
    }
    return false;
  };
  return search(model.init());
}

const valueArb = fc.constantFrom<RegisterValue>(null, 0, 1, 2);
const inputArb: fc.Arbitrary<RegisterInput> = fc.oneof(
  fc.constant({ f: "read" as const }),
  valueArb.map((value) => ({ f: "write" as const, value })),
  fc.tuple(valueArb, valueArb).map(([a, b]) => ({ f: "cas" as const, value: [a, b] as const })),
);
const opArb: fc.Arbitrary<RegOp> = fc.record({
  input: inputArb,
  output: valueArb,
  call: fc.integer({ min: 0, max: 20 }),
  duration: fc.integer({ min: 0, max: 10 }),
  status: fc.constantFrom<OperationStatus>("ok", "ok", "ok", "fail", "info"),
}).map(({ input, output, call, duration, status }) => {
  const base = {
    process: 0,
    input,
    call,
    return: status === "info" ? Infinity : call + duration,
    status,
  };
  return input.f === "read" && status === "ok" ? { ...base, output } : base;
});

Deno.test("checkHistory() agrees with brute force on random small register histories", () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 7 }), (raw) => {
      const history = raw.map((o, i) => ({ ...o, process: i }));
      const expected = bruteForce(registerModel, history);
      assert.equal(checkHistory(registerModel, history).ok, expected);
    }),
    { numRuns: 2000 },
  );
});

/**
 * Builds a history that is linearizable by construction: each operation takes
 * effect at a point inside its interval and outputs are computed by running the
 * model in point order. Info operations take effect or not, at random.
 */
const linearizableArb = fc.array(
  fc.record({
    input: inputArb,
    call: fc.integer({ min: 0, max: 200 }),
    point: fc.integer({ min: 0, max: 20 }),
    tail: fc.integer({ min: 0, max: 20 }),
    status: fc.constantFrom<OperationStatus>("ok", "ok", "ok", "ok", "fail", "info"),
    effect: fc.boolean(),
  }),
  { minLength: 1, maxLength: 40 },
).map((specs) => {
  const order = specs.map((s, i) => ({ ...s, i, at: s.call + s.point + i / 1000 }))
    .sort((a, b) => a.at - b.at);
  const ops: RegOp[] = new Array(specs.length);
  let state: RegisterValue = null;
  for (const s of order) {
    const takesEffect = s.status === "ok" || (s.status === "info" && s.effect);
    const base = {
      process: s.i,
      input: s.input,
      call: s.call,
      return: s.status === "info" ? Infinity : s.call + s.point + s.tail + 1,
      status: s.status,
    };
    let output: RegisterOutput | undefined;
    if (takesEffect) {
      if (s.input.f === "read") output = state;
      else if (s.input.f === "write") state = s.input.value;
      else if (s.input.value[0] === state) state = s.input.value[1];
      else if (s.status === "ok") {
        // A cas whose compare fails is recorded as failed.
        ops[s.i] = { ...base, status: "fail" };
        continue;
      }
    }
    ops[s.i] = output === undefined || s.status !== "ok" ? base : { ...base, output };
  }
  return ops;
});

Deno.test("checkHistory() accepts every history generated from a sequential execution", () => {
  fc.assert(
    fc.property(linearizableArb, (history) => {
      const result = checkHistory(registerModel, history);
      assert.equal(result.verdict, "linearizable");
      // The witness is a valid sequential execution containing every "ok" operation.
      const witness = result.partitions[0]!.longestPrefix;
      const okCount = history.filter((o) => o.status === "ok").length;
      assert.equal(witness.filter((o) => o.status === "ok").length, okCount);
    }),
    { numRuns: 300 },
  );
});

Deno.test("checkHistory() works with a model whose states are objects", () => {
  // A counter state boxed in an object, to exercise equal() on cache hits.
  const boxed: Model<{ n: number }, "inc" | "get", number> = {
    init: () => ({ n: 0 }),
    step: (s, input, output) =>
      input === "inc" ? accept({ n: s.n + 1 }) : output === s.n ? accept(s) : REJECT,
    stepUnknown: (s, input) => accept(input === "inc" ? { n: s.n + 1 } : s),
    equal: (a, b) => a.n === b.n,
    hash: (s) => s.n,
  };
  const inc = (c: number, r: number) => ({
    process: nextProcess++,
    input: "inc" as const,
    call: c,
    return: r,
    status: "ok" as const,
  });
  const get = (v: number, c: number, r: number) => ({
    process: nextProcess++,
    input: "get" as const,
    output: v,
    call: c,
    return: r,
    status: "ok" as const,
  });
  const history = [inc(0, 10), inc(1, 10), inc(2, 10), get(2, 3, 4), get(3, 11, 12)];
  assert.equal(checkHistory(boxed, history).verdict, "linearizable");
  assert.equal(checkHistory(boxed, [...history, get(2, 13, 14)]).verdict, "not-linearizable");
});
