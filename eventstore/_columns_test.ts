import assert from "node:assert/strict";
import fc from "fast-check";
import { F64Column, U32Column } from "./_columns.ts";

const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ push: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ drop: fc.integer({ min: 0, max: 300 }) }) },
);

Deno.test("columns hold exactly what was pushed while growing ahead of need (property)", () => {
  fc.assert(
    fc.property(
      fc.array(op, { maxLength: 60 }),
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 0, max: 200 }),
      (ops, capacity, pregrowFrom) => {
        const u = new U32Column(capacity, pregrowFrom);
        const f = new F64Column(capacity, pregrowFrom);
        const model: number[] = [];
        const fModel: number[] = [];
        let v = 0;
        for (const o of ops) {
          if ("push" in o) {
            for (let i = 0; i < o.push; i++) {
              v++;
              u.push(v);
              f.push(v * 2 ** 21);
              model.push(v);
              fModel.push(v * 2 ** 21);
            }
          } else {
            f.dropFirst(o.drop);
            fModel.splice(0, o.drop);
          }
          assert.equal(u.length, model.length);
          assert.deepEqual([...u.view()], model);
          assert.equal(f.length, fModel.length);
          assert.deepEqual([...f.view()], fModel);
          for (let i = 0; i < model.length; i += 17) assert.equal(u.get(i), model[i]);
        }
      },
    ),
    { numRuns: 200 },
  );
});
