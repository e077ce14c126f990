import assert from "node:assert/strict";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { runCheckCli } from "./check_cli.ts";
import { checkDataDir, formatDataDirReport } from "./check_data_dir.ts";
import { FileStorage } from "./file_storage.ts";
import {
  PARTIAL_SNAPSHOT_FILE,
  PARTIAL_SNAPSHOT_HEADER_FILE,
  PartialSnapshotFile,
} from "./partial_snapshot_file.ts";
import { segmentFileName } from "./segment.ts";
import { CorruptLogError, DataDirInUseError } from "./storage_errors.ts";

const CONF = {
  voters: ["n1", "n2"],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-check-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function fill(dir: string): Promise<void> {
  const s = await FileStorage.open(dir, { segmentBytes: 200, bootstrap: CONF });
  for (let i = 1; i <= 20; i += 2) {
    await s.save({
      entries: [i, i + 1].map((index) => ({
        index,
        term: 2,
        type: "normal" as const,
        data: new Uint8Array(20),
      })),
      hardState: { term: 2, vote: "n1", commit: i + 1 },
    });
  }
  await s.createSnapshot(10, CONF, new Uint8Array(5));
  await s.close();
}

Deno.test("checkDataDir reports log range, hard state, snapshot and segments", async () => {
  await withDir(async (dir) => {
    await fill(dir);
    const r = await checkDataDir(dir);
    assert.equal(r.firstIndex, 1);
    assert.equal(r.lastIndex, 20);
    assert.equal(r.lastTerm, 2);
    assert.deepEqual(r.hardState, { term: 2, vote: "n1", commit: 20 });
    assert.deepEqual(r.snapshot, { index: 10, term: 2, confState: CONF, bytes: 5 });
    assert.ok(r.segments.length > 1);
    assert.equal(r.segments.reduce((n, s) => n + s.entries, 0), 20);
    assert.equal(r.segments[0]!.name, segmentFileName(1, 1));
    for (const s of r.segments) assert.equal(s.bytes, Deno.statSync(join(dir, s.name)).size);
    assert.deepEqual(r.warnings, []);
    const text = formatDataDirReport(r);
    assert.match(text, /last index 20/);
    assert.match(text, /hard state: term 2, vote n1, commit 20/);
    assert.match(text, /snapshot: index 10, term 2, 5 bytes, voters \[n1, n2\]/);
  });
});

Deno.test("checkDataDir warns about a torn tail without changing any file", async () => {
  await withDir(async (dir) => {
    await fill(dir);
    const r0 = await checkDataDir(dir);
    const last = join(dir, r0.segments[r0.segments.length - 1]!.name);
    const f = await Deno.open(last, { append: true });
    await f.write(new Uint8Array([40, 0, 0, 0, 1]));
    f.close();
    const size = Deno.statSync(last).size;
    const r = await checkDataDir(dir);
    assert.equal(r.lastIndex, 20);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /torn write/);
    assert.equal(Deno.statSync(last).size, size, "the checker changes nothing");
  });
});

Deno.test("checkDataDir throws CorruptLogError with file and offset on damage", async () => {
  await withDir(async (dir) => {
    await fill(dir);
    const first = join(dir, segmentFileName(1, 1));
    const bytes = Deno.readFileSync(first);
    bytes[40]! ^= 0xff;
    Deno.writeFileSync(first, bytes);
    await assert.rejects(checkDataDir(dir), (err: unknown) => {
      assert.ok(err instanceof CorruptLogError);
      assert.equal(err.file, first);
      assert.equal(err.offset, 34);
      return true;
    });
  });
});

Deno.test("checkDataDir refuses a directory a running node holds, and a missing one", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await assert.rejects(checkDataDir(dir), DataDirInUseError);
    await s.close();
    await checkDataDir(dir);
    await assert.rejects(checkDataDir(join(dir, "nope")), Deno.errors.NotFound);
    await assert.rejects(checkDataDir(""), TypeError);
  });
});

Deno.test("runCheckCli exits 0 when sound, 1 on corruption, 2 on bad usage", async () => {
  await withDir(async (dir) => {
    await fill(dir);
    const log = console.log;
    const error = console.error;
    const out: string[] = [];
    console.log = (...a: unknown[]) => out.push(a.join(" "));
    console.error = (...a: unknown[]) => out.push(a.join(" "));
    try {
      assert.equal(await runCheckCli([dir]), 0);
      assert.equal(await runCheckCli([dir, "--json"]), 0);
      assert.equal(JSON.parse(out[1]!).lastIndex, 20);
      assert.equal(await runCheckCli([]), 2);
      assert.equal(await runCheckCli([dir, "--bogus"]), 2);
      const first = join(dir, segmentFileName(1, 1));
      const bytes = Deno.readFileSync(first);
      bytes[bytes.length - 1]! ^= 0xff;
      Deno.writeFileSync(first, bytes);
      assert.equal(await runCheckCli([dir]), 1);
      assert.match(
        out[out.length - 1]!,
        /^deno task check-data: Corrupt data in .* at byte offset \d+/,
      );
      assert.equal(await runCheckCli([], "raftlog check"), 2);
      assert.equal(out[out.length - 1], "usage: raftlog check <data-dir> [--json]");
    } finally {
      console.log = log;
      console.error = error;
    }
  });
});

Deno.test("checkDataDir reports a partial snapshot, and what the node will do with it, changing nothing", () =>
  withDir(async (dir) => {
    const s = await FileStorage.open(dir);
    await s.close();
    const data = new Uint8Array(1000).map((_, i) => i & 0xff);
    const p = await PartialSnapshotFile.create(
      dir,
      { index: 40, term: 3, size: data.length, crc: crc32(data) },
      3,
    );
    await p.write(0, data.subarray(0, 600));
    await p.checkpoint();
    await p.write(600, data.subarray(600, 700)); // never checkpointed
    p.close();
    const partialPath = join(dir, PARTIAL_SNAPSHOT_FILE);
    let r = await checkDataDir(dir);
    assert.deepEqual(r.partialSnapshot, { index: 40, term: 3, size: 1000, received: 600 });
    assert.ok(r.warnings.some((w) => /100 bytes past its recorded offset/.test(w)));
    assert.match(formatDataDirReport(r), /partial snapshot: index 40, term 3, 600 of 1000 bytes/);
    assert.equal((await Deno.stat(partialPath)).size, 700, "nothing was cut off");
    // A damaged header: reported, not deleted.
    await Deno.writeFile(join(dir, PARTIAL_SNAPSHOT_HEADER_FILE), new Uint8Array(10));
    r = await checkDataDir(dir);
    assert.equal(r.partialSnapshot, null);
    assert.ok(r.warnings.some((w) => /partial snapshot: .*the node will delete it/.test(w)));
    assert.equal((await Deno.stat(partialPath)).size, 700);
  }));
