import assert from "node:assert/strict";
import fc from "fast-check";
import { KeyedDeadlines } from "./deadlines.ts";

Deno.test("KeyedDeadlines fires every deadline at or before now, in the order added, and no other (property)", () => {
  const op = fc.oneof(
    fc.record({ add: fc.integer({ min: 1, max: 40 }), step: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ expire: fc.integer({ min: 0, max: 60 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const d = new KeyedDeadlines();
      const model: { key: number; at: number }[] = [];
      let at = 0, now = 0, key = 0;
      for (const o of ops) {
        if ("add" in o) {
          // Deadlines are added in time order; several adds per step (a burst) are common.
          for (let i = 0; i < o.add; i++) {
            d.add(++key, at);
            model.push({ key, at });
          }
          at += o.step;
        } else {
          now += o.expire;
          const fired: number[] = [];
          d.expire(now, (k) => fired.push(k));
          const due = model.filter((m) => m.at <= now).map((m) => m.key);
          model.splice(0, due.length);
          assert.deepEqual(fired, due);
        }
        assert.equal(d.size, model.length);
      }
    }),
    { numRuns: 300 },
  );
});

Deno.test("KeyedDeadlines: a deadline added earlier than its predecessor (clock stepped back) waits for it", () => {
  const d = new KeyedDeadlines();
  d.add(1, 100);
  d.add(2, 50);
  const fired: number[] = [];
  d.expire(60, (k) => fired.push(k));
  assert.equal(fired.length, 0, "not yet: it waits for the one before it");
  d.expire(100, (k) => fired.push(k));
  assert.deepEqual(fired, [1, 2]);
});
