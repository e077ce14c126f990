import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeEnvelope, encodeEnvelope, envelopeHeaderBytes } from "./envelope.ts";
import { pinsLittle } from "./storage/entry_cache.ts";

Deno.test("envelope: any id, timestamp and payload round-trip", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "binary", maxLength: 60 }),
      fc.double({ noNaN: true }),
      fc.uint8Array({ maxLength: 300 }),
      (id, timestamp, payload) => {
        const bytes = encodeEnvelope({ id, timestamp, payload });
        assert.ok(pinsLittle(bytes), "caches may keep it without copying");
        const e = decodeEnvelope(bytes);
        assert.equal(e.id, id.isWellFormed() ? id : id.toWellFormed());
        assert.ok(Object.is(e.timestamp, timestamp));
        assert.deepEqual([...e.payload], [...payload]);
        assert.equal(envelopeHeaderBytes(bytes.subarray(0, 2)), bytes.length - payload.length);
      },
    ),
  );
});

Deno.test("envelope: ids over 255 bytes of UTF-8 are refused", () => {
  assert.ok(encodeEnvelope({ id: "a".repeat(255), timestamp: 1, payload: new Uint8Array() }));
  assert.throws(
    () => encodeEnvelope({ id: "a".repeat(256), timestamp: 1, payload: new Uint8Array() }),
    RangeError,
  );
  // 86 characters of three bytes each: 258 bytes.
  assert.throws(
    () => encodeEnvelope({ id: "€".repeat(86), timestamp: 1, payload: new Uint8Array() }),
    RangeError,
  );
});

Deno.test("envelope: the timestamp is stored little-endian", () => {
  const bytes = encodeEnvelope({ id: "n1:1", timestamp: 1.5, payload: new Uint8Array([7]) });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(view.getFloat64(2 + 4, true), 1.5);
  assert.equal(bytes[bytes.length - 1], 7);
});

Deno.test("envelope: entries sharing a buffer never overlap, large ones get their own", () => {
  const made = Array.from(
    { length: 200 },
    (_, i) =>
      encodeEnvelope({ id: `n1:${i}`, timestamp: i, payload: new Uint8Array(i * 3).fill(i) }),
  );
  made.forEach((bytes, i) => {
    const e = decodeEnvelope(bytes);
    assert.equal(e.id, `n1:${i}`);
    assert.equal(e.timestamp, i);
    assert.ok(e.payload.every((b) => b === (i & 0xff)), `payload ${i} intact`);
  });
  const shared = made.filter((b) => b.buffer === made[0]!.buffer);
  assert.ok(shared.length > 1, "small entries share a buffer");
  const big = encodeEnvelope({ id: "n1:x", timestamp: 1, payload: new Uint8Array(4096) });
  assert.equal(big.byteLength, big.buffer.byteLength);
});
