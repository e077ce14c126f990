import assert from "node:assert/strict";
import { join } from "node:path";
import { CompactedError, RaftInvariantError, UnavailableError } from "../core/errors.ts";
import type { ConfState, Entry } from "../core/types.ts";
import { FileStorage } from "./file_storage.ts";
import { MemoryStorage } from "./memory_storage.ts";
import { parseSegmentFileName, segmentFileName } from "./segment.ts";
import { encodeSegmentHeader } from "./record.ts";
import { prepareSnapshotFile } from "./snapshot_file.ts";
import { DataDirInUseError, StorageClosedError } from "./storage_errors.ts";

const CONF: ConfState = {
  voters: ["n1", "n2", "n3"],
  learners: ["n4"],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

function dataFor(index: number, size = 8 + (index % 13)): Uint8Array {
  const d = new Uint8Array(size);
  for (let i = 0; i < size; i++) d[i] = (index * 31 + i * 7) & 0xff;
  return d;
}

function ent(index: number, term = 1, size?: number): Entry {
  return {
    index,
    term,
    type: index % 10 === 0 ? "confChange" : "normal",
    data: dataFor(index, size),
  };
}

function range(lo: number, hi: number, term = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i < hi; i++) out.push(ent(i, term));
  return out;
}

function assertEntries(actual: Entry[], expected: Entry[]): void {
  assert.equal(actual.length, expected.length, "entry count");
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.equal(a.index, e.index);
    assert.equal(a.term, e.term, `term of entry ${e.index}`);
    assert.equal(a.type, e.type, `type of entry ${e.index}`);
    assert.deepEqual([...a.data], [...e.data], `data of entry ${e.index}`);
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-fs-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function segmentFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".wal")).sort();
}

/** First indexes of the segment files, in creation order. */
function segmentFirsts(dir: string): number[] {
  return segmentFiles(dir).map((n) => parseSegmentFileName(n)!.firstIndex);
}

function quiet(lines: Record<string, unknown>[] = []): (line: Record<string, unknown>) => void {
  return (line) => lines.push(line);
}

Deno.test("FileStorage.open creates a fresh directory with the bootstrap membership", async () => {
  await withDir(async (root) => {
    const dir = join(root, "data", "n1");
    const s = await FileStorage.open(dir, { bootstrap: CONF });
    assert.deepEqual(s.initialState(), {
      hardState: { term: 0, vote: "", commit: 0 },
      confState: CONF,
    });
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    assert.equal(s.term(0), 0);
    assert.deepEqual(s.entries(1, 1), []);
    assert.equal(s.snapshot().metadata.index, 0);
    await s.close();

    const other: ConfState = { ...CONF, voters: ["x"] };
    const again = await FileStorage.open(dir, { bootstrap: other });
    assert.deepEqual(again.initialState().confState, CONF, "bootstrap only applies to a new dir");
    await again.close();
  });
});

Deno.test("FileStorage.save persists entries and hard state across reopen", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ hardState: { term: 1, vote: "n1", commit: 0 }, entries: range(1, 6) });
    await s.save({ hardState: { term: 1, vote: "n1", commit: 5 }, entries: range(6, 12) });
    assertEntries(s.entries(1, 12), range(1, 12));
    await s.close();

    const r = await FileStorage.open(dir);
    assert.deepEqual(r.initialState().hardState, { term: 1, vote: "n1", commit: 5 });
    assert.equal(r.firstIndex(), 1);
    assert.equal(r.lastIndex(), 11);
    assert.equal(r.term(11), 1);
    assertEntries(r.entries(1, 12), range(1, 12));
    assertEntries(r.entries(4, 7), range(4, 7));
    await r.close();
  });
});

Deno.test("FileStorage.save with sync false is durable after close", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: range(1, 4) }, { sync: false });
    await s.save({ entries: [], hardState: { term: 2, vote: "", commit: 3 } }, { sync: false });
    await s.save({ entries: [] }, { sync: true }); // a barrier: nothing new, syncs the rest
    await s.close();
    const r = await FileStorage.open(dir);
    assert.equal(r.lastIndex(), 3);
    assert.equal(r.initialState().hardState.commit, 3);
    await r.close();
  });
});

