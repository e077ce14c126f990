import assert from "node:assert/strict";
import { join } from "node:path";
import { confStateOf } from "../core/conf_state.ts";
import type { NodeBackup } from "../node_types.ts";
import fc from "fast-check";
import {
  BackupChecker,
  BackupFormatError,
  backupStream,
  DataDirNotEmptyError,
  readBackup,
  restoreDataDir,
} from "./backup_file.ts";
import { FileStorage } from "./file_storage.ts";

const backup = {
  metadata: { index: 41, term: 3, confState: confStateOf(["a", "b", "c"], ["d"]) },
  data: new Uint8Array(5000).map((_, i) => (i * 31) & 0xff),
} satisfies NodeBackup;

async function fileOf(b: NodeBackup): Promise<Uint8Array> {
  const stream = backupStream(b, { nodeId: "a", clusterId: "prod", createdAt: 1_700_000_000_000 });
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Chunks handed out one by one, remembering how far they were read and whether they were given up. */
function chunked(data: Uint8Array, size: number) {
  const seen = { read: 0, returned: false };
  let at = 0;
  const it: AsyncIterableIterator<Uint8Array> = {
    [Symbol.asyncIterator]: () => it,
    next() {
      if (at >= data.length) return Promise.resolve({ done: true, value: undefined });
      const c = data.subarray(at, at += size);
      seen.read += c.length;
      return Promise.resolve({ done: false, value: c });
    },
    return() {
      seen.returned = true;
      return Promise.resolve({ done: true, value: undefined });
    },
  };
  return { it, seen };
}

Deno.test("backup file: what is written reads back, header and data", async () => {
  const { info, backup: back } = readBackup(await fileOf(backup));
  assert.deepEqual(back.metadata, backup.metadata);
  assert.deepEqual(back.data, backup.data);
  assert.equal(info.nodeId, "a");
  assert.equal(info.clusterId, "prod");
  assert.equal(info.createdAt, 1_700_000_000_000);
  // The same file from the data in chunks.
  const { it } = chunked(backup.data, 777);
  const fromChunks = readBackup(await fileOf({ ...backup, data: it }));
  assert.deepEqual(fromChunks.backup.data, backup.data);
});

Deno.test("backup file: chunks are read as the stream is, and a reader that gives up ends them", async () => {
  const { it, seen } = chunked(backup.data, 100);
  const stream = backupStream({ ...backup, data: it }, { nodeId: "a", clusterId: "c" });
  const reader = stream.getReader();
  await reader.read(); // the header
  await reader.read(); // the first chunk
  assert.ok(seen.read <= 300, `read ahead: ${seen.read}`);
  await reader.cancel();
  assert.equal(seen.returned, true);
});

Deno.test("backup file: every kind of damage is refused with what is wrong", async () => {
  const good = await fileOf(backup);
  const headLen = good.length - backup.data.length - 20;
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(), /too short/],
    [
      "other file",
      new TextEncoder().encode("SQLite format 3\0 and more bytes"),
      /not a raftlog backup/,
    ],
    ["cut short", good.subarray(0, good.length - 1), /truncated \(no end marker\)/],
    ["cut short in the data", good.subarray(0, headLen + 4000), /truncated \(no end marker\)/],
    ["trailing bytes", new Uint8Array([...good, 0]), /no end marker/],
    ["truncated header", good.subarray(0, headLen - 5), /header is truncated/],
  ];
  const flipped = good.slice();
  flipped[headLen + 100]! ^= 1;
  cases.push(["a flipped data bit", flipped, /CRC-32 mismatch/]);
  const version = good.slice();
  version[8] = 2;
  cases.push(["a newer format", version, /version 2 is not known/]);
  const json = good.slice();
  json[headLen - 1] = 0x20; // the header's closing brace
  cases.push(["a damaged header", json, /header is damaged/]);
  const size = good.slice();
  size[good.length - 12]! ^= 1; // the size in the end marker
  cases.push(["a damaged size", size, /holds 5000 bytes of data where its end says/]);
  const fields = await fileOf({ ...backup, metadata: { ...backup.metadata, index: -1 } });
  cases.push(["a bad field", fields, /index is not a count/]);
  for (const [what, bytes, message] of cases) {
    assert.throws(() => readBackup(bytes), (e: unknown) => {
      assert.ok(e instanceof BackupFormatError, `${what}: ${e}`);
      assert.match(e.message, message, what);
      return true;
    });
  }
});

Deno.test("restoreDataDir: a fresh directory starts from the backup with the new membership", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = join(root, "x1");
    await restoreDataDir(dir, backup, ["x1", "x2", "x3"]);
    const s = await FileStorage.open(dir);
    try {
      const init = s.initialState();
      assert.deepEqual(init.confState, confStateOf(["x1", "x2", "x3"]));
      assert.deepEqual(init.hardState, { term: 3, vote: "", commit: 41 });
      assert.equal(s.firstIndex(), 42);
      assert.equal(s.lastIndex(), 41);
      assert.equal(s.term(41), 3);
      assert.deepEqual(s.snapshot().data, backup.data);
    } finally {
      await s.close();
    }
    // Never over something: a directory with data, even the restored one, is refused as it is.
    const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    await assert.rejects(restoreDataDir(dir, backup, ["x1"]), DataDirNotEmptyError);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), before);
    await assert.rejects(
      restoreDataDir(join(root, "y"), { ...backup, metadata: { ...backup.metadata, index: 0 } }, [
        "y",
      ]),
      /holds no entries/,
    );
    await assert.rejects(restoreDataDir(join(root, "z"), backup, []), /at least one voter/);
    // An empty directory is fine.
    await Deno.mkdir(join(root, "empty"));
    await restoreDataDir(join(root, "empty"), backup, ["e"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("BackupChecker: any split of a file into chunks passes intact and fails with any byte changed", async () => {
  const good = await fileOf(backup);
  const check = (bytes: Uint8Array, cuts: number[]) => {
    const c = new BackupChecker();
    let at = 0;
    for (const cut of [...cuts.map((x) => x % (bytes.length + 1))].sort((a, b) => a - b)) {
      c.push(bytes.subarray(at, Math.max(at, cut)));
      at = Math.max(at, cut);
    }
    c.push(bytes.subarray(at));
    return c.finish();
  };
  fc.assert(
    fc.property(
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      (cuts, at, flip) => {
        assert.equal(check(good, cuts).index, 41);
        const bad = good.slice();
        bad[at % bad.length]! ^= flip;
        assert.throws(() => check(bad, cuts), BackupFormatError);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("backupStream: a reader that reads nothing for idleMs loses the stream, and the chunks are given up", async () => {
  const { it, seen } = chunked(backup.data, 100);
  let gaveUp!: () => void;
  const given = new Promise<void>((r) => (gaveUp = r));
  const ret = it.return!.bind(it);
  it.return = () => (gaveUp(), ret());
  const reader = backupStream({ ...backup, data: it }, { nodeId: "a", clusterId: "c" }, {
    idleMs: 30,
  }).getReader();
  await reader.read(); // the header; then nothing
  await given;
  assert.equal(seen.returned, true);
  await assert.rejects(reader.read(), /read nothing for 30 ms/);
});
