import assert from "node:assert/strict";
import fc from "fast-check";
import { jointCommittedIndex, jointVoteResult } from "./joint.ts";
import { majorityCommittedIndex, majorityVoteResult, type VoteResult } from "./majority.ts";

function acks(m: Record<string, number>): (id: string) => number {
  return (id) => m[id] ?? 0;
}

Deno.test("majorityCommittedIndex is the highest index a majority has acked (§5.3 commit rule)", () => {
  const table: [string[], Record<string, number>, number][] = [
    [["a"], { a: 7 }, 7],
    [["a"], {}, 0],
    [["a", "b"], { a: 5, b: 3 }, 3], // two voters: both are the majority
    [["a", "b", "c"], { a: 5, b: 3, c: 9 }, 5],
    [["a", "b", "c"], { a: 5 }, 0],
    [["a", "b", "c"], { a: 5, b: 5 }, 5],
    [["a", "b", "c", "d"], { a: 9, b: 8, c: 1, d: 1 }, 1], // four voters need three
    [["a", "b", "c", "d"], { a: 9, b: 8, c: 7, d: 1 }, 7],
    [["a", "b", "c", "d", "e"], { a: 9, b: 8, c: 7, d: 2, e: 1 }, 7],
    [["a", "b", "c", "d", "e"], { a: 9, b: 8, c: 1, d: 2, e: 1 }, 2],
    [["a", "b", "c"], { a: 5, b: 3, c: 9, x: 100, y: 100 }, 5], // non-voters do not count
  ];
  for (const [voters, m, want] of table) {
    assert.equal(majorityCommittedIndex(voters, acks(m)), want, `${voters} ${JSON.stringify(m)}`);
  }
});

Deno.test("majorityCommittedIndex of no voters never holds back a joint quorum", () => {
  assert.equal(majorityCommittedIndex([], acks({})), Infinity);
});

Deno.test("majorityCommittedIndex: a majority acked it, and no higher index has a majority (property)", () => {
  fc.assert(
    fc.property(fc.array(fc.nat(20), { minLength: 1, maxLength: 9 }), (idx) => {
      const voters = idx.map((_, i) => `v${i}`);
      const m = Object.fromEntries(voters.map((v, i) => [v, idx[i]!]));
      const c = majorityCommittedIndex(voters, acks(m));
      const q = Math.floor(voters.length / 2) + 1;
      assert.ok(idx.filter((x) => x >= c).length >= q);
      assert.ok(idx.filter((x) => x >= c + 1).length < q);
    }),
  );
});

Deno.test("majorityVoteResult: won with a majority of grants, lost once a majority is impossible (§5.2)", () => {
  const table: [string[], Record<string, boolean>, VoteResult][] = [
    [[], {}, "won"],
    [["a"], {}, "pending"],
    [["a"], { a: true }, "won"],
    [["a"], { a: false }, "lost"],
    [["a", "b"], { a: true }, "pending"],
    [["a", "b"], { a: true, b: false }, "lost"],
    [["a", "b"], { a: true, b: true }, "won"],
    [["a", "b", "c"], { a: true }, "pending"],
    [["a", "b", "c"], { a: true, b: true }, "won"],
    [["a", "b", "c"], { a: true, b: false }, "pending"],
    [["a", "b", "c"], { a: false, b: false }, "lost"],
    [["a", "b", "c", "d"], { a: true, b: true }, "pending"],
    [["a", "b", "c", "d"], { a: true, b: true, c: false }, "pending"],
    [["a", "b", "c", "d"], { a: true, b: false, c: false }, "lost"],
    [["a", "b", "c", "d", "e"], { a: true, b: true, c: true }, "won"],
    [["a", "b", "c"], { a: true, x: true, y: true }, "pending"], // non-voters do not count
  ];
  for (const [voters, v, want] of table) {
    const votes = new Map(Object.entries(v));
    assert.equal(majorityVoteResult(voters, votes), want, `${voters} ${JSON.stringify(v)}`);
  }
});

Deno.test("jointCommittedIndex is the lower of both halves' majority indexes (§4.3)", () => {
  const table: [string[], string[], Record<string, number>, number][] = [
    [["a", "b", "c"], [], { a: 5, b: 3, c: 9 }, 5], // not joint
    [["a", "b", "c"], ["a", "b", "c"], { a: 5, b: 3, c: 9 }, 5],
    [["a", "b", "c"], ["d", "e", "f"], { a: 5, b: 5, c: 5, d: 2, e: 2 }, 2],
    [["a", "b", "c"], ["d", "e", "f"], { a: 1, b: 1, d: 7, e: 7, f: 7 }, 1],
    [["a", "b", "c"], ["a", "d"], { a: 5, b: 3, c: 9, d: 1 }, 1], // outgoing {a,d} needs both
    [["a", "b", "c"], ["a", "d"], { a: 5, b: 3, c: 9, d: 4 }, 4],
  ];
  for (const [inc, out, m, want] of table) {
    const cfg = { incoming: new Set(inc), outgoing: new Set(out) };
    assert.equal(jointCommittedIndex(cfg, acks(m)), want, `${inc}|${out} ${JSON.stringify(m)}`);
  }
});

Deno.test("jointVoteResult is won only when both halves win and lost when either loses (§4.3)", () => {
  const table: [string[], string[], Record<string, boolean>, VoteResult][] = [
    [["a", "b", "c"], [], { a: true, b: true }, "won"],
    [["a", "b", "c"], ["d", "e", "f"], { a: true, b: true }, "pending"],
    [["a", "b", "c"], ["d", "e", "f"], { a: true, b: true, d: true, e: true }, "won"],
    [["a", "b", "c"], ["d", "e", "f"], { a: true, b: true, d: false, e: false }, "lost"],
    [["a", "b", "c"], ["d", "e", "f"], { a: false, b: false, d: true, e: true }, "lost"],
    [["a", "b", "c"], ["a", "d"], { a: true, b: true }, "pending"],
    [["a", "b", "c"], ["a", "d"], { a: true, b: true, d: true }, "won"],
    [["a", "b", "c"], ["a", "d"], { a: true, b: true, d: false }, "lost"],
  ];
  for (const [inc, out, v, want] of table) {
    const cfg = { incoming: new Set(inc), outgoing: new Set(out) };
    assert.equal(
      jointVoteResult(cfg, new Map(Object.entries(v))),
      want,
      `${inc}|${out} ${JSON.stringify(v)}`,
    );
  }
});