Deno.test("FileStorage times each sync of the log and each snapshot, and counts the log's and snapshot's bytes", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    const empty = s.logBytes();
    assert.equal(s.syncSeconds.count, 0);
    await s.save({ entries: range(1, 4) }, { sync: false });
    assert.equal(s.syncSeconds.count, 0, "nothing synced yet");
    const written = s.logBytes();
    assert.ok(written > empty);
    await s.save({ entries: range(4, 6), hardState: { term: 1, vote: "", commit: 5 } });
    assert.equal(s.syncSeconds.count, 1);
    await s.save({ entries: [] }, { sync: true });
    assert.equal(s.syncSeconds.count, 1, "nothing unsynced: no sync");
    assert.ok(s.logBytes() > written);
    // Snapshots: timed when written, and their size known, also after a reopen.
    assert.equal(s.snapshotBytes(), 0);
    await s.createSnapshot(5, CONF, new Uint8Array(1234));
    assert.equal(s.snapshotSeconds.count, 1);
    assert.equal(s.snapshotBytes(), 1234);
    await s.createSnapshot(4, CONF, new Uint8Array(9)); // older: not written
    assert.equal(s.snapshotSeconds.count, 1);
    // One installed from a leader counts too (it is not timed here: the transfer was the work).
    await s.save({
      entries: [],
      snapshot: { metadata: { index: 30, term: 2, confState: CONF }, data: new Uint8Array(77) },
    });
    assert.equal(s.snapshotBytes(), 77);
    assert.equal(s.snapshotSeconds.count, 1);
    await s.close();
    const r = await FileStorage.open(dir);
    assert.equal(r.snapshotBytes(), 77);
    await r.close();
  });
});

Deno.test("FileStorage rotates segments at segmentBytes and reads across them", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 300, cacheBytes: 0 });
    for (let i = 1; i <= 100; i += 5) await s.save({ entries: range(i, i + 5) });
    const files = segmentFiles(dir);
    assert.ok(files.length >= 10, `expected many segments, got ${files.length}`);
    assert.equal(files[0], "0000000001-00000000000000000001.wal");
    assertEntries(s.entries(1, 101), range(1, 101));
    assertEntries(s.entries(37, 64), range(37, 64));
    await s.close();

    const r = await FileStorage.open(dir, { segmentBytes: 300, cacheBytes: 0 });
    assert.equal(r.lastIndex(), 100);
    assertEntries(r.entries(1, 101), range(1, 101));
    for (let i = 1; i <= 100; i++) assert.equal(r.term(i), 1);
    await r.save({ entries: range(101, 103) });
    assertEntries(r.entries(99, 103), range(99, 103));
    await r.close();
  });
});

Deno.test("FileStorage.entries matches MemoryStorage for every range and maxBytes", async () => {
  await withDir(async (dir) => {
    for (const cacheBytes of [0, 400, 1 << 20]) {
      const sub = join(dir, `c${cacheBytes}`);
      const fs = await FileStorage.open(sub, { segmentBytes: 256, cacheBytes });
      const mem = new MemoryStorage();
      for (let i = 1; i <= 40; i += 4) {
        const batch = range(i, i + 4);
        await fs.save({ entries: batch });
        await mem.save({ entries: batch });
      }
      for (let lo = 1; lo <= 41; lo++) {
        for (let hi = lo; hi <= 41; hi++) {
          for (const maxBytes of [undefined, 0, 30, 60, 100, 1000]) {
            assertEntries(fs.entries(lo, hi, maxBytes), mem.entries(lo, hi, maxBytes));
          }
        }
      }
      await fs.close();
    }
  });
});

Deno.test("FileStorage reads out of range throw CompactedError, UnavailableError, RangeError, TypeError", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: range(1, 6), hardState: { term: 1, vote: "", commit: 5 } });
    assert.throws(() => s.entries(0, 2), CompactedError);
    assert.throws(() => s.entries(1, 7), UnavailableError);
    assert.throws(() => s.term(6), UnavailableError);
    assert.throws(() => s.entries(4, 3), RangeError);
    assert.throws(() => s.entries(1.5, 3), TypeError);
    assert.throws(() => s.entries(-1, 3), RangeError);
    assert.throws(() => s.term(Number.NaN), TypeError);
    assert.throws(() => s.entries(1, 3, "x" as unknown as number), TypeError);
    await s.createSnapshot(4, CONF, new Uint8Array([1]));
    await s.compact(3);
    assert.throws(() => s.entries(3, 5), CompactedError);
    assert.throws(() => s.term(2), CompactedError);
    assert.equal(s.term(3), 1);
    try {
      s.entries(2, 5);
      assert.fail("expected CompactedError");
    } catch (err) {
      assert.ok(err instanceof CompactedError);
      assert.equal(err.firstIndex, 4);
    }
    await s.close();
  });
});

