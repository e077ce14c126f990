import assert from "node:assert/strict";
import { join } from "node:path";
import type { Entry } from "../core/types.ts";
import { FileStorage } from "./file_storage.ts";
import { READ_BUFFER_BYTES } from "./read_buffer.ts";
import { SEGMENT_HEADER_BYTES } from "./record.ts";
import { CorruptLogError } from "./storage_errors.ts";

const FRAME = 12;
const BATCH = 14;
const ENTRY = 13;

function dataFor(index: number, size: number): Uint8Array {
  const d = new Uint8Array(size);
  for (let i = 0; i < size; i++) d[i] = (index * 31 + i * 7) & 0xff;
  return d;
}

function ent(index: number, size: number): Entry {
  return { index, term: 1 + (index >> 4), type: "normal", data: dataFor(index, size) };
}

function range(lo: number, hi: number, size: number): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i < hi; i++) out.push(ent(i, size));
  return out;
}

function assertEntries(actual: Entry[], expected: Entry[]): void {
  assert.equal(actual.length, expected.length, "entry count");
  for (let i = 0; i < expected.length; i++) {
    assert.equal(actual[i]!.index, expected[i]!.index);
    assert.equal(actual[i]!.term, expected[i]!.term);
    assert.equal(actual[i]!.type, expected[i]!.type);
    assert.ok(
      actual[i]!.data.length === expected[i]!.data.length &&
        actual[i]!.data.every((b, k) => b === expected[i]!.data[k]),
      `data of entry ${expected[i]!.index}`,
    );
  }
}

