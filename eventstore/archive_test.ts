import assert from "node:assert/strict";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { Harness } from "./_harness_test.ts";
import { FileArchive, MemoryArchive } from "./archive.ts";
import { EventStoreStateMachine } from "./state_machine.ts";

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

Deno.test("A restart whose archive already holds a snapshot's entries reads none of them", async () => {
  // The state machine's restore only asks whether each entry is archived.
  const h = new Harness();
  for (let i = 0; i < 50; i++) h.append(`s${i % 3}`, [{ id: `e${i}`, type: "T", data: { i } }]);
  const snap = h.sm.backup();
  const chunks: Uint8Array[] = [];
  for await (const c of snap) chunks.push(c.slice());
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) (bytes.set(c, at), at += c.length);
  const storage = MemoryStorage.withVoters(["r"]);
  storage.applySnapshot({
    metadata: { index: h.index, term: 1, confState: storage.initialState().confState },
    data: bytes,
  });
  let reads = 0;
  const inner = new MemoryArchive();
  const counting = {
    get: (i: number) => (reads++, inner.get(i)),
    has: (i: number) => inner.has(i),
    replace: (e: readonly { index: number; data: Uint8Array }[]) => inner.replace(e),
    get size() {
      return inner.size;
    },
    close: () => inner.close(),
  };
  new EventStoreStateMachine({ storage, archive: counting }).restore(bytes);
  assert.equal(inner.size, 50, "the first start archives the entries");
  reads = 0;
  const again = new EventStoreStateMachine({ storage, archive: counting });
  again.restore(bytes);
  assert.equal(reads, 0, "a restart reads no archived entry to know it is there");
  assert.equal(again.readStream("s0").events.length, 17);
});
