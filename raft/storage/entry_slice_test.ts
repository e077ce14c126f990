import assert from "node:assert/strict";
import { join } from "node:path";
import { CompactedError, UnavailableError } from "../core/errors.ts";
import type { Storage } from "../core/storage.ts";
import type { ConfState, Entry } from "../core/types.ts";
import { type EntrySliceReader, hasEntrySlice, readEntrySlice } from "./entry_slice.ts";
import { FileStorage } from "./file_storage.ts";
import { MemoryStorage } from "./memory_storage.ts";
import { READ_BUFFER_BYTES } from "./read_buffer.ts";
import { SEGMENT_HEADER_BYTES } from "./record.ts";
import { CorruptLogError, StorageClosedError } from "./storage_errors.ts";
import type { WritableStorage } from "./writable_storage.ts";

const FRAME = 12;
const BATCH = 14;
const ENTRY = 13;
const CONF: ConfState = {
  voters: ["n1"],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

function dataFor(index: number, size: number): Uint8Array {
  const d = new Uint8Array(size);
  for (let i = 0; i < size; i++) d[i] = (index * 31 + i * 7 + (i >> 8)) & 0xff;
  return d;
}

function ent(index: number, size: number): Entry {
  return { index, term: 1, type: "normal", data: dataFor(index, size) };
}

function range(lo: number, hi: number, size: number): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i < hi; i++) out.push(ent(i, size));
  return out;
}

function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(`${what}: byte ${i} is ${actual[i]}, not ${expected[i]}`);
    }
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-slice-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function flipByte(path: string, offset: number): void {
  const f = Deno.openSync(path, { read: true, write: true });
  try {
    const b = new Uint8Array(1);
    f.seekSync(offset, Deno.SeekMode.Start);
    f.readSync(b);
    b[0]! ^= 0x20;
    f.seekSync(offset, Deno.SeekMode.Start);
    f.writeSync(b);
  } finally {
    f.close();
  }
}

function walFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".wal")).sort();
}

/** Every kind of range of every entry in [lo, hi) of `s` matches `expected` data. */
function checkSlices(s: EntrySliceReader, lo: number, hi: number, size: (i: number) => number) {
  for (let i = lo; i < hi; i++) {
    const d = dataFor(i, size(i));
    const n = d.length;
    const cuts: [number, number | undefined][] = [
      [0, undefined],
      [0, 0],
      [n, n],
      [n, undefined],
      [0, Math.min(2, n)],
      [n >> 1, undefined],
      [n >> 2, (3 * n) >> 2],
      [Math.max(0, n - 7), n],
    ];
    for (const [a, b] of cuts) {
      assertBytes(s.entrySlice(i, a, b), d.slice(a, b), `entry ${i} [${a}, ${b})`);
    }
  }
}

Deno.test("FileStorage.entrySlice returns byte ranges of entries read from disk and from the cache", async () => {
  await withDir(async (dir) => {
    const size = (i: number) => 100 + (i % 7) * 50;
    for (const cacheBytes of [0, 1 << 20]) {
      const sub = join(dir, String(cacheBytes));
      const s = await FileStorage.open(sub, { cacheBytes, segmentBytes: 4096 });
      try {
        for (let i = 1; i <= 60; i += 6) {
          const batch: Entry[] = [];
          for (let j = i; j < i + 6; j++) batch.push(ent(j, size(j)));
          await s.save({ entries: batch });
        }
        assert.ok(walFiles(sub).length > 1, "entries span several segments");
        checkSlices(s, 1, 61, size);
      } finally {
        await s.close();
      }
      // After a restart every entry comes from the files recovery indexed.
      const again = await FileStorage.open(sub, { cacheBytes });
      try {
        checkSlices(again, 1, 61, size);
      } finally {
        await again.close();
      }
    }
  });
});

Deno.test("FileStorage.entrySlice returns copies that pin no larger buffer", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { cacheBytes: 0 });
    try {
      await s.save({ entries: range(1, 11, 30_000) });
      const part = s.entrySlice(5, 1000, 1200);
      assert.equal(part.buffer.byteLength, 200);
      part.fill(0);
      assertBytes(
        s.entrySlice(5, 1000, 1200),
        dataFor(5, 30_000).slice(1000, 1200),
        "after a change",
      );
      assertBytes(s.entries(5, 6)[0]!.data, dataFor(5, 30_000), "whole entry");
    } finally {
      await s.close();
    }
  });
});

Deno.test("FileStorage.entrySlice reads far into entries larger than its buffer", async () => {
  await withDir(async (dir) => {
    const big = READ_BUFFER_BYTES + 70_000;
    const s = await FileStorage.open(dir, { cacheBytes: 0 });
    try {
      await s.save({ entries: [ent(1, 100), ent(2, big), ent(3, 100)] });
      await s.save({ entries: [ent(4, 200_000)] });
      const d = dataFor(2, big);
      for (
        const [a, b] of [[big - 300, big - 100], [10, 20], [5000, big - 5000], [0, big], [
          150_000,
          150_001,
        ]] as const
      ) {
        assertBytes(s.entrySlice(2, a, b), d.slice(a, b), `[${a}, ${b})`);
      }
      assertBytes(s.entrySlice(4, 190_000), dataFor(4, 200_000).slice(190_000), "tail of entry 4");
      assertBytes(s.entrySlice(3, 0), dataFor(3, 100), "entry 3");
    } finally {
      await s.close();
    }
  });
});

