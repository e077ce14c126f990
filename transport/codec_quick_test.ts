import assert from "node:assert/strict";
import fc from "fast-check";
import type { Entry, Message } from "../raft/core/types.ts";
import {
  cachedEntryTextChars,
  decodeBatch,
  decodeMessage,
  decodeMessageBySchema,
  encodeMessage,
  encodeMessageText,
} from "./codec.ts";
import { quickMessage } from "./codec_quick.ts";

const nat = fc.nat({ max: 2 ** 40 });
const id = fc.string({ maxLength: 128 });
const entry = fc.record({
  term: nat,
  index: nat,
  type: fc.constantFrom("normal" as const, "confChange" as const),
  data: fc.uint8Array({ maxLength: 40 }),
});
const base = { from: id, to: id, term: nat };
const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    ...base,
    type: fc.constant("app" as const),
    index: nat,
    logTerm: nat,
    entries: fc.array(entry, { maxLength: 4 }),
    commit: nat,
  }),
  fc.record({
    ...base,
    type: fc.constant("appResp" as const),
    index: nat,
    reject: fc.boolean(),
    rejectHint: nat,
    logTerm: nat,
    commit: nat,
  }, { requiredKeys: ["from", "to", "term", "type", "index", "reject", "rejectHint", "logTerm"] }),
  fc.record({
    ...base,
    type: fc.constant("heartbeat" as const),
    commit: nat,
    context: fc.string(),
  }),
  fc.record({
    ...base,
    type: fc.constant("heartbeatResp" as const),
    context: fc.string(),
    commit: nat,
  }, { requiredKeys: ["from", "to", "term", "type", "context"] }),
  fc.record({ ...base, type: fc.constant("timeoutNow" as const) }),
);

/** Wire JSON of a message, then one field (or entry field) replaced by an odd value. */
const odd = fc.oneof(
  fc.constant(-1),
  fc.constant(1.5),
  fc.constant(2 ** 53),
  fc.constant("7"),
  fc.constant(null),
  fc.constant(true),
  fc.constant([]),
  fc.constant({}),
  fc.constant("x".repeat(129)),
  fc.constant("other"),
);

function wire(m: Message): Record<string, unknown> {
  return JSON.parse(JSON.stringify(encodeMessage(m)));
}

function outcome(f: () => Message): { ok: Message } | { error: string } {
  try {
    return { ok: f() };
  } catch (e) {
    return { error: (e as Error).name };
  }
}

Deno.test("quick message check: valid messages decode as the schema decodes them", () => {
  fc.assert(
    fc.property(message, (m) => {
      const raw = wire(m);
      const quick = quickMessage(raw);
      const bySchema = decodeMessageBySchema(wire(m));
      if (m.type !== "timeoutNow") assert.ok(quick !== undefined, "hot types take the quick path");
      if (quick !== undefined) assert.deepStrictEqual(quick, bySchema);
      assert.deepStrictEqual(decodeMessage(raw), bySchema);
    }),
    { numRuns: 500 },
  );
});

Deno.test("quick message check: never accepts what the schema rejects, nor decodes differently", () => {
  fc.assert(
    fc.property(message, fc.nat(), odd, fc.boolean(), (m, which, value, inEntry) => {
      const raw = wire(m);
      const entries = raw.entries as Record<string, unknown>[] | undefined;
      const target = inEntry && entries !== undefined && entries.length > 0
        ? entries[which % entries.length]!
        : raw;
      const keys = [...Object.keys(target), "extra"];
      target[keys[which % keys.length]!] = value;
      const quick = quickMessage(raw);
      const bySchema = outcome(() => decodeMessageBySchema(JSON.parse(JSON.stringify(raw))));
      if (quick !== undefined) assert.deepStrictEqual({ ok: quick }, bySchema);
      assert.deepStrictEqual(outcome(() => decodeMessage(raw)), bySchema);
    }),
    { numRuns: 3000 },
  );
});

Deno.test("quick message check: a missing field sends the message to the schema, which rejects it", () => {
  const raw = wire({ type: "heartbeat", from: "a", to: "b", term: 1, commit: 0, context: "" });
  delete raw.context;
  assert.equal(quickMessage(raw), undefined);
  assert.throws(() => decodeMessage(raw), /context/);
});

Deno.test("encodeMessageText is the JSON of encodeMessage, for each follower an entry goes to", () => {
  fc.assert(
    fc.property(message, id, (m, other) => {
      assert.deepEqual(JSON.parse(encodeMessageText(m)), wire(m));
      // The same entries again (their text now cached) to another peer.
      const again = { ...m, to: other } as Message;
      assert.deepEqual(JSON.parse(encodeMessageText(again)), wire(again));
      assert.deepEqual(decodeMessage(JSON.parse(encodeMessageText(m))), decodeMessage(wire(m)));
    }),
    { numRuns: 500 },
  );
});

