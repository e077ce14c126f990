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
