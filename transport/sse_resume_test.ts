import assert from "node:assert/strict";
import { TestCluster } from "../eventstore/_cluster_test.ts";
import { parseSse } from "../eventstore/_sse.ts";
import { eventStoreRoutes } from "./eventstore_routes.ts";

Deno.test("SSE resumed with Last-Event-ID on a node that is behind repeats nothing", async () => {
  const c = await TestCluster.start(11, {});
  const drive = async <T>(p: Promise<T>): Promise<T> => {
    let settled = false;
    p.finally(() => (settled = true)).catch(() => {});
    await c.runUntil(() => settled, 20_000);
    return await p;
  };
  const stops: AbortController[] = [];
  try {
    assert.ok(await c.runUntil(() => c.leader() !== undefined, 5000));
    const leader = c.store(c.leader()!);
    const fid = c.ids.find((id) => id !== c.leader())!;
    await drive(leader.append("s", [{ id: "a", type: "T" }, { id: "b", type: "T" }]));
    assert.ok(await c.runUntil(() => c.store(fid).stateMachine.lastPosition === 1, 5000));
    // The follower falls behind; a client sees c and d on the leader, then reconnects to it.
    c.isolated.add(fid);
    await drive(leader.append("s", [{ id: "c", type: "T" }]));
    const seen = await drive(leader.append("s", [{ id: "d", type: "T" }]));
    const app = eventStoreRoutes(c.store(fid), { heartbeatMs: 60_000 });
    const subscribe = (path: string) => {
      const ac = new AbortController();
      stops.push(ac);
      const got: string[] = [];
      const res = Promise.resolve(app.request(path, {
        headers: { "last-event-id": String(seen.position) },
        signal: ac.signal,
      })).then(async (r) => {
        assert.equal(r.status, 200);
        for await (const m of parseSse(r.body!, { signal: ac.signal })) {
          if (m.event === "message" || m.event === "") got.push(JSON.parse(m.data).id);
        }
      }).catch(() => {});
      return { got, res };
    };
    const stream = subscribe("/subscribe/streams/s?consistency=local");
    const all = subscribe("/subscribe/all?consistency=local");
    c.isolated.delete(fid);
    await drive(leader.append("s", [{ id: "e", type: "T" }]));
    assert.ok(await c.runUntil(() => c.store(fid).stateMachine.lastPosition === 4, 5000));
    await c.runUntil(() => stream.got.length > 0 && all.got.length > 0, 5000);
    await c.run(100);
    assert.deepEqual(all.got, ["e"]);
    assert.deepEqual(stream.got, ["e"]);
  } finally {
    for (const ac of stops) ac.abort();
    await c.stop();
  }
});
