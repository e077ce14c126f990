import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeCommand,
  decodeEventAt,
  encodeAppend,
  encodeAppendEvents,
  encodeDelete,
  encodeSetMetadata,
  EventRecordCursor,
  ID_RANDOM,
  prepareEvent,
} from "./commands.ts";
import { AppendTooLargeError, InvalidEventError, InvalidStreamNameError } from "./errors.ts";
import {
  matchesExpectedRevision,
  parseExpectedRevision,
  validateExpectedRevision,
} from "./expected_revision.ts";
import { isValidStreamName, validateStreamName } from "./stream_name.ts";

Deno.test("encodeAppend() round-trips stream, expected revision and every event field", () => {
  const events = [
    prepareEvent({ id: "e-1", type: "Placed", data: { total: 3, é: "ü" }, metadata: { by: "x" } }),
    prepareEvent({ id: "e-2", type: "Bin", data: new Uint8Array([0, 255]) }),
    prepareEvent({ id: "e-3", type: "Empty" }),
  ];
  const cmd = decodeCommand(encodeAppend("orders-1", events, { expectedRevision: 41 }));
  assert.equal(cmd.kind, "append");
  if (cmd.kind !== "append") return;
  assert.equal(cmd.stream, "orders-1");
  assert.equal(cmd.expectedRevision, 41);
  assert.deepEqual(cmd.events.map((e) => e.id), ["e-1", "e-2", "e-3"]);
  assert.equal(new TextDecoder().decode(cmd.events[0]!.data), '{"total":3,"é":"ü"}');
  assert.equal(cmd.events[1]!.dataIsJson, false);
  assert.deepEqual([...cmd.events[1]!.data], [0, 255]);
  assert.equal(cmd.events[2]!.data.length, 0);
  assert.equal(cmd.events[2]!.dataIsJson, true);
});

Deno.test("EventRecordCursor walks records and decodeEventAt reads one by offset", () => {
  const bytes = encodeAppend("s", [
    prepareEvent({ id: "a", type: "T", data: 1 }),
    prepareEvent({ id: "b", type: "U", data: 2 }),
  ]);
  const c = new EventRecordCursor(bytes);
  const h = c.header();
  const first = c.read(h.firstRecord).end;
  assert.equal(decodeEventAt(bytes, first).id, "b");
  assert.equal(c.read(first).end, bytes.length);
});

Deno.test("EventRecordCursor.read() throws RangeError on a truncated record", () => {
  const bytes = encodeAppend("s", [prepareEvent({ id: "a", type: "T", data: "xyz" })]);
  const c = new EventRecordCursor(bytes.subarray(0, bytes.length - 3));
  assert.throws(() => c.read(c.header().firstRecord), RangeError);
});

Deno.test("encodeDelete() and encodeSetMetadata() round-trip", () => {
  assert.deepEqual(
    decodeCommand(encodeDelete("s", { hard: true, expectedRevision: "stream_exists" })),
    {
      kind: "delete",
      stream: "s",
      expectedRevision: "stream_exists",
      hard: true,
    },
  );
  assert.deepEqual(
    decodeCommand(encodeSetMetadata("s", { maxCount: 2, custom: { a: 1 } })),
    { kind: "metadata", stream: "s", metadata: { maxCount: 2, custom: { a: 1 } } },
  );
  assert.throws(() => encodeSetMetadata("s", { maxAge: -1 }), RangeError);
});

Deno.test("prepareEvent() generates ids and rejects bad ids, types and data", () => {
  assert.match(prepareEvent({ type: "T" }).id, /^[0-9a-f-]{36}$/);
  assert.throws(() => prepareEvent({ type: "" }), InvalidEventError);
  assert.throws(() => prepareEvent({ type: "$system" }), InvalidEventError);
  assert.throws(() => prepareEvent({ id: "", type: "T" }), InvalidEventError);
  assert.throws(() => prepareEvent({ id: "x".repeat(129), type: "T" }), InvalidEventError);
  assert.throws(() => prepareEvent({ id: "a\nb", type: "T" }), InvalidEventError);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => prepareEvent({ type: "T", data: cyclic }), InvalidEventError);
  assert.throws(() => prepareEvent({ type: "T", data: () => 1 }), InvalidEventError);
});

