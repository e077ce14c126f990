import assert from "node:assert/strict";
import fc from "fast-check";
import { appendEvents, appendSchema, BadRequest } from "./append_body.ts";

// Lengths at the limits of ids (128) and types (200).
const text = fc.oneof(
  fc.constantFrom(0, 1, 2, 127, 128, 129, 199, 200, 201).map((n) => "x".repeat(n)),
  fc.string({ maxLength: 8 }),
);
const value = fc.oneof(
  text,
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.dictionary(fc.string(), fc.integer()),
);
const event = fc.oneof(
  // Mostly the right keys, so the limits of each field get exercised...
  fc.record({
    type: fc.oneof(text, value),
    id: fc.oneof(text, value),
    data: value,
    metadata: value,
  }, {
    requiredKeys: [],
  }),
  // ...and sometimes keys that must be refused.
  fc.dictionary(
    fc.constantFrom("type", "id", "data", "metadata", "extra", "__proto__", "constructor"),
    fc.oneof(text, value),
    { maxKeys: 5 },
  ),
).map((o) => JSON.parse(JSON.stringify(o)) as unknown);
const body = fc.oneof(event, fc.array(event, { maxLength: 4 }), value);

Deno.test("appendEvents accepts exactly the bodies the append schema accepts, with the same events", () => {
  fc.assert(
    fc.property(body, (b) => {
      const viaSchema = appendSchema.safeParse(b);
      let events;
      try {
        events = appendEvents(b);
      } catch (e) {
        assert.ok(e instanceof BadRequest && e.code === "invalid_event");
        assert.equal(viaSchema.success, false, JSON.stringify(b));
        return;
      }
      assert.ok(viaSchema.success, `accepted what the schema rejects: ${JSON.stringify(b)}`);
      const expected = Array.isArray(viaSchema.data) ? viaSchema.data : [viaSchema.data];
      assert.deepEqual(events, expected.map((e) => JSON.parse(JSON.stringify(e))));
    }),
    { numRuns: 5000 },
  );
});

Deno.test("appendEvents words a rejection with the schema's message", () => {
  assert.throws(
    () => appendEvents({ type: "" }),
    (e: unknown) => e instanceof BadRequest && e.code === "invalid_event" && /type/.test(e.message),
  );
  assert.throws(() => appendEvents([]), BadRequest);
  assert.throws(() => appendEvents({ type: "T", extra: 1 }), BadRequest);
  assert.deepEqual(appendEvents([{ type: "A", id: "x" }, { type: "B", data: [1] }]), [
    { type: "A", id: "x" },
    { type: "B", data: [1] },
  ]);
});

Deno.test("appendEvents() names the field that is wrong, for one event and for an array", () => {
  assert.throws(() => appendEvents({ data: 1 }), /type/);
  assert.throws(() => appendEvents([{ type: "T" }, { data: 1 }]), /1\.type/);
  assert.throws(() => appendEvents({ type: "T", extra: 1 }), /extra/);
  assert.throws(() => appendEvents([]), /too small|at least/i);
  assert.throws(() => appendEvents(7), /object/);
});
