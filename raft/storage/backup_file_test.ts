import assert from "node:assert/strict";
import { join } from "node:path";
import { confStateOf } from "../core/conf_state.ts";
import type { NodeBackup } from "../node_types.ts";
import {
  BackupFormatError,
  backupHeader,
  DataDirNotEmptyError,
  readBackup,
  restoreDataDir,
} from "./backup_file.ts";
import { FileStorage } from "./file_storage.ts";

const backup: NodeBackup = {
  metadata: { index: 41, term: 3, confState: confStateOf(["a", "b", "c"], ["d"]) },
  data: new Uint8Array(5000).map((_, i) => (i * 31) & 0xff),
};

function fileOf(b: NodeBackup): Uint8Array {
  const head = backupHeader(b, { nodeId: "a", clusterId: "prod", createdAt: 1_700_000_000_000 });
  const out = new Uint8Array(head.length + b.data.length);
  out.set(head);
  out.set(b.data, head.length);
  return out;
}

Deno.test("backup file: what is written reads back, header and data", () => {
  const { info, backup: back } = readBackup(fileOf(backup));
  assert.deepEqual(back.metadata, backup.metadata);
  assert.deepEqual(back.data, backup.data);
  assert.equal(info.nodeId, "a");
  assert.equal(info.clusterId, "prod");
  assert.equal(info.createdAt, 1_700_000_000_000);
  assert.equal(info.size, 5000);
});

Deno.test("backup file: every kind of damage is refused with what is wrong", () => {
  const good = fileOf(backup);
  const headLen = good.length - backup.data.length;
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(), /too short/],
    [
      "other file",
      new TextEncoder().encode("SQLite format 3\0 and more bytes"),
      /not a raftlog backup/,
    ],
    ["truncated data", good.subarray(0, good.length - 1), /truncated/],
    ["trailing bytes", new Uint8Array([...good, 0]), /trailing bytes/],
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
  const fields = fileOf({ ...backup, metadata: { ...backup.metadata, index: -1 } });
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