Deno.test("encodeAppend() rejects empty appends, duplicate ids and appends over the limits", () => {
  const e = prepareEvent({ id: "a", type: "T" });
  assert.throws(() => encodeAppend("s", []), InvalidEventError);
  assert.throws(() => encodeAppend("s", [e, e]), /appears twice/);
  assert.throws(
    () =>
      encodeAppend("s", [prepareEvent({ type: "T", data: "x".repeat(2000) })], { maxBytes: 1000 }),
    AppendTooLargeError,
  );
  assert.throws(
    () => encodeAppend("s", [e, prepareEvent({ id: "b", type: "T" })], { maxEvents: 1 }),
    AppendTooLargeError,
  );
  assert.throws(() => encodeAppend("$all", [e]), InvalidStreamNameError);
});

Deno.test("encodeAppendEvents() writes the same bytes as prepareEvent() then encodeAppend()", () => {
  const json = fc.jsonValue({ maxDepth: 2 }).filter((v) => v !== null);
  const text = fc.string({ unit: "binary", minLength: 1, maxLength: 40 });
  const event = fc.record({
    // Control characters, "$" types and duplicate ids fail both ways alike.
    id: fc.oneof(text, fc.uuid(), fc.string({ minLength: 0, maxLength: 130 })),
    type: fc.oneof(text, fc.constantFrom("Placed", "Paid", "", "$x", "a\u0001")),
    data: fc.oneof(json, fc.uint8Array({ maxLength: 40 }), fc.constant(undefined)),
    metadata: fc.oneof(json, fc.constant(undefined)),
  }, { requiredKeys: ["id", "type"] });
  const events = fc.array(event, { minLength: 1, maxLength: 20 });
  const expected = fc.oneof(
    fc.constantFrom("any" as const, "no_stream" as const, "stream_exists" as const),
    fc.nat(),
  );
  fc.assert(
    fc.property(events, expected, (evs, expectedRevision) => {
      let old: Uint8Array | Error, next: Uint8Array | Error;
      try {
        old = encodeAppend("s-1", evs.map((e, i) => prepareEvent(e, i)), { expectedRevision });
      } catch (e) {
        old = e as Error;
      }
      try {
        next = encodeAppendEvents("s-1", evs, { expectedRevision });
      } catch (e) {
        next = e as Error;
      }
      if (old instanceof Error || next instanceof Error) {
        assert.equal(next.constructor, old.constructor);
      } else assert.deepEqual([...next], [...old]);
    }),
    { numRuns: 1000 },
  );
  // Generated ids: distinct UUIDs, the rest as given.
  const gen = decodeCommand(encodeAppendEvents("s", [{ type: "T", data: 1 }, { type: "T" }]));
  assert.ok(gen.kind === "append");
  if (gen.kind === "append") {
    assert.match(gen.events[0]!.id, /^[0-9a-f-]{36}$/);
    assert.notEqual(gen.events[0]!.id, gen.events[1]!.id);
    assert.equal(new TextDecoder().decode(gen.events[0]!.data), "1");
  }
  // A type checked once is not trusted for a different later type.
  assert.throws(() => encodeAppendEvents("s", [{ type: "T" }, { type: "" }]), InvalidEventError);
  assert.throws(() => encodeAppendEvents("s", [{ type: "T" }, { type: "$T" }]), InvalidEventError);
  // Limits and bad input fail the same way.
  assert.throws(() => encodeAppendEvents("s", []), InvalidEventError);
  assert.throws(() => encodeAppendEvents("s", [{ id: "a", type: "T" }, { id: "a", type: "T" }]));
  assert.throws(
    () => encodeAppendEvents("s", [{ type: "T", data: "x".repeat(2000) }], { maxBytes: 1000 }),
    AppendTooLargeError,
  );
  assert.throws(() => encodeAppendEvents("s", [{ type: "$T" }]), InvalidEventError);
  assert.throws(
    () => encodeAppendEvents("s", [{ id: "x".repeat(129), type: "T" }]),
    InvalidEventError,
  );
  assert.throws(() => encodeAppendEvents("$all", [{ type: "T" }]), InvalidStreamNameError);
  const big = encodeAppendEvents("s", [{ id: "a", type: "T", data: "é".repeat(100_000) }]);
  const cmd = decodeCommand(big);
  assert.ok(cmd.kind === "append" && cmd.events[0]!.data.length === 200_002);
});

