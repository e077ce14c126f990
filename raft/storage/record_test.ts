import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { crc32Wasm, frameBuffer, sealFrames } from "./frame_sealer.ts";
import {
  checkFrame,
  decodeEntry,
  decodeHardState,
  decodeSegmentHeader,
  encodeEntry,
  ENTRY_OVERHEAD_BYTES,
  FRAME_HEADER_BYTES,
  FrameStatus,
  hardStateRecordSize,
  putEntry,
  putHardState,
  putSegmentHeader,
  readU64,
  sealAll,
  SEGMENT_HEADER_BYTES,
  writeU64,
} from "./record.ts";

Deno.test("writeU64/readU64 round-trip integers up to 2^53", () => {
  const view = new DataView(new ArrayBuffer(8));
  for (const n of [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
    writeU64(view, 0, n);
    assert.equal(readU64(view, 0), n);
  }
});

Deno.test("encodeEntry/decodeEntry round-trip both entry types", () => {
  for (const type of ["normal", "confChange"] as const) {
    const data = new Uint8Array([1, 2, 3, 250]);
    const buf = new Uint8Array(ENTRY_OVERHEAD_BYTES + data.length);
    const view = new DataView(buf.buffer);
    const end = encodeEntry(buf, view, 0, { index: 2 ** 33, term: 7, type, data });
    assert.equal(end, buf.length);
    const length = checkFrame(buf, view, 0, end);
    assert.equal(length, 18 + data.length);
    const e = decodeEntry(buf, view, FRAME_HEADER_BYTES, length);
    assert.deepEqual({ ...e, data: [...e!.data] }, {
      index: 2 ** 33,
      term: 7,
      type,
      data: [...data],
    });
  }
});

Deno.test("checkFrame tells incomplete, bad header and bad payload apart", () => {
  const data = new Uint8Array(20).fill(9);
  const buf = new Uint8Array(ENTRY_OVERHEAD_BYTES + data.length);
  const view = new DataView(buf.buffer);
  encodeEntry(buf, view, 0, { index: 1, term: 1, type: "normal", data });
  assert.equal(checkFrame(buf, view, 0, 11), FrameStatus.headerIncomplete);
  assert.equal(checkFrame(buf, view, 0, buf.length - 1), FrameStatus.payloadIncomplete);
  for (let i = 0; i < FRAME_HEADER_BYTES; i++) {
    const b = buf.slice();
    b[i]! ^= 1;
    assert.equal(
      checkFrame(b, new DataView(b.buffer), 0, b.length),
      FrameStatus.badHeader,
      `byte ${i}`,
    );
  }
  for (let i = FRAME_HEADER_BYTES; i < buf.length; i++) {
    const b = buf.slice();
    b[i]! ^= 1;
    assert.equal(
      checkFrame(b, new DataView(b.buffer), 0, b.length),
      FrameStatus.badPayload,
      `byte ${i}`,
    );
  }
  const zeros = new Uint8Array(64);
  assert.equal(checkFrame(zeros, new DataView(zeros.buffer), 0, 64), FrameStatus.badHeader);
});

Deno.test("hard state and segment header records round-trip", () => {
  const vote = new TextEncoder().encode("nöde-7");
  const buf = new Uint8Array(hardStateRecordSize(vote.length) + SEGMENT_HEADER_BYTES);
  const view = new DataView(buf.buffer);
  let end = putHardState(buf, view, 0, {
    seq: 99,
    hardState: { term: 4, vote: "nöde-7", commit: 12 },
  }, vote);
  end = putSegmentHeader(buf, view, end, { firstIndex: 1001, prevTerm: 4 });
  assert.equal(end, buf.length);
  sealAll(buf, view, end);
  const l1 = checkFrame(buf, view, 0, end);
  assert.deepEqual(decodeHardState(buf, view, FRAME_HEADER_BYTES, l1), {
    seq: 99,
    hardState: { term: 4, vote: "nöde-7", commit: 12 },
  });
  const p2 = FRAME_HEADER_BYTES + l1;
  const l2 = checkFrame(buf, view, p2, end);
  assert.deepEqual(decodeSegmentHeader(buf, view, p2 + FRAME_HEADER_BYTES, l2), {
    firstIndex: 1001,
    prevTerm: 4,
  });
  assert.equal(decodeEntry(buf, view, FRAME_HEADER_BYTES, l1), undefined);
});

Deno.test("crc32Wasm equals zlib crc32 on every length 0..600 and random contents", () => {
  let seed = 12345;
  for (let n = 0; n <= 600; n++) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      b[i] = seed >>> 24;
    }
    assert.equal(crc32Wasm(b), crc32(b), `length ${n}`);
  }
});

Deno.test("sealFrames produces the same bytes as sealAll, paired or not", () => {
  for (const count of [1, 2, 3, 4, 5, 300, 301]) {
    const entries = Array.from({ length: count }, (_, i) => ({
      index: i + 1,
      term: 1 + (i >> 5),
      type: "normal" as const,
      data: new Uint8Array((i * 7) % 61).fill(i & 0xff),
    }));
    const size = entries.reduce((s, e) => s + ENTRY_OVERHEAD_BYTES + e.data.length, 0);
    const js = new Uint8Array(size);
    const jsView = new DataView(js.buffer);
    let p = 0;
    for (const e of entries) p = putEntry(js, jsView, p, e);
    sealAll(js, jsView, size);
    const { buf, view } = frameBuffer(size);
    let q = 0;
    for (const e of entries) q = putEntry(buf, view, q, e);
    sealFrames(buf, size);
    assert.deepEqual(buf.subarray(0, size), js, `${count} frames`);
    for (let i = 0, at = 0; i < count; i++) {
      const length = checkFrame(buf, view, at, size);
      assert.equal(length, 18 + entries[i]!.data.length);
      at += FRAME_HEADER_BYTES + length;
    }
    assert.throws(() => sealFrames(js, size), TypeError);
    assert.throws(() => sealFrames(buf, buf.length + 1), RangeError);
  }
});
