import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeConfChange } from "../raft/core/confchange.ts";
import type { ConfChangeSingle } from "../raft/core/confchange.ts";
import { confStateOf } from "../raft/core/conf_state.ts";
import type { Entry } from "../raft/core/types.ts";
import { FileStorage } from "../raft/storage/file_storage.ts";
import { type ClusterNode, memberTable, planResume } from "./cluster_members.ts";

const URL3_ELSEWHERE = "http://127.0.0.1:7013";

function conf(index: number, c: ConfChangeSingle): Entry {
  return { index, term: 1, type: "confChange", data: encodeConfChange({ changes: [c] }) };
}

/** The log every node of the test holds: n1..n3, then n3 removed (4) and added again (5). */
const LOG: Entry[] = [
  conf(1, { type: "addVoter", nodeId: "n1" }),
  conf(2, { type: "addVoter", nodeId: "n2" }),
  conf(3, { type: "addVoter", nodeId: "n3" }),
  conf(4, { type: "removeNode", nodeId: "n3" }),
  conf(5, { type: "addLearner", nodeId: "n3" }),
];

/** The script's three nodes, their directories holding LOG up to `upTo`, committed up to `commit`. */
async function nodesWith(
  dir: string,
  logs: readonly { upTo: number; commit: number; peers?: Record<string, string> }[],
): Promise<ClusterNode[]> {
  return await Promise.all(logs.map(async ({ upTo, commit, peers }, i) => {
    const node = {
      id: `n${i + 1}`,
      url: `http://127.0.0.1:${7001 + i}`,
      dataDir: join(dir, `n${i + 1}`),
    };
    const s = await FileStorage.open(node.dataDir, {
      bootstrap: confStateOf(["n1", "n2", "n3"]),
    });
    await s.save({
      entries: LOG.slice(0, upTo),
      hardState: { term: 1, vote: "", commit },
    });
    await s.close();
    if (peers) await Deno.writeTextFile(join(node.dataDir, "peers.json"), JSON.stringify(peers));
    return node;
  }));
}

Deno.test("planResume leaves out a node that was removed, going by the highest commit index", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-cluster-members-" });
  try {
    // n3 never learned that its removal committed; n2 has it, n1 lags.
    const nodes = await nodesWith(dir, [
      { upTo: 4, commit: 3 },
      { upTo: 4, commit: 4 },
      { upTo: 4, commit: 3 },
    ]);
    const plan = await planResume(nodes);
    assert.deepEqual(plan.start.map((n) => n.id), ["n1", "n2"]);
    assert.deepEqual(plan.skip.map((s) => [s.node.id, s.why]), [["n3", "removed"]]);
    assert.match(plan.skip[0]!.reason, /index 4 in n2's data directory lists n1, n2\)/);
    assert.deepEqual(plan.members, [
      { id: "n1", url: "http://127.0.0.1:7001", role: "voter" },
      { id: "n2", url: "http://127.0.0.1:7002", role: "voter" },
    ]);
    assert.deepEqual(plan.warnings, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("planResume leaves out a node whose id was added again at another URL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-cluster-members-" });
  try {
    const nodes = await nodesWith(dir, [
      { upTo: 5, commit: 5, peers: { n1: "http://127.0.0.1:7001", n3: URL3_ELSEWHERE } },
      { upTo: 5, commit: 5 },
      { upTo: 3, commit: 3, peers: { n3: "http://127.0.0.1:7003" } },
    ]);
    const plan = await planResume(nodes);
    assert.deepEqual(plan.start.map((n) => n.id), ["n1", "n2"]);
    assert.deepEqual(plan.skip.map((s) => [s.node.id, s.why]), [["n3", "elsewhere"]]);
    assert.deepEqual(plan.members?.find((m) => m.id === "n3"), {
      id: "n3",
      url: URL3_ELSEWHERE,
      role: "learner",
    });
    const rows = memberTable(plan.members!, { started: ["n1", "n2"], leader: "n2" });
    assert.deepEqual(rows.map((r) => r.split(/\s{2,}/).slice(1)), [
      ["n1", "http://127.0.0.1:7001", "voter"],
      ["n2", "http://127.0.0.1:7002", "voter", "(leader)"],
      ["n3", URL3_ELSEWHERE, "learner", "not started by this script"],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("planResume starts every node when no data directory holds a membership", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-cluster-members-" });
  try {
    const nodes = [1, 2].map((i) => ({
      id: `n${i}`,
      url: `http://127.0.0.1:${7000 + i}`,
      dataDir: join(dir, `n${i}`),
    }));
    await Deno.mkdir(nodes[1]!.dataDir);
    const plan = await planResume(nodes);
    assert.deepEqual(plan.start, nodes);
    assert.equal(plan.members, undefined);
    assert.deepEqual(plan.skip, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
