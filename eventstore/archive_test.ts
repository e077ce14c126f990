import assert from "node:assert/strict";
import { FileArchive } from "./archive.ts";

Deno.test("FileArchive.replace writes entries of any size, read back whole after a reopen", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const sizes = [
      0,
      1,
      (1 << 20) + 5,
      ...Array.from({ length: 3000 }, (_, i) => (i * 997) % 1500),
      1 << 20,
      7,
    ];
    const entries = sizes.map((n, i) => ({
      index: 10 + i,
      data: new Uint8Array(n).map((_, k) => (k * 31 + i) & 0xff),
    }));
    const a = FileArchive.open(`${dir}/archive`);
    a.replace(entries);
    assert.equal(a.bytes, (await Deno.stat(`${dir}/archive`)).size);
    a.close();
    const b = FileArchive.open(`${dir}/archive`);
    try {
      assert.equal(b.size, entries.length);
      assert.equal(b.bytes, (await Deno.stat(`${dir}/archive`)).size);
      for (const e of entries) assert.deepEqual(b.get(e.index), e.data, `entry ${e.index}`);
      assert.deepEqual(b.slice(12, 1 << 20, (1 << 20) + 5), entries[2]!.data.subarray(1 << 20));
    } finally {
      b.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