Deno.test("FileStorage.save replaces a conflicting suffix, also across segments", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 200 });
    for (let i = 1; i <= 30; i += 3) await s.save({ entries: range(i, i + 3) });
    await s.save({ entries: [], hardState: { term: 2, vote: "n2", commit: 4 } });
    const before = segmentFiles(dir).length;
    // A new leader (term 3) overwrites from index 7 on.
    await s.save({ entries: range(7, 10, 3) });
    assert.equal(s.lastIndex(), 9);
    assert.equal(s.term(6), 1);
    assert.equal(s.term(7), 3);
    assert.throws(() => s.term(10), UnavailableError);
    assert.ok(segmentFiles(dir).length < before, "later segments are deleted");
    await s.save({ entries: range(10, 12, 3), hardState: { term: 3, vote: "n2", commit: 6 } });
    await s.close();

    const r = await FileStorage.open(dir, { segmentBytes: 200 });
    assert.equal(r.lastIndex(), 11);
    assertEntries(r.entries(1, 12), [...range(1, 7), ...range(7, 12, 3)]);
    assert.deepEqual(r.initialState().hardState, { term: 3, vote: "n2", commit: 6 });
    await r.close();
  });
});

Deno.test("FileStorage.save keeps the hard state when a truncation cuts its record", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: range(1, 11) });
    // Vote in term 2 lands after entry 10 in the same segment...
    await s.save({ entries: [], hardState: { term: 2, vote: "n3", commit: 2 } });
    // ...and the cut at 5 removes that record; the checkpoint file keeps it.
    await s.save({ entries: range(5, 6, 2) });
    await s.close();
    const r = await FileStorage.open(dir);
    assert.deepEqual(r.initialState().hardState, { term: 2, vote: "n3", commit: 2 });
    assert.equal(r.lastIndex(), 5);
    assert.equal(r.term(5), 2);
    await r.close();
  });
});

Deno.test("FileStorage.save skips entries it already holds and ignores compacted ones", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: range(1, 11), hardState: { term: 1, vote: "", commit: 10 } });
    await s.save({ entries: range(3, 8) }); // same terms: nothing to do
    assert.equal(s.lastIndex(), 10);
    await s.save({ entries: range(8, 13) }); // overlap then new
    assert.equal(s.lastIndex(), 12);
    await s.createSnapshot(6, CONF, new Uint8Array());
    await s.compact(6);
    await s.save({ entries: range(2, 14) }); // partly compacted
    assert.equal(s.firstIndex(), 7);
    assert.equal(s.lastIndex(), 13);
    assertEntries(s.entries(7, 14), range(7, 14));
    await s.close();
  });
});

Deno.test("FileStorage.save refuses gaps, lower terms and replacing committed entries", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: range(1, 6, 2), hardState: { term: 2, vote: "", commit: 4 } });
    await assert.rejects(s.save({ entries: range(8, 9, 2) }), RaftInvariantError);
    await assert.rejects(s.save({ entries: range(6, 7, 1) }), RaftInvariantError);
    await assert.rejects(s.save({ entries: range(4, 6, 3) }), RaftInvariantError);
    // Still usable after refusals.
    await s.save({ entries: range(5, 7, 3) });
    assert.equal(s.lastIndex(), 6);
    assert.equal(s.term(5), 3);
    await s.close();
  });
});

Deno.test("FileStorage.save rejects malformed arguments with TypeError or RangeError", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    const bad = (u: unknown, o?: unknown) =>
      s.save(u as Parameters<FileStorage["save"]>[0], o as Parameters<FileStorage["save"]>[1]);
    await assert.rejects(bad(null), TypeError);
    await assert.rejects(bad({ entries: "x" }), TypeError);
    await assert.rejects(bad({ entries: [null] }), TypeError);
    await assert.rejects(bad({ entries: [{ ...ent(1), index: 1.5 }] }), TypeError);
    await assert.rejects(bad({ entries: [{ ...ent(1), term: -1 }] }), RangeError);
    await assert.rejects(bad({ entries: [{ ...ent(1), type: "other" }] }), TypeError);
    await assert.rejects(bad({ entries: [{ ...ent(1), data: [1, 2] }] }), TypeError);
    await assert.rejects(bad({ entries: [ent(0)] }), RangeError);
    await assert.rejects(bad({ entries: [ent(1), ent(3)] }), RangeError);
    await assert.rejects(bad({ entries: [ent(1, 2), ent(2, 1)] }), RangeError);
    await assert.rejects(
      bad({ entries: [], hardState: { term: 1, vote: 3, commit: 0 } }),
      TypeError,
    );
    await assert.rejects(
      bad({ entries: [], hardState: { term: 1, vote: "", commit: -2 } }),
      RangeError,
    );
    await assert.rejects(bad({ entries: [], snapshot: { metadata: {} } }), TypeError);
    await assert.rejects(bad({ entries: [] }, { sync: "yes" }), TypeError);
    await assert.rejects(s.createSnapshot(1.5, CONF, new Uint8Array()), TypeError);
    await assert.rejects(
      s.createSnapshot(0, { voters: "n1" } as unknown as ConfState, new Uint8Array()),
      TypeError,
    );
    await assert.rejects(s.createSnapshot(0, CONF, [] as unknown as Uint8Array), TypeError);
    await assert.rejects(s.compact(-1), RangeError);
    assert.equal(s.lastIndex(), 0);
    await s.close();
  });
});

