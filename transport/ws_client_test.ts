import assert from "node:assert/strict";
import { waitFor } from "../tests/helpers.ts";
import { type ClosedEvent, TcpWebSocket } from "./ws_client.ts";
import { rawWsServer } from "./_peer_server_test.ts";

const TLS = new URL("../tests/fixtures/tls/", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, TLS));

/**
 * A server whose `/ws` route upgrades (answering 401 without the `x-key`
 * header) and records frames; over TLS with the test certificate when `tls`.
 */
function server(onSocket: (ws: WebSocket) => void = () => {}, tls = false) {
  const received: string[] = [];
  const headers: Record<string, string>[] = [];
  let serverClosed: (code: number) => void = () => {};
  const closedByClient = new Promise<number>((r) => serverClosed = r);
  const options = { port: 0, hostname: "127.0.0.1", onListen() {} };
  const certs = tls ? { cert: read("localhost.pem"), key: read("localhost-key.pem") } : {};
  const srv = Deno.serve({ ...options, ...certs }, (req) => {
    if (req.headers.get("x-key") !== "k") return new Response("no", { status: 401 });
    headers.push(Object.fromEntries(req.headers));
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
    socket.onmessage = (e) => received.push(e.data as string);
    socket.onclose = (e) => serverClosed(e.code);
    socket.onopen = () => onSocket(socket);
    return response;
  });
  const url = `${tls ? "wss" : "ws"}://127.0.0.1:${srv.addr.port}/ws?a=1`;
  return { srv, received, headers, closedByClient, url };
}

function client(url: string, headers: Record<string, string>, caCerts?: string[]) {
  const ws = new TcpWebSocket(url, headers, caCerts === undefined ? {} : { caCerts });
  const opened = new Promise<void>((r) => ws.onopen = r);
  const closed = new Promise<ClosedEvent>((r) => ws.onclose = r);
  return { ws, opened, closed };
}

Deno.test("TcpWebSocket: handshake headers, frames of every length class in order, close both ways", async () => {
  const s = server();
  try {
    const c = client(s.url, { "x-key": "k", "x-from": "n1" });
    await c.opened;
    const texts = [
      "",
      "a".repeat(125),
      "b".repeat(126),
      "c".repeat(65_535),
      "d".repeat(65_536),
      "é€😀".repeat(70_000),
      JSON.stringify([{ type: "app", from: "n1", to: "n2" }]),
    ];
    for (const t of texts) c.ws.send(t);
    await waitFor("every frame to arrive", () => s.received.length >= texts.length);
    assert.deepEqual(s.received, texts);
    assert.equal(s.headers[0]!["x-from"], "n1");
    assert.equal(c.ws.bufferedAmount, 0, "all written");
    c.ws.close(1000);
    assert.equal(await s.closedByClient, 1000);
    assert.equal((await c.closed).code, 1000);
  } finally {
    await s.srv.shutdown();
  }
});

Deno.test("TcpWebSocket: frame buffers reused after their write carry each later frame exactly", async () => {
  const s = server();
  try {
    const c = client(s.url, { "x-key": "k" });
    await c.opened;
    // Smaller frames into a larger reused buffer, non-ASCII after ASCII, then a burst.
    const paced = ["a".repeat(70_000), "b", "c".repeat(5_000), "é😀".repeat(20_000), "d".repeat(3)];
    const burst = Array.from({ length: 50 }, (_, i) => String(i).repeat(1 + (i * 997) % 9_000));
    let want = 0;
    for (const t of paced) {
      c.ws.send(t);
      want++;
      await waitFor(
        "the frame to be written and received",
        () => c.ws.bufferedAmount === 0 && s.received.length >= want,
      );
    }
    for (const t of burst) c.ws.send(t);
    await waitFor("the burst to arrive", () => s.received.length >= paced.length + burst.length);
    assert.deepEqual(s.received, [...paced, ...burst]);
    c.ws.close(1000);
    await c.closed;
  } finally {
    await s.srv.shutdown();
  }
});

