import assert from "node:assert/strict";
import { CompactedError, UnavailableError } from "../core/errors.ts";
import type { Entry } from "../core/types.ts";
import { MemoryStorage } from "./memory_storage.ts";
import type { WritableStorage } from "./writable_storage.ts";

const ent = (index: number, term = 1): Entry => ({
  index,
  term,
  type: "normal",
  data: new Uint8Array([index & 0xff]),
});

Deno.test("MemoryStorage.save applies snapshot, entries, then hard state", async () => {
  const s: WritableStorage = MemoryStorage.withVoters(["n1"]);
  await s.save({
    entries: [ent(1), ent(2), ent(3)],
    hardState: { term: 1, vote: "n1", commit: 2 },
  });
  assert.equal(s.lastIndex(), 3);
  assert.deepEqual(s.initialState().hardState, { term: 1, vote: "n1", commit: 2 });
  await s.save({ entries: [ent(3, 2)] });
  assert.equal(s.term(3), 2);
  await s.save({
    snapshot: {
      metadata: { index: 10, term: 3, confState: s.initialState().confState },
      data: new Uint8Array(),
    },
    entries: [ent(11, 3)],
  });
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 11);
  await s.close();
});

Deno.test("MemoryStorage async createSnapshot and compact reject like the sync forms throw", async () => {
  const s = MemoryStorage.withVoters(["n1"]);
  await s.save({ entries: [ent(1), ent(2), ent(3)] });
  await assert.rejects(
    s.createSnapshot(5, s.initialState().confState, new Uint8Array()),
    UnavailableError,
  );
  const snap = await s.createSnapshot(2, s.initialState().confState, new Uint8Array([1]));
  assert.equal(snap.metadata.index, 2);
  await s.compact(2);
  assert.throws(() => s.entries(2, 3), CompactedError);
  await assert.rejects(s.compact(9), UnavailableError);
  s.compactSync(3);
  assert.equal(s.firstIndex(), 4);
});
