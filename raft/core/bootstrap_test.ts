import assert from "node:assert/strict";
import { decodeConfChange } from "./confchange.ts";
import { RawNode } from "./raw_node.ts";
import { MemoryStorage } from "../storage/memory_storage.ts";

Deno.test("RawNode.bootstrap writes the initial membership as identical committed entries on every member", () => {
  const ids = ["n2", "n1", "n3"];
  const readies = ids.map((id) => {
    const n = new RawNode({ id, storage: MemoryStorage.withVoters(ids, ["l1"]) });
    assert.equal(n.bootstrap(), true);
    assert.equal(n.bootstrap(), false, "only once");
    return n.ready();
  });
  const first = readies[0]!;
  assert.deepEqual(first.entries.map((e) => [e.index, e.term, e.type]), [
    [1, 1, "confChange"],
    [2, 1, "confChange"],
    [3, 1, "confChange"],
    [4, 1, "confChange"],
  ]);
  assert.deepEqual(
    first.entries.map((e) => decodeConfChange(e.data).changes[0]),
    [
      { type: "addVoter", nodeId: "n1" },
      { type: "addVoter", nodeId: "n2" },
      { type: "addVoter", nodeId: "n3" },
      { type: "addLearner", nodeId: "l1" },
    ],
  );
  assert.deepEqual(first.hardState, { term: 1, vote: "", commit: 4 });
  assert.equal(first.committedEntries.length, 4);
  for (const rd of readies) {
    assert.deepEqual(rd.entries, first.entries, "Log Matching across members");
  }
});

Deno.test("RawNode.bootstrap does nothing for a joining node or a used log", () => {
  assert.equal(new RawNode({ id: "n4", storage: new MemoryStorage() }).bootstrap(), false);
  const s = MemoryStorage.withVoters(["n1"]);
  s.append([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
  s.setHardState({ term: 1, vote: "n1", commit: 1 });
  assert.equal(new RawNode({ id: "n1", storage: s }).bootstrap(), false);
});
