import assert from "node:assert/strict";
import { serveEventStoreCluster, waitFor } from "../tests/helpers.ts";
import { checkCorsOrigins } from "./cors.ts";

const APP = "https://app.example";

const eventStoreCluster = (n: number, corsOrigins?: string[]) =>
  serveEventStoreCluster(n, {
    heartbeatMs: 50,
    ...(corsOrigins !== undefined ? { serve: { corsOrigins } } : {}),
  });

const append = (url: string, origin: string) =>
  fetch(`${url}/streams/orders-1`, {
    method: "POST",
    headers: { origin, "content-type": "application/json", "expected-revision": "any" },
    body: JSON.stringify({ type: "Placed" }),
  });

Deno.test("with CORS origins, browsers' preflights and requests get CORS headers on every node, fast routes and forwarded writes included", async () => {
  const nodes = await eventStoreCluster(3, [APP]);
  try {
    const leader = await waitFor("a leader all know", () => {
      const l = nodes.find((s) => s.node.role === "leader");
      return l !== undefined && nodes.every((s) => s.node.leader === l.node.id) ? l : undefined;
    });
    const follower = nodes.find((s) => s !== leader)!;

    const pre = await fetch(`${follower.url}/streams/orders-1`, {
      method: "OPTIONS",
      headers: {
        origin: APP,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,expected-revision",
      },
    });
    await pre.body?.cancel();
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), APP);
    assert.match(pre.headers.get("access-control-allow-methods")!, /POST/);
    assert.match(pre.headers.get("access-control-allow-headers")!, /expected-revision/);
    assert.match(pre.headers.get("access-control-allow-headers")!, /last-event-id/);
    assert.equal(pre.headers.get("access-control-max-age"), "600");

    // On the leader a single append takes the fast route unless it must carry CORS headers.
    for (const [node, what] of [[leader, "leader"], [follower, "forwarded"]] as const) {
      const res = await append(node.url, APP);
      assert.equal(res.status, 201, what);
      assert.equal(res.headers.get("access-control-allow-origin"), APP, what);
      assert.match(res.headers.get("access-control-expose-headers")!, /location/, what);
      assert.ok(res.headers.get("location")!.startsWith("/streams/orders-1/"), what);
      await res.body?.cancel();
    }

    const sse = await fetch(`${follower.url}/subscribe/all`, { headers: { origin: APP } });
    assert.equal(sse.status, 200);
    assert.equal(sse.headers.get("access-control-allow-origin"), APP);
    await sse.body?.cancel();

    // Another origin gets no grant (the browser then withholds the answer from its page).
    const other = await append(leader.url, "https://other.example");
    assert.equal(other.status, 201);
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    await other.body?.cancel();

    // Peer routes stay out of it.
    const peer = await fetch(`${leader.url}/raft/messages`, {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "POST" },
    });
    await peer.body?.cancel();
    assert.equal(peer.headers.get("access-control-allow-origin"), null);
  } finally {
    await Promise.all(nodes.map((s) => s.stop()));
  }
});

Deno.test("without CORS origins no CORS header is sent and a preflight is refused", async () => {
  const [node] = await eventStoreCluster(1);
  try {
    await node!.node.waitForLeader(5000);
    const pre = await fetch(`${node!.url}/streams/orders-1`, {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "POST" },
    });
    assert.equal(pre.status, 405);
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
    await pre.body?.cancel();
    const res = await append(node!.url, APP);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    await res.body?.cancel();
  } finally {
    await node!.stop();
  }
});

Deno.test("CORS origins must be origins, or * alone", () => {
  checkCorsOrigins(["*"]);
  checkCorsOrigins([APP, "http://localhost:5173"]);
  for (
    const bad of [["*", APP], [`${APP}/`], [`${APP}/page`], ["app.example"], ["ftp://x.example"]]
  ) {
    assert.throws(() => checkCorsOrigins(bad), TypeError, JSON.stringify(bad));
  }
});