Deno.test("FileStorage.open rejects bad options", async () => {
  await withDir(async (dir) => {
    const open = (o: unknown) => FileStorage.open(dir, o as Parameters<typeof FileStorage.open>[1]);
    await assert.rejects(FileStorage.open(""), TypeError);
    await assert.rejects(open(null), TypeError);
    await assert.rejects(open({ segmentBytes: 0 }), RangeError);
    await assert.rejects(open({ segmentBytes: 1.5 }), TypeError);
    await assert.rejects(open({ segmentBytes: 2 ** 40 }), RangeError);
    await assert.rejects(open({ cacheBytes: -1 }), RangeError);
    await assert.rejects(open({ bootstrap: { voters: ["n1"] } }), TypeError);
    await assert.rejects(open({ logger: "stderr" }), TypeError);
    const s = await FileStorage.open(dir);
    await s.close();
  });
});

Deno.test("FileStorage.createSnapshot is durable and checks its index", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { bootstrap: CONF });
    await s.save({ entries: range(1, 11, 2), hardState: { term: 2, vote: "n1", commit: 8 } });
    await assert.rejects(s.createSnapshot(9, CONF, new Uint8Array()), RangeError);
    await assert.rejects(s.createSnapshot(11, CONF, new Uint8Array()), UnavailableError);
    const conf2: ConfState = { ...CONF, voters: ["n1", "n2"] };
    const snap = await s.createSnapshot(8, conf2, new Uint8Array([1, 2, 3]));
    assert.deepEqual(snap.metadata, { index: 8, term: 2, confState: conf2 });
    assert.deepEqual(
      await s.createSnapshot(5, CONF, new Uint8Array()),
      snap,
      "older index: current",
    );
    assert.equal(s.firstIndex(), 1, "a snapshot alone does not compact");
    await s.close();

    const r = await FileStorage.open(dir);
    assert.deepEqual(r.snapshot().metadata, { index: 8, term: 2, confState: conf2 });
    assert.deepEqual([...r.snapshot().data], [1, 2, 3]);
    assert.deepEqual(r.initialState().confState, conf2);
    assert.equal(r.lastIndex(), 10);
    await r.close();
  });
});

Deno.test("FileStorage keeps no reference to a snapshot's data once createSnapshot settles", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { bootstrap: CONF });
    assert.equal(s.releasesSnapshotData, true);
    await s.save({ entries: range(1, 11), hardState: { term: 1, vote: "n1", commit: 10 } });
    // Small data stay in memory (as a copy), large data are read back from the file.
    for (const [index, size] of [[5, 1000], [10, 1 << 20]] as const) {
      const data = new Uint8Array(size).fill(index);
      await s.createSnapshot(index, CONF, data);
      data.fill(0); // the caller writes over its buffer
      const got = s.snapshot();
      assert.equal(got.metadata.index, index);
      assert.equal(got.data.length, size);
      assert.ok(got.data.every((x) => x === index), `snapshot at ${index} intact`);
    }
    await s.close();
  });
});

Deno.test("FileStorage.createSnapshot lets appends go on while a large snapshot is written", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { bootstrap: CONF });
    await s.save({ entries: range(1, 11), hardState: { term: 1, vote: "n1", commit: 10 } });
    const big = new Uint8Array(64 << 20).fill(5);
    const order: string[] = [];
    const created = s.createSnapshot(10, CONF, big).then((snap) => (order.push("snapshot"), snap));
    // Let the snapshot pass its checks and start writing, then queue a few synced saves: they
    // finish before the 64 MiB file is written and synced.
    await new Promise((r) => setTimeout(r, 0));
    const saves: Promise<void>[] = [];
    for (let i = 11; i < 14; i++) {
      saves.push(s.save({ entries: [ent(i)], hardState: { term: 1, vote: "n1", commit: i } }));
    }
    await Promise.all(saves).then(() => order.push("saves"));
    await created;
    assert.deepEqual(order, ["saves", "snapshot"], "the saves did not wait for the snapshot");
    const snap = await created;
    assert.equal(snap.metadata.index, 10);
    assert.equal(s.snapshot().metadata.index, 10);
    await s.close();
    assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")), []);

    const r = await FileStorage.open(dir);
    assert.equal(r.snapshot().metadata.index, 10);
    assert.equal(r.snapshot().data.length, big.length);
    assert.equal(r.lastIndex(), 13);
    assertEntries(r.entries(11, 14), range(11, 14));
    await r.close();
  });
});

