import assert from "node:assert/strict";
import { join } from "node:path";
import type { Entry, HardState } from "../core/types.ts";
import { FileStorage } from "./file_storage.ts";
import { HARD_STATE_FILE, writeHardStateFile } from "./hard_state_file.ts";
import { recoverDataDir } from "./recovery.ts";
import { parseSegmentFileName, segmentFileName } from "./segment.ts";
import { SNAPSHOT_FILE, writeSnapshotFile } from "./snapshot_file.ts";
import { CorruptLogError } from "./storage_errors.ts";

function dataFor(index: number): Uint8Array {
  const d = new Uint8Array(10 + (index % 7));
  for (let i = 0; i < d.length; i++) d[i] = (index * 17 + i * 3 + 1) & 0xff;
  return d;
}

function ent(index: number, term = 1): Entry {
  return { index, term, type: "normal", data: dataFor(index) };
}

function range(lo: number, hi: number, term = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i < hi; i++) out.push(ent(i, term));
  return out;
}

function assertLog(s: FileStorage, last: number): void {
  assert.equal(s.lastIndex(), last);
  const got = s.entries(1, last + 1);
  for (let i = 0; i < last; i++) {
    assert.equal(got[i]!.index, i + 1);
    assert.deepEqual([...got[i]!.data], [...dataFor(i + 1)], `data of entry ${i + 1}`);
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-recovery-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

type Line = Record<string, unknown>;

/**
 * Writes `batches` (one save each) and returns the segment path with the
 * file size after each save, so tests know where every batch starts.
 */
async function writeBatches(
  dir: string,
  batches: { entries: Entry[]; hardState?: HardState }[],
): Promise<{ path: string; ends: number[] }> {
  // Without zeros written ahead, the file ends where the last save did.
  const s = await FileStorage.open(dir, { preallocateBytes: 0 });
  const path = join(dir, segmentFileName(1, 1));
  const ends = [Deno.statSync(path).size];
  for (const b of batches) {
    await s.save(b);
    ends.push(Deno.statSync(path).size);
  }
  await s.close();
  return { path, ends };
}

async function openExpectingCorruption(dir: string): Promise<CorruptLogError> {
  try {
    const s = await FileStorage.open(dir, { logger: () => {} });
    await s.close();
  } catch (err) {
    if (err instanceof CorruptLogError) return err;
    throw err;
  }
  throw new Error("open succeeded on a corrupt directory");
}

Deno.test("recovery: cutting the last record at every byte offset recovers the previous record", async () => {
  await withDir(async (dir) => {
    const { path, ends } = await writeBatches(
      dir,
      [1, 2, 3, 4, 5].map((i) => ({ entries: [ent(i)] })),
    );
    const pristine = Deno.readFileSync(path);
    const start = ends[4]!; // where entry 5's record starts
    const end = ends[5]!;
    assert.equal(end, pristine.length);
    for (let cut = start; cut < end; cut++) {
      Deno.writeFileSync(path, pristine.subarray(0, cut));
      const lines: Line[] = [];
      const s = await FileStorage.open(dir, { logger: (l) => lines.push(l) });
      assertLog(s, 4);
      assert.equal(Deno.statSync(path).size, start, `cut at ${cut}: file truncated to entry 4`);
      if (cut === start) {
        assert.equal(lines.length, 0, "a clean end is not a torn write");
      } else {
        assert.equal(lines.length, 1, `cut at ${cut}: one log line`);
        assert.equal(lines[0]!.event, "torn_tail_truncated");
        assert.equal(lines[0]!.offset, start);
        assert.equal(lines[0]!.droppedBytes, cut - start);
        assert.match(String(lines[0]!.message), /torn write/);
      }
      // Writable again at once, and the rewrite survives.
      await s.save({ entries: [ent(5)] });
      await s.close();
      const again = await FileStorage.open(dir, { logger: (l) => lines.push(l) });
      assertLog(again, 5);
      await again.close();
    }
  });
});

Deno.test("recovery: a torn save is dropped whole, entries and hard state together", async () => {
  await withDir(async (dir) => {
    const hs1: HardState = { term: 1, vote: "n1", commit: 2 };
    const hs2: HardState = { term: 1, vote: "n1", commit: 6 };
    const { path, ends } = await writeBatches(dir, [
      { entries: range(1, 5), hardState: hs1 },
      { entries: range(5, 8), hardState: hs2 },
    ]);
    const pristine = Deno.readFileSync(path);
    for (let cut = ends[1]!; cut < pristine.length; cut++) {
      Deno.writeFileSync(path, pristine.subarray(0, cut));
      const s = await FileStorage.open(dir, { logger: () => {} });
      assertLog(s, 4);
      assert.deepEqual(s.initialState().hardState, hs1, `cut at ${cut}`);
      await s.close();
    }
    Deno.writeFileSync(path, pristine);
    const s = await FileStorage.open(dir);
    assertLog(s, 7);
    assert.deepEqual(s.initialState().hardState, hs2);
    await s.close();
  });
});

Deno.test("recovery: a flipped byte anywhere in a middle record is reported with file and offset", async () => {
  await withDir(async (dir) => {
    const { path, ends } = await writeBatches(
      dir,
      [1, 2, 3, 4, 5].map((i) => ({ entries: [ent(i)] })),
    );
    const pristine = Deno.readFileSync(path);
    const start = ends[2]!; // entry 3
    for (let i = start; i < ends[3]!; i++) {
      const damaged = pristine.slice();
      damaged[i]! ^= 0x5a;
      Deno.writeFileSync(path, damaged);
      const err = await openExpectingCorruption(dir);
      assert.equal(err.file, path);
      assert.equal(err.offset, start, `flip at ${i}`);
      assert.ok(err.message.includes(`${path} at byte offset ${start}`), err.message);
      assert.equal(Deno.readFileSync(path).length, pristine.length, "open changed nothing");
    }
    // A failed open released the lock: the same error again, not "in use".
    const err = await openExpectingCorruption(dir);
    assert.equal(err.offset, start);
  });
});

Deno.test("recovery: a flipped byte in the segment header is corruption", async () => {
  await withDir(async (dir) => {
    const { path, ends } = await writeBatches(dir, [{ entries: range(1, 4) }]);
    const pristine = Deno.readFileSync(path);
    for (let i = 0; i < ends[0]!; i++) {
      const damaged = pristine.slice();
      damaged[i]! ^= 0x01;
      Deno.writeFileSync(path, damaged);
      const err = await openExpectingCorruption(dir);
      assert.equal(err.file, path);
      assert.equal(err.offset, 0);
    }
  });
});

Deno.test("recovery: damage at the end of an earlier segment is corruption, not a torn tail", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 100 });
    for (let i = 1; i <= 12; i += 2) await s.save({ entries: range(i, i + 2) });
    await s.close();
    const first = join(dir, segmentFileName(1, 1));
    const bytes = Deno.readFileSync(first);
    // Cut the first segment's last record short.
    Deno.writeFileSync(first, bytes.subarray(0, bytes.length - 3));
    let err = await openExpectingCorruption(dir);
    assert.equal(err.file, first);
    assert.match(err.message, /not the last: damage, not a torn write/);
    // Flip its last byte instead.
    const flipped = bytes.slice();
    flipped[flipped.length - 1]! ^= 0xff;
    Deno.writeFileSync(first, flipped);
    err = await openExpectingCorruption(dir);
    assert.equal(err.file, first);
  });
});

