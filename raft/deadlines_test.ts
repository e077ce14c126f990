import assert from "node:assert/strict";
import fc from "fast-check";
import { DeadlineQueue, KeyedDeadlines } from "./deadlines.ts";

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

Deno.test("DeadlineQueue holds nothing once every deadline is due, whatever the number of distinct timeouts", () => {
  const q = new DeadlineQueue();
  let fired = 0;
  const cancels: (() => void)[] = [];
  // Timeouts computed per request: one group each.
  for (let i = 0; i < 500; i++) cancels.push(q.add(0, 1000 + i, () => fired++));
  for (let i = 0; i < 500; i += 2) cancels[i]!();
  assert.equal(q.size, 500);
  q.expire(1200);
  assert.equal(fired, 100, "the 100 uncancelled deadlines due by 1200");
  assert.equal(q.size, 150, "due and cancelled ones dropped");
  q.expire(1_000_000);
  assert.equal(fired, 250);
  assert.equal(q.size, 0);
});