Deno.test("FileStorage.createSnapshot yields to a leader snapshot installed while it writes", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { bootstrap: CONF });
    await s.save({ entries: range(1, 11), hardState: { term: 1, vote: "n1", commit: 10 } });
    const created = s.createSnapshot(10, CONF, new Uint8Array(16 << 20));
    const conf2: ConfState = { ...CONF, voters: ["n1"] };
    await s.save({
      snapshot: { metadata: { index: 20, term: 2, confState: conf2 }, data: new Uint8Array([7]) },
      entries: [],
      hardState: { term: 2, vote: "", commit: 20 },
    });
    const snap = await created;
    assert.equal(snap.metadata.index, 20, "the newer snapshot stays");
    assert.deepEqual([...s.snapshot().data], [7]);
    await s.close();
    assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")), []);
    const r = await FileStorage.open(dir);
    assert.equal(r.snapshot().metadata.index, 20);
    assert.deepEqual(r.initialState().confState, conf2);
    await r.close();
  });
});

Deno.test("FileStorage.open keeps the old snapshot when a crash left a prepared one", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { bootstrap: CONF });
    await s.save({ entries: range(1, 11), hardState: { term: 1, vote: "n1", commit: 10 } });
    await s.createSnapshot(5, CONF, new Uint8Array([5]));
    await s.close();
    // A crash after the new snapshot was written and synced, before the rename.
    await prepareSnapshotFile(dir, {
      metadata: { index: 10, term: 1, confState: CONF },
      data: new Uint8Array([10]),
    });
    const r = await FileStorage.open(dir, { logger: quiet() });
    assert.equal(r.snapshot().metadata.index, 5);
    assert.deepEqual([...r.snapshot().data], [5]);
    assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")), []);
    await r.close();
  });
});

Deno.test("FileStorage.compact drops entries and whole segments", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 200 });
    for (let i = 1; i <= 60; i += 3) await s.save({ entries: range(i, i + 3) });
    await s.save({ entries: [], hardState: { term: 1, vote: "n1", commit: 60 } });
    await assert.rejects(s.compact(10), RangeError, "no snapshot covers it yet");
    await s.createSnapshot(40, CONF, new Uint8Array([9]));
    await assert.rejects(s.compact(41), RangeError);
    await assert.rejects(s.compact(61), UnavailableError);
    const before = segmentFiles(dir);
    await s.compact(30);
    await s.compact(20); // below firstIndex: nothing to do
    assert.equal(s.firstIndex(), 31);
    assert.equal(s.term(30), 1);
    assert.throws(() => s.term(29), CompactedError);
    assert.throws(() => s.entries(30, 31), CompactedError);
    assertEntries(s.entries(31, 61), range(31, 61));
    const after = segmentFiles(dir);
    assert.ok(after.length < before.length, "covered segments are deleted");
    const firstSegIndex = parseSegmentFileName(after[0]!)!.firstIndex;
    assert.ok(firstSegIndex <= 31 && firstSegIndex > 1);
    await s.close();

    const r = await FileStorage.open(dir, { segmentBytes: 200 });
    assert.equal(r.firstIndex(), firstSegIndex, "reopen starts at the first kept segment");
    assert.ok(r.firstIndex() <= 31);
    assert.equal(r.term(r.firstIndex() - 1), 1);
    assertEntries(r.entries(r.firstIndex(), 61), range(r.firstIndex(), 61));
    assert.deepEqual(r.initialState().hardState, { term: 1, vote: "n1", commit: 60 });
    await r.close();
  });
});

Deno.test("FileStorage.compact keeps the hard state when its segment is deleted", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 100 });
    await s.save({ entries: range(1, 4), hardState: { term: 5, vote: "n2", commit: 3 } });
    for (let i = 4; i <= 20; i += 2) await s.save({ entries: range(i, i + 2, 5) });
    await s.createSnapshot(3, CONF, new Uint8Array());
    await s.compact(3);
    assert.ok(!segmentFirsts(dir).includes(1));
    await s.close();
    const r = await FileStorage.open(dir);
    assert.deepEqual(r.initialState().hardState, { term: 5, vote: "n2", commit: 3 });
    await r.close();
  });
});

