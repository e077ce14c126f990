import assert from "node:assert/strict";
import fc from "fast-check";
import { ByteReader, ByteWriter } from "./_bytes.ts";
import { IdTable } from "./_id_table.ts";

/** Every position stored under (h1, h2). */
function positions(t: IdTable, h1: number, h2: number): number[] {
  const out: number[] = [];
  for (let s = t.next(h1, h2, -1); s >= 0; s = t.next(h1, h2, s)) out.push(t.positionAt(s));
  return out.sort((a, b) => a - b);
}

const entry = fc.record({
  h1: fc.nat({ max: 0xffff_ffff }),
  h2: fc.nat({ max: 0xffff_ffff }),
  position: fc.oneof(fc.nat({ max: 1_000_000 }), fc.integer({ min: 2 ** 32, max: 2 ** 40 })),
});

Deno.test("IdTable survives write and read, with positions under and over 2^32", () => {
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 300 }), fc.nat({ max: 64 }), (entries, dup) => {
      const t = new IdTable(16);
      for (const e of entries) t.insert(e.h1, e.h2, e.position);
      // Some keys map to several positions.
      for (const e of entries.slice(0, dup)) t.insert(e.h1, e.h2, e.position + 1);
      const w = new ByteWriter(8);
      w.u8(7); // an odd offset before the table
      t.write(w);
      w.u8(9);
      const r = new ByteReader(w.finish());
      assert.equal(r.u8(), 7);
      const back = IdTable.read(r);
      assert.equal(r.u8(), 9);
      assert.ok(r.done);
      assert.equal(back.size, t.size);
      for (const e of entries) {
        assert.deepEqual(positions(back, e.h1, e.h2), positions(t, e.h1, e.h2));
      }
    }),
    { numRuns: 200 },
  );
});

/**
 * A model of the event index's liveness: position p belongs to stream p % S
 * with revision p, and is live while p >= floor[p % S]; floors only rise.
 */
class Model {
  readonly positions: number[] = [];
  readonly byKey = new Map<string, number[]>();
  readonly floor: Float64Array;
  constructor(readonly streams: number) {
    this.floor = new Float64Array(streams);
  }
  liveness = () => {
    const n = this.positions.length;
    const stream = new Uint32Array(n), revision = new Uint32Array(n);
    for (let p = 0; p < n; p++) (stream[p] = p % this.streams, revision[p] = p);
    return { stream, revision, floor: this.floor.slice() };
  };
  alive(p: number): boolean {
    return p >= this.floor[p % this.streams]!;
  }
}

type Op =
  | { kind: "insert"; h1: number; h2: number }
  | { kind: "kill"; stream: number; upTo: number }
  | { kind: "snapshot" };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.record({
      kind: fc.constant("insert" as const),
      h1: fc.nat({ max: 40 }),
      h2: fc.nat({ max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("kill" as const),
      stream: fc.nat({ max: 3 }),
      upTo: fc.nat({ max: 3000 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "snapshot" as const }) },
);

Deno.test("IdTable answers like a map of key -> positions while it grows, moves and drops dead entries", () => {
  fc.assert(
    fc.property(
      fc.array(op, { minLength: 100, maxLength: 2500, size: "max" }),
      fc.boolean(),
      (ops, ahead) => {
        const m = new Model(4);
        // Small tables too prepare their next table ahead when `ahead`.
        let t = new IdTable(16, ahead ? 16 : undefined);
        for (const o of ops) {
          if (o.kind === "insert") {
            const p = m.positions.length;
            m.positions.push(p);
            const k = `${o.h1}/${o.h2}`;
            m.byKey.set(k, [...(m.byKey.get(k) ?? []), p]);
            t.insert(o.h1, o.h2, p, m.liveness);
          } else if (o.kind === "kill") {
            m.floor[o.stream] = Math.max(m.floor[o.stream]!, o.upTo);
          } else {
            const w = new ByteWriter(16);
            t.write(w);
            t = IdTable.read(new ByteReader(w.finish()));
          }
        }
        for (const [k, ps] of m.byKey) {
          const [h1, h2] = k.split("/").map(Number) as [number, number];
          const got = positions(t, h1, h2);
          for (const p of got) {
            assert.ok(
              ps.includes(p),
              `position ${p} was never inserted for ${k}`,
            );
          }
          const live = ps.filter((p) => m.alive(p));
          const gotLive = got.filter((p) => m.alive(p));
          assert.deepEqual(gotLive, live, `live positions of ${k}`);
        }
        assert.ok(t.size <= m.positions.length);
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("IdTable grows by moving a few slots per insert, and finds every id meanwhile", () => {
  const t = new IdTable(16);
  const key = (i: number) => [(i * 2654435761) >>> 0, i] as const;
  let moves = 0, checkedWhileMoving = 0;
  for (let i = 0; i < 200_000; i++) {
    const before = t.moving;
    t.insert(...key(i), i);
    if (!before && t.moving) moves++;
    if (t.moving && i % 101 === 0) {
      for (let j = i; j >= 0; j -= 1 + (j >>> 4)) assert.deepEqual(positions(t, ...key(j)), [j]);
      checkedWhileMoving++;
    }
  }
  assert.ok(moves >= 10, `the table grew by moves (${moves})`);
  assert.ok(checkedWhileMoving > 100, "lookups were checked during moves");
  assert.equal(t.size, 200_000);
});

Deno.test("IdTable stays small when old entries keep dying", () => {
  const m = new Model(1);
  const t = new IdTable(16);
  for (let i = 0; i < 100_000; i++) {
    m.positions.push(i);
    // Only the last 100 events are kept (maxCount 100).
    m.floor[0] = Math.max(0, i - 99);
    t.insert(i & 0xffff, i >>> 16, i, m.liveness);
  }
  assert.ok(t.capacity <= 4096, `capacity ${t.capacity} for at most 100 live entries`);
  for (let i = 99_900; i < 100_000; i++) assert.deepEqual(positions(t, i & 0xffff, i >>> 16), [i]);
});

Deno.test("IdTable grows correctly when a table it thought mostly dead turns out live", () => {
  const m = new Model(1);
  const t = new IdTable(16);
  const key = (i: number) => [i & 0xff, i >>> 8] as const;
  for (let i = 0; i < 20_000; i++) {
    // The first 3,000 events are truncated away once written: the next move finds most of
    // the table dead and sizes the following one for a clean-up, which then meets live ids.
    if (i === 3000) m.floor[0] = 3000;
    m.positions.push(i);
    t.insert(...key(i), i, m.liveness);
  }
  for (let i = 3000; i < 20_000; i++) assert.deepEqual(positions(t, ...key(i)), [i]);
  assert.ok(t.size >= 17_000 && t.capacity >= 32_768, `size ${t.size}, capacity ${t.capacity}`);
});