async function withStorage(
  fn: (s: FileStorage, path: string, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-read-" });
  try {
    const s = await FileStorage.open(dir, { cacheBytes: 0 });
    try {
      const name = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".wal"))!.name;
      await fn(s, join(dir, name), dir);
    } finally {
      await s.close();
    }
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

// Saves of 4 entries of 20 bytes, no hard state: record k (from 0) starts at
// SEGMENT_HEADER_BYTES + k * RECORD and holds entries 4k+1 .. 4k+4.
const RECORD = FRAME + BATCH + 4 * (ENTRY + 20);
const recordStart = (k: number) => SEGMENT_HEADER_BYTES + k * RECORD;

async function saveRecords(s: FileStorage, records: number): Promise<void> {
  for (let k = 0; k < records; k++) await s.save({ entries: range(4 * k + 1, 4 * k + 5, 20) });
}

Deno.test("FileStorage.entries reports damage in a record it never read as CorruptLogError with file and offset", async () => {
  await withStorage(async (s, path) => {
    await saveRecords(s, 5);
    // A data byte of entry 10 (record 2), then a header byte of record 3.
    flipByte(path, recordStart(2) + FRAME + BATCH + ENTRY + ENTRY + 20 + 3);
    flipByte(path, recordStart(3) + 2);
    assertEntries(s.entries(1, 9), range(1, 9, 20));
    assertEntries(s.entries(20, 21), range(20, 21, 20));
    for (const [lo, hi] of [[10, 11], [9, 10], [7, 11], [1, 21]] as const) {
      assert.throws(() => s.entries(lo, hi), (err: unknown) => {
        assert.ok(err instanceof CorruptLogError, String(err));
        assert.equal(err.file, path);
        assert.equal(err.offset, recordStart(2));
        assert.match(err.message, /checksum mismatch/);
        return true;
      });
    }
    assert.throws(() => s.entries(13, 14), (err: unknown) => {
      assert.ok(err instanceof CorruptLogError);
      assert.equal(err.offset, recordStart(3));
      assert.match(err.message, /header checksum mismatch/);
      return true;
    });
  });
});

Deno.test("FileStorage.entries checks entry headers against the index after a record was verified", async () => {
  await withStorage(async (s, path) => {
    await saveRecords(s, 3);
    assertEntries(s.entries(5, 9), range(5, 9, 20));
    // The term of entry 6 (record 1, second entry), after its record was verified.
    const at = recordStart(1) + FRAME + BATCH + ENTRY + 20;
    flipByte(path, at + 1);
    // (Reading record 0 moves the read buffer off record 1, so the next
    // read of record 1 goes to the file.)
    assertEntries(s.entries(1, 2), range(1, 2, 20));
    assertEntries(s.entries(5, 6), range(5, 6, 20));
    assert.throws(() => s.entries(6, 7), (err: unknown) => {
      assert.ok(err instanceof CorruptLogError);
      assert.equal(err.file, path);
      assert.equal(err.offset, at);
      assert.match(err.message, /entry 6 is not where the index says/);
      return true;
    });
  });
});

Deno.test("FileStorage.entries returns copies that pin no large buffer", async () => {
  await withStorage(async (s) => {
    for (let i = 1; i <= 4000; i += 500) await s.save({ entries: range(i, i + 500, 100) });
    await s.save({ entries: [ent(4001, 50_000)] });
    const all = s.entries(1, 4002);
    assertEntries(all, [...range(1, 4001, 100), ent(4001, 50_000)]);
    for (const e of all) assert.ok(e.data.buffer.byteLength <= Math.max(16 << 10, e.data.length));
    assert.equal(all[4000]!.data.buffer.byteLength, 50_000);
    const one = s.entries(777, 778)[0]!;
    assert.equal(one.data.buffer.byteLength, 100);
    // Whatever is done to what a read returned, the next read is unaffected.
    one.data.fill(0);
    all[10]!.data.fill(0);
    assertEntries(s.entries(777, 778), range(777, 778, 100));
    assertEntries(s.entries(11, 12), range(11, 12, 100));
  });
});

Deno.test("FileStorage.entries reads ranges longer than its buffer, with and without maxBytes", async () => {
  await withStorage(async (s) => {
    const size = 3000;
    const n = Math.ceil((3 * READ_BUFFER_BYTES) / size);
    for (let i = 1; i <= n; i += 50) await s.save({ entries: range(i, i + 50, size) });
    const last = s.lastIndex();
    assertEntries(s.entries(1, last + 1), range(1, last + 1, size));
    const pages: Entry[] = [];
    for (let i = 1; i <= last;) {
      const page = s.entries(i, last + 1, 256 << 10);
      assert.ok(page.length > 0 && page.length <= Math.floor((256 << 10) / (size + 16)));
      pages.push(...page);
      i += page.length;
    }
    assertEntries(pages, range(1, last + 1, size));
  });
});

Deno.test("FileStorage.entries verifies records larger than its buffer piece by piece", async () => {
  await withStorage(async (s, path) => {
    const big = READ_BUFFER_BYTES + 12345;
    await s.save({ entries: range(1, 3, 10) });
    await s.save({ entries: [ent(3, big), ent(4, 10)] });
    await s.save({ entries: range(5, 7, 10) });
    const start = recordStartAfter(2, 10);
    // A byte near the end of the big entry, in the last piece checksummed.
    // (Entry 4 did not fit in the same record: it has one of its own.)
    flipByte(path, start + FRAME + BATCH + ENTRY + big - 5);
    assertEntries(s.entries(1, 3), range(1, 3, 10));
    assertEntries(s.entries(4, 7), range(4, 7, 10));
    for (const [lo, hi] of [[3, 4], [2, 5]] as const) {
      assert.throws(() => s.entries(lo, hi), (err: unknown) => {
        assert.ok(err instanceof CorruptLogError);
        assert.equal(err.offset, start);
        return true;
      });
    }
    flipByte(path, start + FRAME + BATCH + ENTRY + big - 5);
    assertEntries(s.entries(3, 5), [ent(3, big), ent(4, 10)]);
    assertEntries(s.entries(1, 7), [...range(1, 3, 10), ent(3, big), ...range(4, 7, 10)]);
    assert.equal(s.entries(3, 4)[0]!.data.buffer.byteLength, big);
  });
});

/** Where the record after one of `count` entries of `size` bytes starts. */
function recordStartAfter(count: number, size: number): number {
  return SEGMENT_HEADER_BYTES + FRAME + BATCH + count * (ENTRY + size);
}

Deno.test("FileStorage.entries reads entries that recovery indexed, across shadowed segments", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-read-" });
  try {
    const s = await FileStorage.open(dir, { cacheBytes: 0, segmentBytes: 400 });
    for (let i = 1; i <= 40; i += 4) await s.save({ entries: range(i, i + 4, 20) });
    await s.save({ hardState: { term: 9, vote: "n1", commit: 20 }, entries: [] });
    // Replace from 31 on (inside a record): the old record keeps entries up to 30.
    const replaced = range(31, 36, 20).map((e) => ({ ...e, term: 9 }));
    await s.save({ entries: replaced });
    await s.close();
    const r = await FileStorage.open(dir, { cacheBytes: 0 });
    try {
      assertEntries(r.entries(1, 36), [...range(1, 31, 20), ...replaced]);
      assertEntries(r.entries(29, 33), [...range(29, 31, 20), ...replaced.slice(0, 2)]);
    } finally {
      await r.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileStorage.snapshot reads a large snapshot back from its file once nothing holds it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-read-" });
  try {
    const conf = {
      voters: ["n1"],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    const s = await FileStorage.open(dir, { bootstrap: conf });
    await s.save({ entries: range(1, 11, 20), hardState: { term: 1, vote: "n1", commit: 10 } });
    await s.createSnapshot(8, conf, dataFor(8, 200_000));
    await s.close();
    // In a process with a callable GC: the snapshot recovery loaded is only
    // held weakly, so it is collected and read back on demand.
    const module = import.meta.resolve("./file_storage.ts");
    const code = `
      const { FileStorage } = await import(${JSON.stringify(module)});
      const path = ${JSON.stringify(join(dir, "snapshot"))};
      const tick = () => new Promise((r) => setTimeout(r, 0));
      // A WeakRef's target stays alive for the rest of the job that made or
      // dereferenced it: collect in a later one.
      async function collect(ref) {
        for (let i = 0; i < 10; i++) {
          await tick();
          globalThis.gc();
          await tick();
          if (ref.deref() === undefined) return true;
        }
        return false;
      }
      function read(s) {
        const snap = s.snapshot();
        return { index: snap.metadata.index, bytes: snap.data.length, sum: snap.data.reduce((a, b) => a + b, 0), same: s.snapshot() === snap };
      }
      const s = await FileStorage.open(${JSON.stringify(dir)});
      const out = { collected: await collect(new WeakRef(s.snapshot())), ...read(s) };
      out.collectedAgain = await collect(new WeakRef(s.snapshot()));
      const bytes = Deno.readFileSync(path);
      bytes[bytes.length - 1] ^= 1;
      Deno.writeFileSync(path, bytes);
      try { s.snapshot(); out.damage = "none"; } catch (err) { out.damage = err.name + ": " + err.message; }
      await s.close();
      console.log(JSON.stringify(out));
    `;
    const res = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--v8-flags=--expose-gc", code],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.ok(res.success);
    const out = JSON.parse(new TextDecoder().decode(res.stdout));
    assert.equal(out.collected, true);
    assert.equal(out.index, 8);
    assert.equal(out.bytes, 200_000);
    assert.equal(out.sum, dataFor(8, 200_000).reduce((a, b) => a + b, 0));
    assert.equal(out.same, true);
    assert.equal(out.collectedAgain, true);
    assert.match(out.damage, /^CorruptLogError: .*snapshot/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