Deno.test("FileStorage.save installs a leader snapshot over a conflicting log", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 200 });
    for (let i = 1; i <= 12; i += 4) await s.save({ entries: range(i, i + 4) });
    const conf2: ConfState = { ...CONF, voters: ["n1"] };
    await s.save({
      snapshot: { metadata: { index: 20, term: 3, confState: conf2 }, data: new Uint8Array([7]) },
      entries: range(21, 23, 3),
      hardState: { term: 3, vote: "", commit: 20 },
    });
    assert.equal(s.firstIndex(), 21);
    assert.equal(s.lastIndex(), 22);
    assert.equal(s.term(20), 3);
    assert.deepEqual(segmentFirsts(dir), [21]);
    await s.close();

    const r = await FileStorage.open(dir);
    assert.equal(r.firstIndex(), 21);
    assert.equal(r.lastIndex(), 22);
    assert.equal(r.term(20), 3);
    assert.deepEqual(r.initialState().confState, conf2);
    assertEntries(r.entries(21, 23), range(21, 23, 3));
    await r.close();
  });
});

Deno.test("FileStorage.save installs a snapshot that matches the log by compacting to it", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: range(1, 11), hardState: { term: 1, vote: "", commit: 10 } });
    await s.save({
      snapshot: { metadata: { index: 5, term: 1, confState: CONF }, data: new Uint8Array() },
      entries: [],
    });
    assert.equal(s.firstIndex(), 6);
    assert.equal(s.lastIndex(), 10);
    await s.close();
    const r = await FileStorage.open(dir);
    assert.equal(r.lastIndex(), 10);
    assert.ok(r.firstIndex() <= 6);
    assert.equal(r.snapshot().metadata.index, 5);
    await r.close();
  });
});

Deno.test("FileStorage applies concurrent saves in call order", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 256 });
    const pending: Promise<void>[] = [];
    for (let i = 1; i <= 50; i += 2) pending.push(s.save({ entries: range(i, i + 2) }));
    pending.push(s.save({ entries: range(20, 22, 2) })); // overwrites from 20
    await Promise.all(pending);
    assert.equal(s.lastIndex(), 21);
    assertEntries(s.entries(1, 22), [...range(1, 20), ...range(20, 22, 2)]);
    await s.close();
  });
});

Deno.test("FileStorage: a synced save of nothing new waits for the fsync of an earlier save in flight", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: range(1, 3) });
    const proto = Deno.FsFile.prototype;
    const syncData = proto.syncData;
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    let started = 0;
    proto.syncData = async function (this: Deno.FsFile) {
      started++;
      await gate;
      return await syncData.call(this);
    };
    try {
      const first = s.save({ entries: range(3, 5) }, { sync: true });
      while (started === 0) await new Promise((r) => setTimeout(r, 1));
      let secondDone = false;
      const second = s.save({ entries: [] }, { sync: true }).then(() => secondDone = true);
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 1));
      assert.equal(secondDone, false, "claimed durability while entries 3-4 were being synced");
      release();
      await Promise.all([first, second]);
      assert.equal(secondDone, true);
    } finally {
      proto.syncData = syncData;
      release();
    }
    await s.close();
  });
});

Deno.test("FileStorage.close releases the lock; later calls throw StorageClosedError", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: range(1, 3) });
    await s.close();
    await s.close();
    assert.throws(() => s.lastIndex(), StorageClosedError);
    assert.throws(() => s.entries(1, 2), StorageClosedError);
    await assert.rejects(s.save({ entries: range(3, 4) }), StorageClosedError);
    await assert.rejects(s.compact(1), StorageClosedError);
    const r = await FileStorage.open(dir);
    assert.equal(r.lastIndex(), 2);
    await r.close();
  });
});

Deno.test("FileStorage.open refuses a directory another FileStorage holds", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await assert.rejects(FileStorage.open(dir), (err: unknown) => {
      assert.ok(err instanceof DataDirInUseError);
      assert.equal(err.message, `Data directory ${dir} is in use by another process`);
      return true;
    });
    await s.close();
  });
});