Deno.test("encodeMessageText: another entry at the same index (a new leader's) gets its own text", () => {
  const app = (data: number, term: number): Message => ({
    type: "app",
    from: "a",
    to: "b",
    term,
    index: 4,
    logTerm: 1,
    commit: 0,
    entries: [{ term, index: 5, type: "normal", data: new Uint8Array([data]) }],
  });
  for (const m of [app(1, 2), app(2, 3), app(1, 2)]) {
    assert.deepEqual(JSON.parse(encodeMessageText(m)), wire(m));
  }
});

Deno.test("encodeMessageText: a large entry is encoded once for all followers, within a bound", () => {
  const big = (index: number, fill: number, bytes = 64 * 1024): Entry => ({
    term: 2,
    index,
    type: "normal",
    data: new Uint8Array(bytes).fill(fill),
  });
  const app = (to: string, entries: Entry[]): Message => ({
    type: "app",
    from: "a",
    to,
    term: 2,
    index: entries[0]!.index - 1,
    logTerm: 2,
    commit: 0,
    entries,
  });
  const e = big(7, 1);
  const first = encodeMessageText(app("b", [e]));
  // Entries never change once proposed, so the encoder may reuse their text: changing the
  // bytes behind its back shows whether the second follower's text was encoded again.
  e.data.fill(2);
  assert.equal(encodeMessageText(app("c", [e])), first.replace('"to":"b"', '"to":"c"'));
  // A thousand distinct 64 KiB entries (87 M characters of text), then entries too large to
  // keep, leave at most the bound cached.
  for (let i = 0; i < 1000; i++) encodeMessageText(app("b", [big(1000 + i, i & 0xff)]));
  const held = cachedEntryTextChars();
  assert.ok(held >= 8 << 20 && held <= 22 << 20, `${held} characters cached`);
  for (let i = 0; i < 200; i++) encodeMessageText(app("b", [big(3000 + i, i, 256 * 1024)]));
  assert.equal(cachedEntryTextChars(), held);
});

Deno.test("an entry or snapshot whose data is not base64 is refused, naming the field", () => {
  const app = wire({
    type: "app",
    from: "a",
    to: "b",
    term: 2,
    index: 0,
    logTerm: 0,
    commit: 0,
    entries: [
      { term: 2, index: 1, type: "normal", data: new Uint8Array([1]) },
      { term: 2, index: 2, type: "normal", data: new Uint8Array([2]) },
    ],
  });
  (app.entries as { data: string }[])[1]!.data = "AQ!D";
  assert.equal(quickMessage(app), undefined);
  assert.throws(() => decodeMessage(app), /entries\.1\.data: not base64/);
  const snap = wire({
    type: "snap",
    from: "a",
    to: "b",
    term: 2,
    snapshot: {
      metadata: {
        index: 5,
        term: 2,
        confState: {
          voters: ["a"],
          learners: [],
          votersOutgoing: [],
          learnersNext: [],
          autoLeave: false,
        },
      },
      data: new Uint8Array(5000),
    },
  });
  (snap.snapshot as { data: string }).data += "@";
  const batch = { clusterId: "c", from: "a", boot: "x", seq: 1, messages: [app, snap] };
  assert.throws(() => decodeBatch(batch), /messages\.0\.entries\.1\.data: not base64/);
  batch.messages = [snap];
  assert.throws(() => decodeBatch(batch), /messages\.0\.snapshot\.data: not base64/);
});

Deno.test("a forwarded proposal's context and a refusal of it survive the wire", () => {
  const data = new Uint8Array([1, 2, 3]);
  const prop: Message = {
    type: "prop",
    from: "n2",
    to: "n1",
    term: 0,
    entries: [{ term: 0, index: 0, type: "normal", data }],
    context: "n2:b:7",
  };
  const refused: Message = {
    type: "propRefused",
    from: "n1",
    to: "n2",
    term: 0,
    context: "n2:b:7",
    reason: "leadership is being transferred to n3",
  };
  const batch = decodeBatch({
    clusterId: "c",
    from: "n2",
    boot: "b",
    seq: 1,
    messages: [wire(prop), wire(refused)],
  });
  assert.deepStrictEqual(batch.messages, [prop, refused]);
  assert.throws(() => decodeMessage({ ...wire(refused), context: 7 }), /context/);
});
