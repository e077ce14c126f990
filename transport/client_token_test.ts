import assert from "node:assert/strict";
import { RaftlogClient, RaftlogHttpError } from "../eventstore/client.ts";
import { serveEventStoreCluster, waitFor } from "../tests/helpers.ts";

const TOKEN = "t0ken-for-tests";
const APP = "https://app.example";

Deno.test("with a client token, client routes answer 401 without it on every node and path, and serve with it", async () => {
  const nodes = await serveEventStoreCluster(3, {
    serve: { clientToken: TOKEN, corsOrigins: [APP] },
  });
  try {
    const leader = await waitFor("a leader all know", () => {
      const l = nodes.find((s) => s.node.role === "leader");
      return l !== undefined && nodes.every((s) => s.node.leader === l.node.id) ? l : undefined;
    });
    const follower = nodes.find((s) => s !== leader)!;
    const append = (url: string, authorization?: string) =>
      fetch(`${url}/streams/orders-1`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(authorization !== undefined ? { authorization } : {}),
        },
        body: '{"type":"Placed"}',
      });

    // The leader's fast route and a follower's forwarding both refuse, and nothing is written.
    for (const node of [leader, follower]) {
      for (const auth of [undefined, "Bearer wrong", `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
        const res = await append(node.url, auth);
        assert.equal(res.status, 401, `${node.node.id} ${auth}`);
        assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="raftlog"');
        assert.equal((await res.json()).error, "unauthorized");
      }
    }
    for (const path of ["/streams/orders-1", "/all", "/streams", "/subscribe/all"]) {
      const res = await fetch(`${follower.url}${path}`);
      assert.equal(res.status, 401, path);
      await res.body?.cancel();
    }
    const noEvents = await fetch(`${leader.url}/all`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.deepEqual((await noEvents.json()).events, []);

    // Probes, status and metrics stay open; a browser's preflight needs no token.
    for (const path of ["/health", "/ready", "/status", "/metrics"]) {
      const res = await fetch(`${follower.url}${path}`);
      assert.equal(res.status, 200, path);
      await res.body?.cancel();
    }
    const pre = await fetch(`${follower.url}/streams/orders-1`, {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "POST" },
    });
    await pre.body?.cancel();
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get("access-control-allow-headers")!, /authorization/);

    for (const node of [leader, follower]) {
      const res = await append(node.url, `Bearer ${TOKEN}`);
      assert.equal(res.status, 201, node.node.id);
      await res.body?.cancel();
    }
    // The client sends it as a header; without it, the 401 is an error it does not retry.
    const client = new RaftlogClient({
      urls: [follower.url],
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal((await client.read("orders-1")).events.length, 2);
    const anonymous = new RaftlogClient({ urls: [follower.url] });
    await assert.rejects(
      anonymous.read("orders-1"),
      (e: unknown) => e instanceof RaftlogHttpError && e.status === 401,
    );
  } finally {
    await Promise.all(nodes.map((s) => s.stop()));
  }
});
