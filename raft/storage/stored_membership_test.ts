import assert from "node:assert/strict";
import { encodeConfChange } from "../core/confchange.ts";
import { confStateOf } from "../core/conf_state.ts";
import type { ConfChangeSingle } from "../core/confchange.ts";
import type { Entry } from "../core/types.ts";
import { FileStorage } from "./file_storage.ts";
import { DataDirInUseError } from "./storage_errors.ts";
import { readStoredMembership } from "./stored_membership.ts";

function conf(index: number, ...changes: ConfChangeSingle[]): Entry {
  return { index, term: 1, type: "confChange", data: encodeConfChange({ changes }) };
}

function normal(index: number): Entry {
  return { index, term: 1, type: "normal", data: new Uint8Array([index]) };
}

const voters = (ids: string[]) => ids.map((nodeId) => ({ type: "addVoter" as const, nodeId }));

Deno.test("readStoredMembership applies the committed membership changes after the snapshot, not later ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-stored-membership-" });
  try {
    // One segment per save, so that compacting drops the first batch's file.
    const opts = { segmentBytes: 1, bootstrap: confStateOf(["n1", "n2", "n3"]) };
    const s = await FileStorage.open(dir, opts);
    await s.save({
      entries: [
        ...voters(["n1", "n2", "n3"]).map((c, i) => conf(i + 1, c)),
        normal(4),
        conf(5, { type: "addLearner", nodeId: "n4" }),
        conf(6, { type: "removeNode", nodeId: "n3" }),
      ],
      hardState: { term: 1, vote: "n1", commit: 6 },
    });
    await s.save({ entries: [conf(7, { type: "addVoter", nodeId: "n4" })] });
    await s.close();
    // Index 7 (n4 a voter) is not committed: a later leader may replace it.
    const m = await readStoredMembership(dir);
    assert.equal(m?.commit, 6);
    assert.deepEqual(m?.confState, confStateOf(["n1", "n2"], ["n4"]));

    // Entries up to a snapshot may be gone: its membership is where the changes start from.
    const again = await FileStorage.open(dir, opts);
    await again.save({ entries: [], hardState: { term: 1, vote: "n1", commit: 7 } });
    await again.createSnapshot(6, confStateOf(["n1", "n2"], ["n4"]), new Uint8Array([1]));
    await again.compact(6);
    assert.equal(again.firstIndex(), 7);
    const held = await readStoredMembership(dir).catch((e) => e);
    assert.ok(held instanceof DataDirInUseError, "a node runs on it");
    await again.close();
    assert.deepEqual(await readStoredMembership(dir), {
      commit: 7,
      confState: confStateOf(["n1", "n2", "n4"]),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readStoredMembership of a missing or empty directory is undefined; a joiner's log starts empty", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-stored-membership-" });
  try {
    assert.equal(await readStoredMembership(`${dir}/missing`), undefined);
    assert.equal(await readStoredMembership(dir), undefined);
    // A node that joined has no bootstrap snapshot: the membership comes from its log.
    const s = await FileStorage.open(dir);
    await s.save({
      entries: [conf(1, ...voters(["n1"])), conf(2, { type: "addLearner", nodeId: "n2" })],
      hardState: { term: 1, vote: "", commit: 2 },
    });
    await s.close();
    assert.deepEqual((await readStoredMembership(dir))?.confState, confStateOf(["n1"], ["n2"]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