Deno.test("FileStorage.open refuses a directory held by another process", async () => {
  await withDir(async (root) => {
    const dir = join(root, "n1");
    const holder = `
      import { FileStorage } from ${
      JSON.stringify(new URL("./file_storage.ts", import.meta.url).href)
    };
      const s = await FileStorage.open(${JSON.stringify(dir)});
      console.log("locked");
      for await (const _ of Deno.stdin.readable) { /* hold until stdin closes */ }
      await s.close();
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", holder],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("locked")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`holder exited early: ${out}`);
      out += value;
    }
    try {
      await assert.rejects(FileStorage.open(dir), (err: unknown) => {
        assert.ok(err instanceof DataDirInUseError);
        assert.equal(err.message, `Data directory ${dir} is in use by another process`);
        return true;
      });
    } finally {
      await child.stdin.close();
      await reader.cancel();
      assert.equal((await child.status).code, 0);
    }
    const s = await FileStorage.open(dir);
    await s.close();
  });
});

Deno.test("FileStorage.save writes one record per call (group commit)", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { preallocateBytes: 0 });
    const size0 = Deno.statSync(join(dir, segmentFiles(dir)[0]!)).size;
    await s.save({ entries: range(1, 101) });
    const size1 = Deno.statSync(join(dir, segmentFiles(dir)[0]!)).size;
    let expected = 12 + 14; // one frame header, one batch header
    for (const e of range(1, 101)) expected += 13 + e.data.byteLength;
    assert.equal(size1 - size0, expected, "one record, 13 bytes of framing per entry");
    await s.close();
  });
});

Deno.test("FileStorage.open reports torn writes through the logger", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { preallocateBytes: 0 });
    await s.save({ entries: range(1, 4) });
    await s.close();
    const path = join(dir, segmentFiles(dir)[0]!);
    const f = await Deno.open(path, { append: true });
    await f.write(new Uint8Array([5, 0, 0]));
    f.close();
    const lines: Record<string, unknown>[] = [];
    const r = await FileStorage.open(dir, { logger: quiet(lines) });
    assert.equal(r.lastIndex(), 3);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.event, "torn_tail_truncated");
    assert.equal(lines[0]!.file, path);
    assert.equal(lines[0]!.droppedBytes, 3);
    await r.close();
  });
});

Deno.test("FileStorage truncation inside a batch shadows the tail with a new segment", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: range(1, 11), hardState: { term: 1, vote: "n1", commit: 3 } });
    await s.save({ entries: range(6, 9, 2) }); // conflicts at 6, inside the first batch
    assert.deepEqual(segmentFiles(dir), [segmentFileName(1, 1), segmentFileName(2, 6)]);
    assertEntries(s.entries(1, 9), [...range(1, 6), ...range(6, 9, 2)]);
    await s.save({ entries: range(8, 10, 3) }); // and again, inside the new segment
    assert.deepEqual(segmentFiles(dir), [
      segmentFileName(1, 1),
      segmentFileName(2, 6),
      segmentFileName(3, 8),
    ]);
    await s.save({ entries: range(6, 7, 4) }); // replaces segments 2 and 3 wholly
    assert.deepEqual(segmentFiles(dir), [segmentFileName(1, 1), segmentFileName(4, 6)]);
    await s.close();

    const r = await FileStorage.open(dir);
    assert.equal(r.lastIndex(), 6);
    assertEntries(r.entries(1, 7), [...range(1, 6), ...range(6, 7, 4)]);
    assert.deepEqual(r.initialState().hardState, { term: 1, vote: "n1", commit: 3 });
    await r.close();
  });
});

Deno.test("FileStorage truncation: before the new segment lands, the old log stands", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { preallocateBytes: 0 });
    await s.save({ entries: range(1, 11) });
    await s.save({ entries: range(6, 9, 2) });
    await s.close();
    const shadowing = join(dir, segmentFileName(2, 6));
    const bytes = Deno.readFileSync(shadowing);
    // The new segment was created but nothing reached it.
    Deno.writeFileSync(shadowing, new Uint8Array());
    const lines: Record<string, unknown>[] = [];
    let r = await FileStorage.open(dir, { logger: quiet(lines) });
    assertEntries(r.entries(1, 11), range(1, 11));
    assert.equal(lines[0]?.event, "torn_segment_removed");
    await r.close();
    // Its header landed, its batch did not: the replacement never happened.
    for (const cut of [34, 34 + 5, bytes.length - 1]) {
      Deno.writeFileSync(shadowing, bytes.subarray(0, cut));
      lines.length = 0;
      r = await FileStorage.open(dir, { logger: quiet(lines) });
      assertEntries(r.entries(1, 11), range(1, 11));
      assert.equal(lines.at(-1)?.event, "torn_segment_removed");
      assert.match(String(lines.at(-1)?.message), /would replace entries from 6 on/);
      await r.close();
    }
    // All of it landed.
    Deno.writeFileSync(shadowing, bytes);
    r = await FileStorage.open(dir);
    assertEntries(r.entries(1, 9), [...range(1, 6), ...range(6, 9, 2)]);
    await r.close();
  });
});

Deno.test("FileStorage recovery refuses a shadowing segment whose previous term disagrees", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: [...range(1, 4), ...range(4, 7, 2)] });
    await s.save({ entries: range(5, 6, 3) });
    await s.close();
    // Make the shadowing segment claim entry 4 had term 1 (it has term 2).
    const path = join(dir, segmentFileName(2, 5));
    const bytes = Deno.readFileSync(path);
    encodeSegmentHeader(bytes, new DataView(bytes.buffer), 0, { firstIndex: 5, prevTerm: 1 });
    Deno.writeFileSync(path, bytes);
    await assert.rejects(FileStorage.open(dir, { logger: quiet() }), (err: unknown) => {
      assert.ok(err instanceof Error && err.name === "CorruptLogError");
      assert.match(err.message, /entry 4 has term 1, but .* has term 2/);
      return true;
    });
  });
});

Deno.test("FileStorage replacing entries of earlier segments is atomic across a crash", async () => {
  await withDir(async (root) => {
    const dir = join(root, "live");
    const s = await FileStorage.open(dir, { segmentBytes: 200, preallocateBytes: 0 });
    for (let i = 1; i <= 30; i += 3) await s.save({ entries: range(i, i + 3) });
    const before = segmentFiles(dir);
    assert.ok(before.length >= 4);
    // Replace from 5 on without syncing: the replaced segments stay until a sync.
    await s.save({ entries: range(5, 8, 2) }, { sync: false });
    const during = segmentFiles(dir);
    assert.deepEqual(during.slice(0, before.length), before, "nothing deleted yet");
    assert.equal(during.length, before.length + 1);
    const replacing = during.at(-1)!;
    assert.equal(parseSegmentFileName(replacing)?.firstIndex, 5);

    // A crash now, with the new segment's batch torn: the old log stands, whole.
    const crashed = join(root, "crashed");
    await Deno.mkdir(crashed);
    for (const name of during) Deno.copyFileSync(join(dir, name), join(crashed, name));
    const bytes = Deno.readFileSync(join(crashed, replacing));
    Deno.writeFileSync(join(crashed, replacing), bytes.subarray(0, bytes.length - 1));
    const lines: Record<string, unknown>[] = [];
    let r = await FileStorage.open(crashed, { logger: quiet(lines) });
    assertEntries(r.entries(1, 31), range(1, 31));
    await r.close();
    // The same crash with the batch whole: the replacement, and the dead segments go.
    Deno.writeFileSync(join(crashed, replacing), bytes);
    r = await FileStorage.open(crashed, { logger: quiet(lines) });
    assertEntries(r.entries(1, 8), [...range(1, 5), ...range(5, 8, 2)]);
    assert.equal(r.lastIndex(), 7);
    await r.close();
    assert.ok(segmentFiles(crashed).length < during.length, "wholly replaced segments removed");

    // The live storage deletes them at its next sync.
    await s.save({ entries: [] }, { sync: true });
    assert.deepEqual(segmentFiles(dir), segmentFiles(crashed));
    await s.close();
  });
});

Deno.test("FileStorage compaction and snapshot installs after an unsynced replacement reopen cleanly", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 200 });
    for (let i = 1; i <= 30; i += 3) await s.save({ entries: range(i, i + 3) });
    await s.save({ entries: [], hardState: { term: 1, vote: "", commit: 8 } });
    await s.save({ entries: range(12, 20, 2) }, { sync: false });
    await s.createSnapshot(8, CONF, new Uint8Array());
    await s.compact(8);
    await s.close();
    let r = await FileStorage.open(dir, { segmentBytes: 200 });
    assert.equal(r.lastIndex(), 19);
    assertEntries(r.entries(r.firstIndex(), 20), [
      ...range(r.firstIndex(), 12),
      ...range(12, 20, 2),
    ]);
    await r.save({ entries: range(15, 17, 3) }, { sync: false });
    await r.save({
      snapshot: { metadata: { index: 40, term: 5, confState: CONF }, data: new Uint8Array() },
      entries: range(41, 42, 5),
    });
    await r.close();
    r = await FileStorage.open(dir);
    assert.equal(r.firstIndex(), 41);
    assert.equal(r.lastIndex(), 41);
    await r.close();
  });
});