Deno.test("FileStorage.entrySlice: CompactedError below the first index, UnavailableError past the last, RangeError outside the entry", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { bootstrap: CONF, cacheBytes: 0, segmentBytes: 2048 });
    try {
      for (let i = 1; i <= 40; i += 4) {
        await s.save({
          entries: range(i, i + 4, 100),
          hardState: { term: 1, vote: "n1", commit: i + 3 },
        });
      }
      await s.createSnapshot(22, CONF, new Uint8Array([1]));
      await s.compact(22);
      assert.equal(s.firstIndex(), 23);
      // Entries 21 and 22 are still in a segment file, but compacted.
      for (const i of [0, 1, 21, 22]) {
        assert.throws(() => s.entrySlice(i, 0, 1), (err: unknown) => {
          assert.ok(err instanceof CompactedError, String(err));
          return true;
        });
      }
      assertBytes(s.entrySlice(23, 10, 20), dataFor(23, 100).slice(10, 20), "entry 23");
      assert.throws(() => s.entrySlice(41, 0, 1), UnavailableError);
      assert.throws(() => s.entrySlice(30, 0, 101), RangeError);
      assert.throws(() => s.entrySlice(30, 50, 49), RangeError);
      assert.throws(() => s.entrySlice(30, -1, 5), RangeError);
      assert.throws(() => s.entrySlice(30, 101), RangeError);
      assert.throws(() => s.entrySlice(30, 1.5, 5), TypeError);
      assert.throws(() => s.entrySlice(1.5, 0, 1), TypeError);
    } finally {
      await s.close();
    }
    assert.throws(() => s.entrySlice(30, 0, 1), StorageClosedError);
  });
});

// Saves of 4 entries of 20 bytes: record k starts at SEGMENT_HEADER_BYTES + k * RECORD.
const RECORD = FRAME + BATCH + 4 * (ENTRY + 20);
const recordStart = (k: number) => SEGMENT_HEADER_BYTES + k * RECORD;

Deno.test("FileStorage.entrySlice verifies a record on its first read: damage is CorruptLogError with file and offset", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { cacheBytes: 0 });
    try {
      for (let k = 0; k < 4; k++) await s.save({ entries: range(4 * k + 1, 4 * k + 5, 20) });
      const path = join(dir, walFiles(dir)[0]!);
      // A data byte of entry 10 (record 2, second entry), away from the slice asked for.
      flipByte(path, recordStart(2) + FRAME + BATCH + ENTRY + 20 + ENTRY + 15);
      assertBytes(s.entrySlice(5, 0, 4), dataFor(5, 20).slice(0, 4), "entry 5");
      for (const i of [9, 10, 11, 12]) {
        assert.throws(() => s.entrySlice(i, 0, 2), (err: unknown) => {
          assert.ok(err instanceof CorruptLogError, String(err));
          assert.equal(err.file, path);
          assert.equal(err.offset, recordStart(2));
          assert.match(err.message, /checksum mismatch/);
          return true;
        });
      }
      // Once a record is verified, a changed entry header is still caught.
      assertBytes(s.entrySlice(14, 0, 20), dataFor(14, 20), "entry 14");
      const at = recordStart(3) + FRAME + BATCH + ENTRY + 20;
      flipByte(path, at + 1);
      assertBytes(s.entrySlice(1, 0, 20), dataFor(1, 20), "entry 1"); // moves the read buffer off record 3
      assert.throws(() => s.entrySlice(14, 3, 9), (err: unknown) => {
        assert.ok(err instanceof CorruptLogError);
        assert.equal(err.offset, at);
        assert.match(err.message, /entry 14 is not where the index says/);
        return true;
      });
    } finally {
      await s.close();
    }
  });
});

Deno.test("MemoryStorage.entrySlice matches FileStorage.entrySlice and throws the same errors", async () => {
  await withDir(async (dir) => {
    const f = await FileStorage.open(dir, { bootstrap: CONF, cacheBytes: 0 });
    const m = MemoryStorage.withVoters(["n1"]);
    try {
      const size = (i: number) => (i * 37) % 300;
      for (const s of [f, m] as WritableStorage[]) {
        const entries: Entry[] = [];
        for (let i = 1; i <= 30; i++) entries.push(ent(i, size(i)));
        await s.save({ entries, hardState: { term: 1, vote: "n1", commit: 30 } });
        await s.createSnapshot(5, CONF, new Uint8Array());
        await s.compact(5);
      }
      checkSlices(m, 6, 31, size);
      checkSlices(f, 6, 31, size);
      for (const s of [f, m]) {
        assert.throws(() => s.entrySlice(5, 0, 0), CompactedError);
        assert.throws(() => s.entrySlice(31, 0, 0), UnavailableError);
        assert.throws(() => s.entrySlice(7, 0, size(7) + 1), RangeError);
      }
    } finally {
      await f.close();
    }
  });
});

Deno.test("readEntrySlice uses entrySlice when there, else copies the range out of the whole entry", () => {
  const m = MemoryStorage.withVoters(["n1"]);
  m.append(range(1, 4, 50));
  let whole = 0;
  const plain: Storage = {
    initialState: () => m.initialState(),
    entries: (lo, hi, maxBytes) => {
      whole++;
      return m.entries(lo, hi, maxBytes);
    },
    term: (i) => m.term(i),
    firstIndex: () => m.firstIndex(),
    lastIndex: () => m.lastIndex(),
    snapshot: () => m.snapshot(),
  };
  assert.ok(hasEntrySlice(m) && !hasEntrySlice(plain));
  for (const s of [m, plain]) {
    const got = readEntrySlice(s, 2, 10, 20);
    assertBytes(got, dataFor(2, 50).slice(10, 20), "slice");
    assert.equal(got.buffer.byteLength, 10);
    assertBytes(readEntrySlice(s, 3, 45), dataFor(3, 50).slice(45), "to the end");
    assert.throws(() => readEntrySlice(s, 3, 40, 51), RangeError);
    assert.throws(() => readEntrySlice(s, 4, 0, 1), UnavailableError);
  }
  assert.equal(whole, 4);
});
