import assert from "node:assert/strict";
import { RaftlogClient } from "../eventstore/client.ts";
import { readBackup } from "../raft/storage/backup_file.ts";
import { serveEventStoreCluster, waitFor } from "../tests/helpers.ts";
import { BACKUP_INDEX_HEADER } from "./backup_route.ts";

Deno.test("GET /backup: the cluster secret, not the client token; every acknowledged write; bad queries refused", async () => {
  const nodes = await serveEventStoreCluster(3, { serve: { clientToken: "tok" } });
  try {
    const leader = await waitFor("a leader all know", () => {
      const l = nodes.find((s) => s.node.role === "leader");
      return l !== undefined && nodes.every((s) => s.node.leader === l.node.id) ? l : undefined;
    });
    const follower = nodes.find((s) => s !== leader)!;
    const client = new RaftlogClient({
      urls: [leader.url],
      headers: { authorization: "Bearer tok" },
    });
    const acked = await client.append("orders-1", [{ type: "Placed" }, { type: "Paid" }]);
    assert.equal(acked.position, 1);
    const ackedIndex = leader.node.applied;

    for (const headers of [{}, { authorization: "Bearer tok" }, { "x-raftlog-secret": "nope" }]) {
      const res = await fetch(`${follower.url}/backup`, { headers });
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.match((await res.json()).message, /cluster secret/);
    }
    const bad = await fetch(`${follower.url}/backup?consistency=leader`, {
      headers: { "x-raftlog-secret": "sec" },
    });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error, "invalid_query");

    // On a follower, by default, the backup holds the write the leader acknowledged.
    for (const q of ["", "?consistency=local"]) {
      const res = await fetch(`${follower.url}/backup${q}`, {
        headers: { "x-raftlog-secret": "sec" },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/octet-stream");
      const bytes = new Uint8Array(await res.arrayBuffer());
      const { info } = readBackup(bytes);
      assert.equal(info.nodeId, follower.node.id);
      assert.equal(info.clusterId, "test");
      assert.equal(Number(res.headers.get(BACKUP_INDEX_HEADER)), info.index);
      if (q === "") assert.ok(info.index >= ackedIndex, `${info.index} < ${ackedIndex}`);
      assert.deepEqual([...info.confState.voters].sort(), nodes.map((n) => n.node.id).sort());
    }
  } finally {
    await Promise.all(nodes.map((s) => s.stop()));
  }
});
