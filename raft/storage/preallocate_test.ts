import assert from "node:assert/strict";
import { join } from "node:path";
import type { Entry } from "../core/types.ts";
import { FileStorage } from "./file_storage.ts";
import { recoverDataDir } from "./recovery.ts";

/** Entries lo..hi-1 of term 1, each with 40 bytes derived from its index. */
function entries(lo: number, hi: number): Entry[] {
  return Array.from({ length: hi - lo }, (_, k) => ({
    index: lo + k,
    term: 1,
    type: "normal" as const,
    data: new Uint8Array(40).map((_, i) => (lo + k) * 7 + i),
  }));
}

function assertLog(s: FileStorage, last: number): void {
  assert.equal(s.lastIndex(), last);
  assert.deepEqual(s.entries(1, last + 1), entries(1, last + 1));
}

async function inDirs(fn: (a: string, b: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "raftlog-prealloc-" });
  try {
    await fn(join(root, "a"), join(root, "b"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const size = (path: string) => Deno.statSync(path).size;

Deno.test("FileStorage writes zeros ahead of the log, saves write over them, and a reopen continues there", async () => {
  await inDirs(async (dir) => {
    const lines: unknown[] = [];
    const logger = (l: unknown) => lines.push(l);
    const s = await FileStorage.open(dir, { preallocateBytes: 64 << 10, logger });
    await s.save({ entries: entries(1, 11) });
    const [seg] = (await recoverDataDir(dir)).segments;
    const records = seg!.bytes;
    assert.equal(size(seg!.path), records + (64 << 10), "64 KiB of zeros after the records");
    await s.save({ entries: entries(11, 21) });
    assert.equal(size(seg!.path), records + (64 << 10), "the second save went over the zeros");
    await s.close();

    const r = await FileStorage.open(dir, { preallocateBytes: 64 << 10, logger });
    assertLog(r, 20);
    await r.save({ entries: entries(21, 31) });
    await r.close();
    const again = await FileStorage.open(dir, { logger });
    assertLog(again, 30);
    await again.close();
    assert.equal(lines.length, 0, "no torn tail reported: zeros are where the log ends");
  });
});

Deno.test("FileStorage with zeros ahead: a save torn over the zeros is dropped on open", async () => {
  await inDirs(async (dir, plain) => {
    // The same saves without zeros ahead give the bytes the torn save would have written.
    const p = await FileStorage.open(plain, { preallocateBytes: 0 });
    await p.save({ entries: entries(1, 4) });
    const plainPath = (await recoverDataDir(plain)).segments[0]!.path;
    const before = size(plainPath);
    await p.save({ entries: entries(4, 8) });
    await p.close();
    const record = Deno.readFileSync(plainPath).subarray(before);

    const s = await FileStorage.open(dir, { preallocateBytes: 4096 });
    await s.save({ entries: entries(1, 4) });
    await s.close();
    const path = (await recoverDataDir(dir)).segments[0]!.path;
    assert.equal(size(path), before + 4096);
    // A crash in the middle of the next save: half its record reached the disk.
    const f = await Deno.open(path, { write: true });
    f.seekSync(before, Deno.SeekMode.Start);
    f.writeSync(record.subarray(0, record.length >> 1));
    f.close();
    const lines: Record<string, unknown>[] = [];
    const r = await FileStorage.open(dir, { logger: (l) => lines.push(l) });
    assertLog(r, 3);
    assert.equal(lines[0]?.event, "torn_tail_truncated");
    assert.equal(lines[0]?.offset, before);
    await r.save({ entries: entries(4, 8) });
    await r.close();
    const again = await FileStorage.open(dir);
    assertLog(again, 7);
    await again.close();
  });
});

Deno.test("FileStorage with zeros ahead: segments end at their last record once the next one starts, and zeros never pass segmentBytes", async () => {
  await inDirs(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 2048, preallocateBytes: 1 << 20 });
    for (let i = 1; i < 200; i += 5) await s.save({ entries: entries(i, i + 5) });
    // A suffix replacement inside the last segment starts a segment too.
    const replaced = entries(190, 192).map((e) => ({ ...e, term: 2 }));
    await s.save({ entries: replaced });
    await s.close();
    const segs = (await recoverDataDir(dir)).segments;
    assert.ok(segs.length > 5);
    for (const seg of segs.slice(0, -1)) {
      assert.equal(size(seg.path), seg.bytes, `${seg.path} ends at its last record`);
    }
    const last = segs.at(-1)!;
    assert.ok(size(last.path) > last.bytes, "zeros after the last segment's records");
    assert.equal(size(last.path), 2048, "no zeros beyond segmentBytes");
    const r = await FileStorage.open(dir);
    assert.equal(r.lastIndex(), 191);
    assert.deepEqual(r.entries(1, 192), [...entries(1, 190), ...replaced]);
    await r.close();
  });
});

Deno.test("FileStorage.open refuses a bad preallocateBytes", async () => {
  await inDirs(async (dir) => {
    await assert.rejects(FileStorage.open(dir, { preallocateBytes: -1 }), RangeError);
    await assert.rejects(FileStorage.open(dir, { preallocateBytes: 1.5 }), TypeError);
  });
});