Deno.test("recovery: a missing segment is an error naming where the gap is", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 100 });
    for (let i = 1; i <= 12; i += 2) await s.save({ entries: range(i, i + 2) });
    await s.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".wal"))
      .sort();
    assert.ok(names.length >= 3);
    await Deno.remove(join(dir, names[1]!));
    let err = await openExpectingCorruption(dir);
    assert.equal(err.file, join(dir, names[2]!));
    assert.equal(err.offset, 0);
    assert.match(err.message, /missing/);

    await Deno.remove(join(dir, names[0]!));
    err = await openExpectingCorruption(dir);
    assert.equal(err.file, join(dir, names[2]!));
    assert.match(err.message, /missing/);
  });
});

Deno.test("recovery: a commit index beyond the log means committed entries are missing", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 100 });
    for (let i = 1; i <= 12; i += 2) await s.save({ entries: range(i, i + 2) });
    await s.save({ entries: [], hardState: { term: 1, vote: "", commit: 12 } });
    await s.close();
    // Keep the hard state safe in its file, then lose the last segment.
    const r = await recoverDataDir(dir);
    assert.equal(r.hardState.commit, 12);
    await writeHardStateFile(dir, { seq: r.hardStateSeq, hardState: r.hardState });
    const last = r.segments[r.segments.length - 1]!;
    await Deno.remove(last.path);
    const err = await openExpectingCorruption(dir);
    assert.match(err.message, /commit|committed entries are missing/);
  });
});

