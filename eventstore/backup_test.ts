import assert from "node:assert/strict";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { Harness } from "./_harness_test.ts";
import { MemoryArchive } from "./archive.ts";
import { EventStoreStateMachine, toRecordedEvent } from "./state_machine.ts";
import { encodeKvCommand, KvStateMachine } from "../raft/testing/kv_state_machine.ts";

const ev = (id: string, data: unknown = null) => ({ id, type: "T", data });

async function collect(it: AsyncIterableIterator<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(c.slice());
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

/** A store of `n` appends of 100 events of ~1 KiB each: enough to span several chunks. */
function bigStore(n: number): Harness {
  const h = new Harness();
  for (let i = 0; i < n; i++) {
    h.append(
      `s${i % 4}`,
      Array.from({ length: 100 }, (_, k) => ev(`e${i}-${k}`, { i, k, pad: "p".repeat(1000) })),
    );
  }
  return h;
}

Deno.test("EventStoreStateMachine.backup(): chunks that a node whose log starts after them reads every event from", async () => {
  const h = bigStore(30);
  h.delete("s3");
  const parts = await collect(h.sm.backup());
  assert.ok(parts.length >= 3, `${parts.length} chunks for ~3 MiB`);
  assert.ok(parts.every((p) => p.length <= (1 << 20) + 200_000), "chunks stay about 1 MiB");
  // A restored cluster's node: its log starts after the backup's index.
  const storage = MemoryStorage.withVoters(["r1"]);
  storage.applySnapshot({
    metadata: { index: h.index, term: 1, confState: storage.initialState().confState },
    data: concat(parts),
  });
  const archive = new MemoryArchive();
  const restored = new EventStoreStateMachine({ storage, archive });
  restored.restore(concat(parts));
  assert.equal(restored.lastPosition, h.sm.lastPosition);
  for (const s of ["s0", "s1", "s2"]) {
    assert.deepEqual(
      restored.readStream(s, { limit: 10_000 }).events.map((e) => toRecordedEvent(e)),
      h.sm.readStream(s, { limit: 10_000 }).events.map((e) => toRecordedEvent(e)),
    );
  }
  assert.throws(() => restored.readStream("s3"), /does not exist/);
  // Without the entries (a plain snapshot of a never-compacted log) the events are not there.
  const plain = new EventStoreStateMachine({
    storage: (() => {
      const st = MemoryStorage.withVoters(["r2"]);
      st.applySnapshot({
        metadata: { index: h.index, term: 1, confState: st.initialState().confState },
        data: h.sm.snapshot(),
      });
      return st;
    })(),
    archive: new MemoryArchive(),
  });
  plain.restore(h.sm.snapshot());
  assert.throws(() => plain.readStream("s0").events.map((e) => toRecordedEvent(e)));
});

Deno.test("EventStoreStateMachine.backup(): the log is kept from its entries until it is read or given up", async () => {
  const h = new Harness();
  const append = (i: number) =>
    h.append("s", Array.from({ length: 10 }, (_, k) => ev(`e${i}-${k}`, { i, k })));
  for (let i = 0; i < 20; i++) append(i);
  h.setMetadata("s", { maxCount: 10 }); // only the last append's events live
  const first = h.sm.retainFrom();
  assert.equal(first, h.index - 1, "the last append's entry");
  for (const end of ["given up", "read to the end"]) {
    const pin = h.sm.retainFrom();
    const it = h.sm.backup();
    await it.next(); // the index
    // Retention moves on while the backup is read; the log stays from its first entry.
    for (let i = 0; i < 3; i++) append(100 + i);
    assert.equal(h.sm.retainFrom(), pin, end);
    if (end === "given up") await it.return!();
    else while (!(await it.next()).done);
    assert.equal(h.sm.retainFrom(), h.index, `${end}: the log may go again`);
  }
});

Deno.test("EventStoreStateMachine.backup(): fails once a snapshot replaced the state it was taken of", async () => {
  const h = bigStore(30);
  h.setMetadata("s0", { maxCount: 1 });
  const snap = h.sm.snapshot();
  const free = h.sm.retainFrom();
  const it = h.sm.backup();
  await it.next();
  h.sm.restore(snap);
  await assert.rejects(it.next(), /installed a snapshot while the backup was read/);
  // And it let go of the log.
  assert.equal(h.sm.retainFrom(), free);
});

Deno.test("a state restored into the other application is refused, naming --app", () => {
  const h = new Harness();
  h.append("s", [ev("e1")]);
  const kv = new KvStateMachine();
  kv.apply([{
    index: 1,
    term: 1,
    id: "",
    timestamp: 0,
    payload: encodeKvCommand({ op: "put", key: "a", value: "1" }),
  }]);
  assert.throws(() => h.sm.restore(kv.snapshot()), /not an event store snapshot.*--app/);
  assert.throws(() => kv.restore(h.sm.snapshot()), /not a key-value snapshot.*--app/);
  assert.equal(h.sm.readStream("s").events.length, 1, "the state is left as it was");
  assert.equal(kv.get("a"), "1");
});