Deno.test("encodeAppendEvents() flags the ids it draws, on the ASCII path and the general one", () => {
  const flags = (bytes: Uint8Array) => {
    const cur = new EventRecordCursor(bytes), out: number[] = [];
    const n = cur.header().count;
    for (let k = 0, off = cur.header().firstRecord; k < n; k++) {
      const r = cur.read(off);
      out.push(r.flags & ID_RANDOM);
      off = r.end;
    }
    return out;
  };
  const mixed = [{ type: "T" }, { id: "chosen", type: "T" }, { type: "T", data: { a: 1 } }];
  assert.deepEqual(flags(encodeAppendEvents("s", mixed)), [ID_RANDOM, 0, ID_RANDOM]);
  // Non-ASCII text and byte bodies take the general path.
  for (const data of ["é", new Uint8Array([1, 2])]) {
    const evs = [{ type: "T", data }, { id: "chosen", type: "T", data }];
    assert.deepEqual(flags(encodeAppendEvents("s", evs)), [ID_RANDOM, 0]);
  }
  // The flag changes nothing that is read back.
  const cmd = decodeCommand(encodeAppendEvents("s", mixed));
  assert.ok(cmd.kind === "append" && cmd.events[1]!.id === "chosen" && cmd.events[2]!.dataIsJson);
});

Deno.test("validateStreamName() accepts letters, digits and separators and reserves $", () => {
  const marked = ["नमस्ते-1", "ภาษาไทย", "café".normalize("NFD"), "...", ".a", "a..b"];
  for (
    const ok of ["a", "orders-1", "bank.account_42", "tenant:x@y+z=w~v", "über-Straße", "9"]
      .concat(marked)
  ) {
    assert.ok(isValidStreamName(ok), ok);
  }
  // A mark cannot start a name; "." and ".." are path steps in URLs.
  const bad = ["", "$all", "$x", "a/b", "a b", "a?b", "x".repeat(201), "ü".repeat(101)]
    .concat(["\u0301a", ".", "..", "a\ud800"]);
  for (const name of bad) {
    assert.throws(() => validateStreamName(name), InvalidStreamNameError, name);
  }
  assert.notEqual("café".normalize("NFD"), "café", "names are taken as given");
});

Deno.test("parseExpectedRevision() parses the header forms and rejects the rest", () => {
  assert.equal(parseExpectedRevision("any"), "any");
  assert.equal(parseExpectedRevision("no_stream"), "no_stream");
  assert.equal(parseExpectedRevision("stream_exists"), "stream_exists");
  assert.equal(parseExpectedRevision("0"), 0);
  assert.equal(parseExpectedRevision("123"), 123);
  for (const bad of ["", "-1", "1.5", "x", "99999999999999999", "0x10"]) {
    assert.throws(() => parseExpectedRevision(bad), TypeError, bad);
  }
  assert.throws(() => validateExpectedRevision(1.5), TypeError);
});

Deno.test("matchesExpectedRevision() implements any, no_stream, stream_exists and exact", () => {
  assert.ok(matchesExpectedRevision("any", "no_stream"));
  assert.ok(matchesExpectedRevision("any", 3));
  assert.ok(matchesExpectedRevision("no_stream", "no_stream"));
  assert.ok(!matchesExpectedRevision("no_stream", 0));
  assert.ok(matchesExpectedRevision("stream_exists", 0));
  assert.ok(!matchesExpectedRevision("stream_exists", "no_stream"));
  assert.ok(matchesExpectedRevision(3, 3));
  assert.ok(!matchesExpectedRevision(3, 4));
  assert.ok(!matchesExpectedRevision(0, "no_stream"));
});

Deno.test("ids and types with unpaired surrogates are refused (their UTF-8 would merge them)", () => {
  const lone = ["order-\ud800", "order-\udc00", "\udc00\ud800", "x\ud83d"];
  for (const bad of lone) {
    assert.throws(() => prepareEvent({ id: bad, type: "T" }), /unpaired surrogates/, bad);
    assert.throws(() => prepareEvent({ type: bad }), /unpaired surrogates/, bad);
    assert.throws(() => encodeAppendEvents("s", [{ id: bad, type: "T" }]), InvalidEventError);
    assert.throws(() => encodeAppendEvents("s", [{ type: bad }]), InvalidEventError);
  }
  // Pairs are fine: an emoji is one code point.
  const cmd = decodeCommand(
    encodeAppendEvents("s", [{ id: "order-\ud83d\ude00", type: "T\u00e9" }]),
  );
  assert.equal(cmd.kind === "append" && cmd.events[0]!.id, "order-\ud83d\ude00");
});
