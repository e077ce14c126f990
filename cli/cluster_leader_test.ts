import assert from "node:assert/strict";
import { leaderOf } from "./cluster_leader.ts";

Deno.test("leaderOf finds a leader the cluster script did not start (a node that joined)", async () => {
  const status = (body: unknown) =>
    Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => Response.json(body));
  // n1 knows the leader is n4, which joined later; n2 knows none yet.
  const a = status({
    id: "n1",
    role: "follower",
    leader: "n4",
    leaderUrl: "http://127.0.0.1:7004",
  });
  const b = status({ id: "n2", role: "follower", leader: "", leaderUrl: null });
  try {
    const nodes = [
      { id: "n1", url: `http://127.0.0.1:${a.addr.port}` },
      { id: "n2", url: `http://127.0.0.1:${b.addr.port}` },
    ];
    assert.deepEqual(await leaderOf(nodes), { id: "n4", url: "http://127.0.0.1:7004" });
    assert.equal(await leaderOf([nodes[1]!]), undefined);
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
});