Deno.test("recovery: an empty segment left by a crash during rotation is removed", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: range(1, 4) });
    await s.close();
    const empty = join(dir, segmentFileName(2, 4));
    Deno.writeFileSync(empty, new Uint8Array());
    const lines: Line[] = [];
    const r = await FileStorage.open(dir, { logger: (l) => lines.push(l) });
    assertLog(r, 3);
    assert.equal(lines[0]?.event, "torn_segment_removed");
    await r.save({ entries: range(4, 6) });
    await r.close();
    const again = await FileStorage.open(dir);
    assertLog(again, 5);
    await again.close();
  });
});

Deno.test("recovery: a zero-filled tail ends the log and is written over; a valid record after garbage is damage", async () => {
  await withDir(async (dir) => {
    const { path, ends } = await writeBatches(dir, [{ entries: range(1, 4) }]);
    const pristine = Deno.readFileSync(path);
    const withZeros = new Uint8Array(pristine.length + 4096);
    withZeros.set(pristine);
    Deno.writeFileSync(path, withZeros);
    const lines: Line[] = [];
    const s = await FileStorage.open(dir, { logger: (l) => lines.push(l), preallocateBytes: 0 });
    assertLog(s, 3);
    assert.equal(lines.length, 0, "nothing torn, nothing dropped");
    await s.save({ entries: range(4, 6) });
    await s.close();
    assert.equal(Deno.statSync(path).size, pristine.length + 4096, "the save went over the zeros");
    const again = await FileStorage.open(dir, { logger: (l) => lines.push(l) });
    assertLog(again, 5);
    assert.equal(lines.length, 0);
    await again.close();
    Deno.writeFileSync(path, pristine);

    // Garbage, then a complete valid record copied from the file: damage.
    const firstRecordStart = ends[0]!;
    const firstRecordEnd = ends[1]!;
    const garbage = new Uint8Array(pristine.length + 7 + (firstRecordEnd - firstRecordStart));
    garbage.set(pristine);
    garbage.set([1, 2, 3, 4, 5, 6, 7], pristine.length);
    garbage.set(pristine.subarray(firstRecordStart, firstRecordEnd), pristine.length + 7);
    Deno.writeFileSync(path, garbage);
    const err = await openExpectingCorruption(dir);
    assert.equal(err.offset, pristine.length);
    assert.match(err.message, /valid record follows/);
  });
});

Deno.test("recovery: damaged hard state or snapshot files stop the open", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.save({ entries: range(1, 4), hardState: { term: 1, vote: "", commit: 3 } });
    await s.createSnapshot(2, s.initialState().confState, new Uint8Array([1, 2]));
    await s.close();
    // The checkpoint file compaction and snapshot installs write.
    await writeHardStateFile(dir, { seq: 1, hardState: { term: 1, vote: "", commit: 3 } });
    for (const name of [HARD_STATE_FILE, SNAPSHOT_FILE]) {
      const path = join(dir, name);
      const pristine = Deno.readFileSync(path);
      const damaged = pristine.slice();
      damaged[damaged.length - 1]! ^= 0x80;
      Deno.writeFileSync(path, damaged);
      const err = await openExpectingCorruption(dir);
      assert.equal(err.file, path);
      Deno.writeFileSync(path, pristine);
    }
    const ok = await FileStorage.open(dir);
    assert.equal(ok.lastIndex(), 3);
    await ok.close();
  });
});

Deno.test("recovery: leftover temp files are removed and an interrupted snapshot install is finished", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { segmentBytes: 100 });
    for (let i = 1; i <= 10; i += 2) await s.save({ entries: range(i, i + 2) });
    await s.close();
    Deno.writeFileSync(join(dir, "snapshot.tmp"), new Uint8Array([1, 2, 3]));
    // The snapshot file landed, the old segments were not yet replaced.
    const confState = {
      voters: ["n1"],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    await writeSnapshotFile(dir, {
      metadata: { index: 30, term: 4, confState },
      data: new Uint8Array([9]),
    });
    const lines: Line[] = [];
    const r = await FileStorage.open(dir, { logger: (l) => lines.push(l) });
    assert.equal(r.firstIndex(), 31);
    assert.equal(r.lastIndex(), 30);
    assert.equal(r.term(30), 4);
    assert.equal(lines[0]?.event, "log_discarded_for_snapshot");
    assert.ok(!Deno.readDirSync(dir).some((e) => e.name.endsWith(".tmp")));
    await r.save({ entries: range(31, 33, 4) });
    await r.close();
    const again = await FileStorage.open(dir);
    assert.equal(again.lastIndex(), 32);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".wal"))
        .map((n) => parseSegmentFileName(n)?.firstIndex),
      [31],
    );
    await again.close();
  });
});
