import assert from "node:assert/strict";
import type { Entry } from "../core/types.ts";
import { ReadBuffer } from "./read_buffer.ts";
import {
  BATCH_ENTRY_OVERHEAD_BYTES,
  BATCH_HEADER_BYTES,
  batchPayloadSize,
  encodeBatch,
  encodeSegmentHeader,
  FRAME_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
} from "./record.ts";
import { Segment, segmentFileName } from "./segment.ts";
import { CorruptLogError } from "./storage_errors.ts";

function ent(index: number): Entry {
  const data = new Uint8Array(1 + (index % 7));
  data.fill(index & 0xff);
  return { index, term: 1 + (index >> 6), type: index % 5 === 0 ? "confChange" : "normal", data };
}

/**
 * Writes a segment file of `records` batch records of `per` entries each
 * (from index 1) and returns the entries and, per entry, the positions
 * `Segment.push` takes.
 */
function writeSegment(
  dir: string,
  records: number,
  per: number,
): { entries: Entry[]; pushes: [number, number, number, number, number][] } {
  const entries: Entry[] = [];
  for (let i = 1; i <= records * per; i++) entries.push(ent(i));
  const size = SEGMENT_HEADER_BYTES + records * (FRAME_HEADER_BYTES + BATCH_HEADER_BYTES) +
    entries.reduce((n, e) => n + BATCH_ENTRY_OVERHEAD_BYTES + e.data.length, 0);
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  let pos = encodeSegmentHeader(buf, view, 0, { firstIndex: 1, prevTerm: 0 });
  const pushes: [number, number, number, number, number][] = [];
  for (let r = 0; r < records; r++) {
    const start = pos;
    const batch = entries.slice(r * per, r * per + per);
    const dataBytes = batch.reduce((n, e) => n + e.data.length, 0);
    const end = start + FRAME_HEADER_BYTES + batchPayloadSize(per, dataBytes, undefined);
    let at = start + FRAME_HEADER_BYTES + BATCH_HEADER_BYTES;
    for (const e of batch) {
      pushes.push([start, end, at, e.data.length, e.term]);
      at += BATCH_ENTRY_OVERHEAD_BYTES + e.data.length;
    }
    pos = encodeBatch(buf, view, pos, entries, r * per, r * per + per, undefined);
    assert.equal(pos, end);
  }
  Deno.writeFileSync(`${dir}/${segmentFileName(1, 1)}`, buf);
  return { entries, pushes };
}

Deno.test("Segment index grows, trims and grows again; reads verify every record once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-seg-" });
  try {
    // 134 records before the trim, 268 after one growth, 260 in all: the
    // last ones must still have their verified bits.
    const { entries, pushes } = writeSegment(dir, 260, 3);
    const seg = new Segment(dir, 1, { seq: 1, prevTerm: 0, headerBytes: SEGMENT_HEADER_BYTES });
    for (const p of pushes.slice(0, 400)) seg.push(...p);
    seg.trim();
    for (const p of pushes.slice(400)) seg.push(...p);
    assert.equal(seg.count, 780);
    assert.equal(seg.records, 260);
    // A buffer that holds a few records at a time: ranges take several reads.
    const rb = new ReadBuffer(256);
    for (let i = 1; i <= 780; i++) assert.equal(seg.verified(i), false);
    const all = seg.read(1, 781, rb);
    assert.deepEqual(all, entries);
    for (let i = 1; i <= 780; i++) assert.equal(seg.verified(i), true, `record of entry ${i}`);
    assert.deepEqual(seg.read(450, 452, rb), entries.slice(449, 451));
    assert.equal(seg.term(0), 0);
    assert.equal(seg.term(780), entries[779]!.term);
    seg.shadowFrom(452); // inside the record of 451..453
    assert.equal(seg.count, 451);
    assert.equal(seg.records, 151);
    assert.deepEqual(seg.read(448, 452, rb), entries.slice(447, 451));
    seg.closeReader();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Segment.read refuses a record the index places wrongly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-seg-" });
  try {
    const { pushes } = writeSegment(dir, 4, 2);
    // Index the second record's entries as if they were the first's.
    Deno.renameSync(`${dir}/${segmentFileName(1, 1)}`, `${dir}/${segmentFileName(1, 3)}`);
    const seg = new Segment(dir, 3, { seq: 1, prevTerm: 0, headerBytes: SEGMENT_HEADER_BYTES });
    for (const p of pushes.slice(0, 2)) seg.push(...p);
    assert.throws(() => seg.read(3, 4, new ReadBuffer(1024)), (err: unknown) => {
      assert.ok(err instanceof CorruptLogError);
      assert.equal(err.offset, SEGMENT_HEADER_BYTES);
      assert.match(err.message, /not the batch holding entry 3/);
      return true;
    });
    seg.closeReader();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
