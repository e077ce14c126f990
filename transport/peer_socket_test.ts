import assert from "node:assert/strict";
import { PeerSocket, peerSocketUrl } from "./peer_socket.ts";

Deno.test("peer socket: the URL of a peer's message route", () => {
  assert.equal(peerSocketUrl("http://127.0.0.1:7001"), "ws://127.0.0.1:7001/raft/ws");
  assert.equal(peerSocketUrl("https://a.example"), "wss://a.example/raft/ws");
});

Deno.test("peer socket: a malformed URL is reported as a failed connection, not thrown", async () => {
  const why = await new Promise<string>((resolve) => {
    const s = new PeerSocket({ url: "http://exa mple:1", headers: {}, onBroken: resolve });
    s.send("[]");
    assert.ok(s.queuedBytes() >= 0);
  });
  assert.match(why, /cannot connect/);
});

Deno.test("peer socket: frames sent before the socket opens arrive in order, with the headers", async () => {
  const got: string[] = [];
  let header: string | null = null;
  const done = Promise.withResolvers<void>();
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    header = req.headers.get("x-test");
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => {
      got.push(String(e.data));
      if (got.length === 3) done.resolve();
    };
    return response;
  });
  let broken = "";
  const s = new PeerSocket({
    url: `http://127.0.0.1:${server.addr.port}`,
    headers: { "x-test": "yes" },
    onBroken: (w) => broken = w,
  });
  try {
    for (const f of ["[1]", "[2]", "[3]"]) s.send(f);
    assert.equal(s.queuedBytes(), 9, "queued until open");
    await done.promise;
    assert.deepEqual(got, ["[1]", "[2]", "[3]"]);
    assert.equal(header, "yes");
    assert.equal(broken, "", "a healthy socket is not reported");
  } finally {
    s.close();
    await server.shutdown();
  }
});

Deno.test("peer socket: a refused connection is reported once", async () => {
  const listener = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  let reports = 0;
  const why = await new Promise<string>((resolve) => {
    new PeerSocket({
      url: `http://127.0.0.1:${port}`,
      headers: {},
      onBroken: (w) => (reports++, resolve(w)),
    });
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(reports, 1);
  assert.ok(why.length > 0);
});
