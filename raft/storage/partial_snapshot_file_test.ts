import assert from "node:assert/strict";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import {
  PARTIAL_SNAPSHOT_FILE,
  PARTIAL_SNAPSHOT_HEADER_FILE,
  PartialSnapshotFile,
} from "./partial_snapshot_file.ts";
import { bytes, names, withDir } from "./_partial_harness_test.ts";

const DATA = bytes(5000);
const ID = { index: 40, term: 3, size: DATA.length, crc: crc32(DATA) };

/** A partial snapshot of DATA checkpointed at `at`, closed as a process exit leaves it. */
async function leave(dir: string, at: number): Promise<void> {
  const p = await PartialSnapshotFile.create(dir, ID, 3);
  assert.equal(await p.write(0, DATA.subarray(0, at)), true);
  await p.checkpoint();
  p.close();
}

Deno.test("PartialSnapshotFile: checkpointed bytes survive a reopen and the snapshot completes from there", async () => {
  await withDir(async (dir) => {
    const p = await PartialSnapshotFile.create(dir, ID, 3);
    await p.write(0, DATA.subarray(0, 1000));
    await p.write(1000, DATA.subarray(1000, 3000));
    p.leaderTerm = 4;
    await p.checkpoint();
    p.close();
    assert.deepEqual(names(dir), [PARTIAL_SNAPSHOT_FILE, PARTIAL_SNAPSHOT_HEADER_FILE]);
    const { partial, discarded } = await PartialSnapshotFile.open(dir);
    assert.equal(discarded, undefined);
    assert.ok(partial !== undefined);
    assert.deepEqual([partial.id, partial.offset, partial.leaderTerm], [ID, 3000, 4]);
    assert.equal(await partial.write(3000, DATA.subarray(3000)), true);
    assert.deepEqual(await partial.readAll(), DATA);
    await partial.remove();
    assert.deepEqual(names(dir), []);
  });
});

Deno.test("PartialSnapshotFile: bytes written after the last checkpoint are cut off on open", async () => {
  await withDir(async (dir) => {
    const p = await PartialSnapshotFile.create(dir, ID, 3);
    await p.write(0, DATA.subarray(0, 2000));
    await p.checkpoint();
    // A crash after these bytes reached the file, before the header named them.
    await p.write(2000, DATA.subarray(2000, 2500));
    p.close();
    const { partial } = await PartialSnapshotFile.open(dir);
    assert.equal(partial?.offset, 2000);
    assert.equal((await Deno.stat(join(dir, PARTIAL_SNAPSHOT_FILE))).size, 2000);
    partial.close();
  });
});

Deno.test("PartialSnapshotFile.open deletes bytes that never got a header", async () => {
  await withDir(async (dir) => {
    const p = await PartialSnapshotFile.create(dir, ID, 3);
    await p.write(0, DATA.subarray(0, 100));
    p.close();
    const { partial, discarded } = await PartialSnapshotFile.open(dir);
    assert.equal(partial, undefined);
    assert.match(discarded ?? "", /snapshot\.partial has no header/);
    assert.deepEqual(names(dir), []);
  });
});

Deno.test("PartialSnapshotFile.open deletes a partial snapshot with a damaged header", async () => {
  await withDir(async (dir) => {
    await leave(dir, 3000);
    const path = join(dir, PARTIAL_SNAPSHOT_HEADER_FILE);
    const header = await Deno.readFile(path);
    header[20]! ^= 0x40; // the snapshot's index
    await Deno.writeFile(path, header);
    const { partial, discarded } = await PartialSnapshotFile.open(dir);
    assert.equal(partial, undefined);
    assert.match(discarded ?? "", /snapshot\.partial\.header: its record is damaged/);
    assert.deepEqual(names(dir), []);
  });
});

Deno.test("PartialSnapshotFile.open deletes a header cut short (a torn write)", async () => {
  await withDir(async (dir) => {
    await leave(dir, 3000);
    const path = join(dir, PARTIAL_SNAPSHOT_HEADER_FILE);
    await Deno.truncate(path, 30);
    const { partial, discarded } = await PartialSnapshotFile.open(dir);
    assert.equal(partial, undefined);
    assert.match(discarded ?? "", /damaged/);
    assert.deepEqual(names(dir), []);
  });
});

Deno.test("PartialSnapshotFile.open deletes data shorter than its header says", async () => {
  await withDir(async (dir) => {
    await leave(dir, 3000);
    await Deno.truncate(join(dir, PARTIAL_SNAPSHOT_FILE), 2999);
    const { partial, discarded } = await PartialSnapshotFile.open(dir);
    assert.equal(partial, undefined);
    assert.match(discarded ?? "", /holds 2999 bytes, its header says 3000 arrived/);
    assert.deepEqual(names(dir), []);
  });
});

Deno.test("PartialSnapshotFile.open deletes data whose bytes do not match the header's checksum", async () => {
  await withDir(async (dir) => {
    await leave(dir, 3000);
    const path = join(dir, PARTIAL_SNAPSHOT_FILE);
    const data = await Deno.readFile(path);
    data[1234]! ^= 1;
    await Deno.writeFile(path, data);
    const { partial, discarded } = await PartialSnapshotFile.open(dir);
    assert.equal(partial, undefined);
    assert.match(discarded ?? "", /first 3000 bytes do not match the header's checksum/);
    assert.deepEqual(names(dir), []);
  });
});

Deno.test("PartialSnapshotFile.open keeps the last checkpoint when a header replace was cut short", async () => {
  await withDir(async (dir) => {
    await leave(dir, 3000);
    // What a crash inside the header's atomic replace leaves: a temp file beside the header.
    await Deno.writeFile(join(dir, `${PARTIAL_SNAPSHOT_HEADER_FILE}.tmp`), bytes(20, 9));
    const { partial, discarded } = await PartialSnapshotFile.open(dir);
    assert.equal(discarded, undefined);
    assert.equal(partial?.offset, 3000);
    partial.close();
  });
});

Deno.test("PartialSnapshotFile.create replaces the partial snapshot there", async () => {
  await withDir(async (dir) => {
    await leave(dir, 3000);
    const other = bytes(100, 7);
    const p = await PartialSnapshotFile.create(
      dir,
      { index: 50, term: 4, size: 100, crc: crc32(other) },
      4,
    );
    assert.equal(p.offset, 0);
    await p.write(0, other.subarray(0, 10));
    await p.checkpoint();
    p.close();
    const { partial } = await PartialSnapshotFile.open(dir);
    assert.deepEqual([partial?.id.index, partial?.offset], [50, 10]);
    assert.equal((await Deno.stat(join(dir, PARTIAL_SNAPSHOT_FILE))).size, 10);
    partial!.close();
  });
});

Deno.test("PartialSnapshotFile.write refuses bytes not at the end, and past the snapshot's size", async () => {
  await withDir(async (dir) => {
    const p = await PartialSnapshotFile.create(dir, ID, 3);
    try {
      assert.equal(await p.write(10, DATA.subarray(10, 20)), false);
      assert.equal(p.offset, 0);
      await p.write(0, DATA.subarray(0, 4990));
      await assert.rejects(p.write(4990, bytes(11)), RangeError);
      assert.equal(p.offset, 4990);
      await assert.rejects(
        PartialSnapshotFile.create(dir, { ...ID, crc: 2 ** 32 }, 3),
        RangeError,
      );
    } finally {
      p.close();
    }
  });
});
