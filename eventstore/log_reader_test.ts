import assert from "node:assert/strict";
import fc from "fast-check";
import { CompactedError } from "../raft/core/errors.ts";
import type { Storage } from "../raft/core/storage.ts";
import type { ConfState, Entry } from "../raft/core/types.ts";
import { encodeEnvelope } from "../raft/envelope.ts";
import { FileStorage } from "../raft/storage/file_storage.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { CorruptLogError } from "../raft/storage/storage_errors.ts";
import { type EntryArchive, FileArchive, MemoryArchive } from "./archive.ts";
import { LogReader } from "./log_reader.ts";

const CONF: ConfState = {
  voters: ["n1"],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

function payloadFor(index: number): Uint8Array {
  const p = new Uint8Array(50 + index * 13);
  for (let i = 0; i < p.length; i++) p[i] = (index * 7 + i) & 0xff;
  return p;
}

/** Entry `index`: its proposal id has a different length for each index. */
function entry(index: number): Entry {
  const id = "p".repeat(index % 40);
  return {
    index,
    term: 1,
    type: "normal",
    data: encodeEnvelope({ id, timestamp: index, payload: payloadFor(index) }),
  };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function checkReads(r: LogReader, lo: number, hi: number): void {
  for (let i = lo; i < hi; i++) {
    const p = payloadFor(i);
    const n = p.length;
    for (const [a, b] of [[0, undefined], [3, 9], [n - 5, n], [n, undefined], [7, 7]] as const) {
      assert.ok(same(r.commandSlice(i, a, b), p.slice(a, b)), `entry ${i} [${a}, ${b})`);
    }
    assert.ok(same(r.command(i).payload, p), `command ${i}`);
  }
}

Deno.test("LogReader.commandSlice reads payload ranges from the log, whatever the envelope header size", () => {
  const s = MemoryStorage.withVoters(["n1"]);
  for (let i = 1; i <= 50; i++) s.append([entry(i)]);
  const r = new LogReader(s, new MemoryArchive(), { cacheEntries: 0 });
  checkReads(r, 1, 51);
  assert.throws(() => r.commandSlice(3, 0, payloadFor(3).length + 1), RangeError);
  assert.throws(() => r.commandSlice(3, 5, 4), RangeError);
});

Deno.test("LogReader.commandSlice serves cached commands as views and caches nothing it reads", () => {
  const s = MemoryStorage.withVoters(["n1"]);
  for (let i = 1; i <= 4; i++) s.append([entry(i)]);
  let reads = 0;
  const counting: Storage = {
    initialState: () => s.initialState(),
    entries: (lo, hi, max) => {
      reads++;
      return s.entries(lo, hi, max);
    },
    term: (i) => s.term(i),
    firstIndex: () => s.firstIndex(),
    lastIndex: () => s.lastIndex(),
    snapshot: () => s.snapshot(),
  };
  const r = new LogReader(counting, new MemoryArchive());
  const cached = payloadFor(2);
  r.remember(2, { payload: cached, timestamp: 2 });
  const view = r.commandSlice(2, 4, 10);
  assert.equal(view.buffer, cached.buffer);
  assert.equal(reads, 0);
  assert.throws(() => r.commandSlice(2, 4, cached.length + 1), RangeError);
  // A storage without entrySlice: whole entries are read, and never kept.
  assert.ok(same(r.commandSlice(3, 1, 5), payloadFor(3).slice(1, 5)));
  assert.ok(same(r.commandSlice(3, 1, 5), payloadFor(3).slice(1, 5)));
  assert.ok(reads >= 2);
  const before = reads;
  r.command(3);
  r.command(3);
  assert.equal(reads, before + 2, "command() reads are not cached either");
});

Deno.test("LogReader.commandSlice reads entries below the log's first index from the archive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-reader-" });
  try {
    const plainArchive = (a: MemoryArchive): EntryArchive => ({
      get: (i) => a.get(i),
      has: (i) => a.has(i),
      replace: (e) => a.replace(e),
      get size() {
        return a.size;
      },
      close: () => a.close(),
    });
    const file = FileArchive.open(`${dir}/archive`);
    const archives: EntryArchive[] = [new MemoryArchive(), file, plainArchive(new MemoryArchive())];
    for (const archive of archives) {
      // A log that installed a snapshot at 20: entries 11..20 only in the archive.
      const s = MemoryStorage.withVoters(["n1"]);
      s.applySnapshot({
        metadata: { index: 20, term: 1, confState: CONF },
        data: new Uint8Array(),
      });
      for (let i = 21; i <= 30; i++) s.append([entry(i)]);
      const archived: { index: number; data: Uint8Array }[] = [];
      for (let i = 11; i <= 20; i++) archived.push({ index: i, data: entry(i).data });
      archive.replace(archived);
      const r = new LogReader(s, archive, { cacheEntries: 0 });
      checkReads(r, 11, 31);
      assert.throws(() => r.commandSlice(10, 0, 1), CompactedError);
      assert.throws(() => r.commandSlice(12, 0, payloadFor(12).length + 1), RangeError);
    }
    file.close();
    // A reopened file archive reads ranges of what it checked on open.
    const again = FileArchive.open(`${dir}/archive`);
    try {
      assert.ok(same(again.slice(15, 3, 40)!, entry(15).data.slice(3, 40)));
      assert.equal(again.slice(9, 0, 1), undefined);
      assert.throws(() => again.slice(15, 0, entry(15).data.length + 1), RangeError);
    } finally {
      again.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LogReader.commandSlice on FileStorage: a record damaged after open is CorruptLogError on first read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-reader-" });
  try {
    const s = await FileStorage.open(dir, { bootstrap: CONF, cacheBytes: 0 });
    try {
      // Records of 5 entries each; the first (entries 1..5) spans byte 200 of the segment.
      for (let i = 1; i <= 30; i += 5) {
        await s.save({ entries: [0, 1, 2, 3, 4].map((k) => entry(i + k)) });
      }
      const r = new LogReader(s, new MemoryArchive(), { cacheEntries: 0 });
      checkReads(r, 21, 31);
      const name = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".wal"))!.name;
      const f = Deno.openSync(`${dir}/${name}`, { read: true, write: true });
      try {
        const b = new Uint8Array(1);
        f.seekSync(200, Deno.SeekMode.Start);
        f.readSync(b);
        f.seekSync(200, Deno.SeekMode.Start);
        f.writeSync(new Uint8Array([b[0]! ^ 0x40]));
      } finally {
        f.close();
      }
      for (const i of [1, 3, 5]) assert.throws(() => r.commandSlice(i, 0, 4), CorruptLogError);
      checkReads(r, 6, 31);
    } finally {
      await s.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LogReader's cache keeps the newest commands within its entry and byte bounds (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 6 }),
      fc.integer({ min: 200, max: 2_000 }),
      fc.array(
        fc.record({ gap: fc.integer({ min: 1, max: 3 }), size: fc.integer({ min: 0, max: 300 }) }),
        {
          maxLength: 60,
        },
      ),
      fc.boolean(),
      (cacheEntries, cacheBytes, adds, clearMidway) => {
        // An empty log: a command is readable only while the cache holds it.
        const r = new LogReader(MemoryStorage.withVoters(["n1"]), new MemoryArchive(), {
          cacheEntries,
          cacheBytes,
        });
        const model: { index: number; payload: Uint8Array }[] = [];
        const seen: number[] = [];
        let index = 0;
        adds.forEach(({ gap, size }, k) => {
          if (clearMidway && k === adds.length >> 1) {
            r.clear();
            model.length = 0;
          }
          index += gap;
          const payload = new Uint8Array(size);
          r.remember(index, { payload, timestamp: index });
          seen.push(index);
          if (size + 64 > cacheBytes / 4 || cacheEntries < 1) return;
          // Oldest first, as few as needed: below both bounds after the add.
          let bytes = model.reduce((n, m) => n + m.payload.length + 64, 0);
          while (
            model.length > 0 && (model.length >= cacheEntries || bytes + size + 64 > cacheBytes)
          ) {
            bytes -= model.shift()!.payload.length + 64;
          }
          model.push({ index, payload });
        });
        for (const i of seen) {
          const m = model.find((x) => x.index === i);
          if (m === undefined) assert.throws(() => r.command(i), `index ${i} is not cached`);
          else assert.equal(r.command(i).payload, m.payload, `index ${i} is cached`);
        }
      },
    ),
    { numRuns: 300 },
  );
});
