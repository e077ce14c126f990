/**
 * Membership changes on a running HTTP cluster: a new node joins as a
 * learner, catches up, is promoted, and the old leader is removed.
 */
import assert from "node:assert/strict";
import type { RaftNode } from "../raft/node.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { type KvResult, KvStateMachine } from "../raft/testing/kv_state_machine.ts";
import { kvRoutes } from "../transport/kv_routes.ts";
import { type ServedNode, serveNode } from "../transport/server.ts";
import { fetchJson, freePort, waitFor } from "./helpers.ts";

const SECRET = "membership-secret";

async function start(
  id: string,
  port: number,
  peers: Record<string, string>,
  storage: MemoryStorage,
  kvs: Map<string, KvStateMachine>,
  raft: { maxSizePerMsg?: number; maxInflightMsgs?: number } = {},
): Promise<ServedNode<KvResult>> {
  const kv = new KvStateMachine();
  kvs.set(id, kv);
  return await serveNode<KvResult>({
    id,
    hostname: "127.0.0.1",
    port,
    peers,
    clusterId: "m",
    secret: SECRET,
    storage,
    stateMachine: kv,
    tickMs: 10,
    requestTimeoutMs: 3000,
    raft,
    routes: (node, metrics) => [kvRoutes(node as RaftNode<KvResult>, kv, metrics)],
  });
}

/**
 * Starts voters n1-n3 on their own ports; `spare` more free ports come after
 * theirs in `ports` (for nodes a test adds).
 */
async function startVoters(spare: number) {
  const ids = ["n1", "n2", "n3"];
  const ports = Array.from({ length: ids.length + spare }, () => freePort());
  const peers = Object.fromEntries(ids.map((id, i) => [id, `http://127.0.0.1:${ports[i]}`]));
  const kvs = new Map<string, KvStateMachine>();
  const nodes = await Promise.all(
    ids.map((id, i) => start(id, ports[i]!, peers, MemoryStorage.withVoters(ids), kvs)),
  );
  return { ports, peers, kvs, nodes };
}

async function put(url: string, key: string, value: string) {
  return await fetchJson(`${url}/commands`, {
    method: "POST",
    body: JSON.stringify({ op: "put", key, value }),
  });
}

Deno.test("§4.1 a node joins as a learner, is promoted to voter, and the old leader is removed", async () => {
  const { ports, peers, kvs, nodes } = await startVoters(1);
  let joiner: ServedNode<KvResult> | undefined;
  try {
    const leader = await waitFor("a leader", () => nodes.find((s) => s.node.role === "leader"));
    for (let i = 0; i < 10; i++) {
      assert.equal((await put(leader.url, `k${i}`, `v${i}`)).status, 200);
    }

    // The joiner starts empty: it knows no membership and learns it from the log.
    const n4url = `http://127.0.0.1:${ports[3]}`;
    joiner = await start("n4", ports[3]!, { ...peers, n4: n4url }, new MemoryStorage(), kvs);
    const asLearner = await leader.node.changeMembership([{ type: "addLearner", nodeId: "n4" }], {
      context: n4url,
    });
    assert.deepEqual(asLearner.learners, ["n4"]);
    await waitFor("n4 catches up", () => kvs.get("n4")!.get("k9") === "v9");
    assert.deepEqual([...joiner.node.status().confState.voters], ["n1", "n2", "n3"]);

    const asVoter = await leader.node.changeMembership([{ type: "addVoter", nodeId: "n4" }]);
    assert.deepEqual(asVoter.voters, ["n1", "n2", "n3", "n4"]);

    const old = leader.node.id;
    const after = await leader.node.changeMembership([{ type: "removeNode", nodeId: old }]);
    assert.ok(!after.voters.includes(old));
    const rest = [...nodes.filter((s) => s !== leader), joiner];
    const next = await waitFor(
      "a leader among the remaining members",
      () => rest.find((s) => s.node.role === "leader"),
    );
    assert.notEqual(next.node.id, old);
    assert.equal((await put(next.url, "after", "yes")).status, 200);
    await waitFor(
      "every remaining member applies the write",
      () => rest.every((s) => kvs.get(s.node.id)!.get("after") === "yes"),
    );
    assert.notEqual(leader.node.role, "leader", "the removed leader stepped down");
  } finally {
    await Promise.all([...nodes, ...(joiner ? [joiner] : [])].map((s) => s.stop()));
  }
});

