import assert from "node:assert/strict";
import type { Entry } from "../core/types.ts";
import {
  BATCH_HEADER_BYTES,
  batchPayloadSize,
  checkFrame,
  decodeBatch,
  decodeHardState,
  decodeSegmentHeader,
  encodeBatch,
  encodeHardState,
  encodeSegmentHeader,
  FRAME_HEADER_BYTES,
  FrameStatus,
  hardStateRecordSize,
  readU64,
  SEGMENT_HEADER_BYTES,
  writeU64,
} from "./record.ts";

function entries(first: number, n: number): Entry[] {
  return Array.from({ length: n }, (_, i) => ({
    index: first + i,
    term: 3 + (i >> 2),
    type: i % 3 === 0 ? "confChange" : "normal",
    data: new Uint8Array(i * 5).fill(i),
  }));
}

function batchBuffer(ents: Entry[], vote?: Uint8Array): { buf: Uint8Array; view: DataView } {
  const data = ents.reduce((s, e) => s + e.data.length, 0);
  const buf = new Uint8Array(
    FRAME_HEADER_BYTES + batchPayloadSize(ents.length, data, vote?.length),
  );
  return { buf, view: new DataView(buf.buffer) };
}

Deno.test("writeU64/readU64 round-trip integers up to 2^53", () => {
  const view = new DataView(new ArrayBuffer(8));
  for (const n of [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
    writeU64(view, 0, n);
    assert.equal(readU64(view, 0), n);
  }
});

Deno.test("encodeBatch/decodeBatch round-trip entries and a hard state", () => {
  const ents = entries(2 ** 33, 9);
  const vote = new TextEncoder().encode("nöde-7");
  const { buf, view } = batchBuffer(ents, vote);
  const end = encodeBatch(buf, view, 0, ents, 0, ents.length, {
    shs: { seq: 42, hardState: { term: 5, vote: "nöde-7", commit: 2 ** 33 } },
    vote,
  });
  assert.equal(end, buf.length);
  const length = checkFrame(buf, view, 0, end);
  assert.equal(length, buf.length - FRAME_HEADER_BYTES);
  const b = decodeBatch(buf, view, FRAME_HEADER_BYTES, length);
  assert.ok(b !== undefined);
  assert.equal(b.firstIndex, 2 ** 33);
  assert.equal(b.count, 9);
  assert.deepEqual(b.hardState, {
    seq: 42,
    hardState: { term: 5, vote: "nöde-7", commit: 2 ** 33 },
  });
  let q = b.entriesPos;
  for (const e of ents) {
    assert.equal(buf[q], e.type === "normal" ? 0 : 1);
    assert.equal(readU64(view, q + 1), e.term);
    const size = view.getUint32(q + 9, true);
    assert.deepEqual([...buf.subarray(q + 13, q + 13 + size)], [...e.data]);
    q += 13 + size;
  }
});

Deno.test("encodeBatch writes a sub-range and a hard-state-only batch", () => {
  const ents = entries(10, 6);
  const part = ents.slice(2, 5);
  const { buf, view } = batchBuffer(part);
  encodeBatch(buf, view, 0, ents, 2, 5, undefined);
  const b = decodeBatch(buf, view, FRAME_HEADER_BYTES, checkFrame(buf, view, 0, buf.length));
  assert.equal(b?.firstIndex, 12);
  assert.equal(b?.count, 3);
  assert.equal(b?.hardState, undefined);

  const empty = batchBuffer([], new Uint8Array());
  encodeBatch(empty.buf, empty.view, 0, [], 0, 0, {
    shs: { seq: 1, hardState: { term: 1, vote: "", commit: 0 } },
    vote: new Uint8Array(),
  });
  const e = decodeBatch(
    empty.buf,
    empty.view,
    FRAME_HEADER_BYTES,
    checkFrame(empty.buf, empty.view, 0, empty.buf.length),
  );
  assert.equal(e?.count, 0);
  assert.equal(e?.hardState?.seq, 1);
});

Deno.test("decodeBatch rejects payloads whose entries do not fill them exactly", () => {
  const ents = entries(1, 3);
  const { buf, view } = batchBuffer(ents);
  encodeBatch(buf, view, 0, ents, 0, 3, undefined);
  const length = buf.length - FRAME_HEADER_BYTES;
  assert.equal(decodeBatch(buf, view, FRAME_HEADER_BYTES, length - 1), undefined);
  view.setUint32(FRAME_HEADER_BYTES + 10, 4, true); // claims 4 entries
  assert.equal(decodeBatch(buf, view, FRAME_HEADER_BYTES, length), undefined);
  assert.equal(decodeBatch(buf, view, FRAME_HEADER_BYTES, BATCH_HEADER_BYTES - 1), undefined);
});

Deno.test("checkFrame tells incomplete, bad header and bad payload apart", () => {
  const ents = entries(1, 2);
  const { buf, view } = batchBuffer(ents);
  encodeBatch(buf, view, 0, ents, 0, 2, undefined);
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
  const vote = new TextEncoder().encode("n2");
  const buf = new Uint8Array(hardStateRecordSize(vote.length) + SEGMENT_HEADER_BYTES);
  const view = new DataView(buf.buffer);
  let end = encodeHardState(buf, view, 0, {
    seq: 99,
    hardState: { term: 4, vote: "n2", commit: 12 },
  }, vote);
  end = encodeSegmentHeader(buf, view, end, { firstIndex: 1001, prevTerm: 4 });
  assert.equal(end, buf.length);
  const l1 = checkFrame(buf, view, 0, end);
  assert.deepEqual(decodeHardState(buf, view, FRAME_HEADER_BYTES, l1), {
    seq: 99,
    hardState: { term: 4, vote: "n2", commit: 12 },
  });
  const p2 = FRAME_HEADER_BYTES + l1;
  const l2 = checkFrame(buf, view, p2, end);
  assert.deepEqual(decodeSegmentHeader(buf, view, p2 + FRAME_HEADER_BYTES, l2), {
    firstIndex: 1001,
    prevTerm: 4,
  });
  assert.equal(decodeBatch(buf, view, FRAME_HEADER_BYTES, l1), undefined);
});