Deno.test("TcpWebSocket: a server's close code reaches onclose; a refused handshake or connection is 1006", async () => {
  const s = server((ws) => ws.close(1007, "bad frame"));
  try {
    const c = client(s.url, { "x-key": "k" });
    const e = await c.closed;
    assert.equal(e.code, 1007);
    assert.equal(e.reason, "bad frame");
    const refused = client(s.url, {});
    const r = await refused.closed;
    assert.equal(r.code, 1006);
    assert.match(r.reason, /401/);
    const injected = client(s.url, { "x-key": "k\r\nx-evil: 1" });
    const i = await injected.closed;
    assert.equal(i.code, 1006);
    assert.match(i.reason, /invalid header/);
    assert.equal(s.headers.length, 1, "the bad request never reached the server");
  } finally {
    await s.srv.shutdown();
  }
  const nobody = client(s.url, { "x-key": "k" });
  assert.equal((await nobody.closed).code, 1006, "nothing listens any more");
});

Deno.test("TcpWebSocket over TLS (wss://): frames in order after the TLS handshake; an untrusted certificate is 1006", async () => {
  const s = server(() => {}, true);
  try {
    const c = client(s.url, { "x-key": "k" }, [read("ca.pem")]);
    await c.opened;
    const texts = ["a", "é€😀".repeat(30_000), "b".repeat(70_000)];
    for (const t of texts) c.ws.send(t);
    await waitFor("every frame to arrive", () => s.received.length >= texts.length);
    assert.deepEqual(s.received, texts);
    c.ws.close(1000);
    assert.equal(await s.closedByClient, 1000);
    assert.equal((await c.closed).code, 1000);
    const untrusted = client(s.url, { "x-key": "k" });
    const u = await untrusted.closed;
    assert.equal(u.code, 1006);
    assert.match(u.reason, /certificate/i);
    assert.equal(s.headers.length, 1, "the untrusted handshake never reached the route");
  } finally {
    await s.srv.shutdown();
  }
});

Deno.test("TcpWebSocket.close() ends the connection at once when the peer stopped reading", async () => {
  const srv = rawWsServer({ answer: true, read: false });
  const ws = new TcpWebSocket(`ws://127.0.0.1:${srv.port}/raft/ws`, {});
  const opened = new Promise<void>((r) => ws.onopen = r);
  let closed = false;
  ws.onclose = () => closed = true;
  try {
    await opened;
    // Frames are accepted, but their writes block once the kernel buffers are full.
    const big = "x".repeat(1 << 20);
    for (let i = 0; i < 64; i++) ws.send(big);
    await waitFor("writes to back up", () => ws.bufferedAmount > 8 << 20, 5_000);
    ws.close(1000);
    assert.ok(closed, "the connection is closed at once, not after the blocked writes");
  } finally {
    srv.close();
  }
});

Deno.test("TcpWebSocket gives up a handshake that is never answered", async () => {
  const srv = rawWsServer({ answer: false });
  const ws = new TcpWebSocket(`ws://127.0.0.1:${srv.port}/raft/ws`, {}, {
    handshakeTimeoutMs: 200,
  });
  try {
    const e = await new Promise<{ code: number; reason: string }>((r) => ws.onclose = r);
    assert.equal(e.code, 1006);
    assert.match(e.reason, /no handshake answer within 200 ms/);
    await waitFor("the server to see the end of the stream", () => srv.eofs() === 1, 3_000);
  } finally {
    srv.close();
  }
});

Deno.test("TcpWebSocket with pings ends a connection whose peer never answers them", async () => {
  // The handshake is answered, then nothing: a peer whose packets a partition now drops.
  const srv = rawWsServer({ answer: true, read: true });
  const ws = new TcpWebSocket(`ws://127.0.0.1:${srv.port}/raft/ws`, {}, {
    pingMs: 50,
    deadAfterMs: 200,
  });
  try {
    const e = await new Promise<ClosedEvent>((r) => ws.onclose = r);
    assert.equal(e.code, 1006);
    assert.match(e.reason, /no pong for \d+ ms/);
  } finally {
    srv.close();
  }
});

Deno.test("TcpWebSocket with pings keeps a connection whose peer answers them", async () => {
  const s = server();
  const c = new TcpWebSocket(s.url, { "x-key": "k" }, { pingMs: 50, deadAfterMs: 200 });
  let closedEarly: ClosedEvent | undefined;
  c.onclose = (e) => closedEarly = e;
  try {
    await new Promise<void>((r) => c.onopen = r);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(closedEarly, undefined, "the connection stays open while pongs come");
    c.send("still here");
    await waitFor("the frame to arrive", () => s.received.includes("still here"), 3_000);
  } finally {
    c.close(1000);
    await s.closedByClient;
    await s.srv.shutdown();
  }
});