Deno.test("a node joining while the leader is a member removed and added again under its id catches up (it replays the old removal)", async () => {
  const ids = ["n1", "n2", "n3"];
  const ports = [...ids, "n4"].map(() => freePort());
  const url = (i: number) => `http://127.0.0.1:${ports[i]}`;
  const peers = Object.fromEntries(ids.map((id, i) => [id, url(i)]));
  const kvs = new Map<string, KvStateMachine>();
  // One entry per append, one append in flight: the joiner applies the old removal of today's
  // leader before it has the entry that added it again.
  const small = { maxSizePerMsg: 1, maxInflightMsgs: 1 };
  const nodes = new Map<string, ServedNode<KvResult>>();
  const all = () => [...nodes.values()];
  try {
    for (const [i, id] of ids.entries()) {
      nodes.set(id, await start(id, ports[i]!, peers, MemoryStorage.withVoters(ids), kvs, small));
    }
    let leader = await waitFor("a leader", () => all().find((s) => s.node.role === "leader"));
    const gone = ids.find((id) => id !== leader.node.id)!;
    const goneAt = ids.indexOf(gone);
    await leader.node.changeMembership([{ type: "removeNode", nodeId: gone }]);
    await nodes.get(gone)!.stop();
    nodes.delete(gone);
    for (let i = 0; i < 5; i++) assert.equal((await put(leader.url, `a${i}`, "x")).status, 200);
    // The same id comes back with an empty log, as a voter.
    const back = await start(gone, ports[goneAt]!, peers, new MemoryStorage(), kvs, small);
    nodes.set(gone, back);
    await leader.node.changeMembership([{ type: "addLearner", nodeId: gone }], {
      context: url(goneAt),
    });
    await waitFor("the returning node catches up", () => kvs.get(gone)!.get("a4") === "x");
    await leader.node.changeMembership([{ type: "addVoter", nodeId: gone }]);
    const before = leader;
    leader = await waitFor("the returning node leads", () => {
      if (back.node.role === "leader") return back;
      if (before.node.role === "leader") before.node.transferLeadership(gone);
      return undefined;
    });
    assert.equal((await put(leader.url, "b", "y")).status, 200);
    // n4 joins: replaying the log, it applies the removal of its leader long before the re-add.
    const joiner = await start(
      "n4",
      ports[3]!,
      { ...peers, n4: url(3) },
      new MemoryStorage(),
      kvs,
      small,
    );
    nodes.set("n4", joiner);
    await leader.node.changeMembership([{ type: "addLearner", nodeId: "n4" }], { context: url(3) });
    await waitFor("n4 catches up", () => kvs.get("n4")!.get("b") === "y", 10_000);
    assert.equal(joiner.node.removed, false);
  } finally {
    await Promise.all(all().map((s) => s.stop()));
  }
});

Deno.test("a learner removed while cut off, whose writes the leader refuses, answers its clients that it was removed", async () => {
  // Ports: the voters', n4's, and a closed one.
  const { ports, peers, kvs, nodes } = await startVoters(2);
  let learner: ServedNode<KvResult> | undefined;
  try {
    const leader = await waitFor("a leader", () => nodes.find((s) => s.node.role === "leader"));
    const n4url = `http://127.0.0.1:${ports[3]}`;
    learner = await start("n4", ports[3]!, { ...peers, n4: n4url }, new MemoryStorage(), kvs);
    await leader.node.changeMembership([{ type: "addLearner", nodeId: "n4" }], { context: n4url });
    await waitFor("n4 knows the leader", () => learner!.node.leader === leader.node.id);
    const before = await put(learner.url, "before", "yes");
    assert.equal(before.status, 200, `forwarded while a member: ${JSON.stringify(before.body)}`);
    await waitFor("n4 applies its write", () => kvs.get("n4")!.get("before") === "yes");

    // Cut the voters off from n4 (their messages go to a closed port), then remove it: it never
    // hears of its removal, and still knows the leader.
    for (const s of nodes) s.transport.addPeer("n4", `http://127.0.0.1:${ports[4]}`);
    const after = await leader.node.changeMembership([{ type: "removeNode", nodeId: "n4" }]);
    assert.deepEqual(after.learners, []);
    assert.equal(learner.node.removed, false);
    assert.equal(learner.node.leader, leader.node.id);

    const res = await put(learner.url, "after", "no");
    assert.equal(res.status, 503);
    assert.equal(res.body.error, "removed");
    assert.match(String(res.body.message), /n4 was removed from the cluster/);
    assert.deepEqual(
      (res.body.members as { id: string }[]).map((m) => m.id).sort(),
      ["n1", "n2", "n3"],
    );
    assert.equal(kvs.get(leader.node.id)!.get("after"), null, "nothing was written");
    // The members go on.
    assert.equal((await put(leader.url, "after", "yes")).status, 200);
  } finally {
    await Promise.all([...nodes, ...(learner ? [learner] : [])].map((s) => s.stop()));
  }
});
