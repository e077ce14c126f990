import assert from "node:assert/strict";
import { RaftNode } from "../raft/node.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { peerRoutes } from "./peer_routes.ts";
import { CLUSTER_HEADER, FROM_HEADER, SECRET_HEADER } from "./peer_transport.ts";

/** A one-node cluster n1 whose state machine keeps nothing. */
function singleNode() {
  return RaftNode.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1"]),
    transport: { send() {} },
    stateMachine: {
      apply: (c) => c.map(() => null),
      snapshot: () => new Uint8Array(),
      restore: () => {},
    },
  });
}

Deno.test("peer routes close a peer stream that brings nothing for idleMs, and keep one that does", async () => {
  const node = await singleNode();
  const idleMs = 300;
  const peers = peerRoutes({ node, clusterId: "c", secret: "s", idleMs });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, peers.app.fetch);
  const open = (from: string) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/raft/ws`, {
      headers: { [SECRET_HEADER]: "s", [FROM_HEADER]: from, [CLUSTER_HEADER]: "c" },
    } as unknown as string[]);
    const opened = new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("handshake failed"));
    });
    const closed = new Promise<{ code: number; at: number }>((resolve) =>
      ws.onclose = (e) => resolve({ code: e.code, at: performance.now() })
    );
    return { ws, opened, closed };
  };
  try {
    const silent = open("n2");
    const chatty = open("n3");
    await Promise.all([silent.opened, chatty.opened]);
    const start = performance.now();
    // The chatty peer sends a valid frame well within every idle period until the silent one is cut.
    let stillOpen = true;
    const beat = setInterval(() => {
      if (chatty.ws.readyState === WebSocket.OPEN) {
        chatty.ws.send(
          JSON.stringify([{ type: "heartbeatResp", from: "n3", to: "n1", term: 0, context: "" }]),
        );
      }
    }, idleMs / 6);
    const cut = await silent.closed;
    stillOpen = chatty.ws.readyState === WebSocket.OPEN;
    clearInterval(beat);
    assert.equal(cut.code, 1001, "an idle stream is closed as going away");
    assert.ok(
      cut.at - start >= idleMs * 0.9,
      `closed after ${cut.at - start} ms, not before idleMs`,
    );
    assert.ok(stillOpen, "a stream with traffic stays open");
    chatty.ws.close();
    await chatty.closed;
  } finally {
    await peers.close();
    await server.shutdown();
    await node.stop();
  }
});

Deno.test("peer routes take no new stream once closed (the node is stopping)", async () => {
  const node = await singleNode();
  const peers = peerRoutes({ node, clusterId: "c", secret: "s" });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, peers.app.fetch);
  try {
    await peers.close();
    // A peer reconnecting at once after its stream was closed is refused, not registered.
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/raft/ws`, {
      headers: { [SECRET_HEADER]: "s", [FROM_HEADER]: "n2", [CLUSTER_HEADER]: "c" },
    } as unknown as string[]);
    const outcome = await new Promise<string>((resolve) => {
      ws.onopen = () => resolve("open");
      ws.onerror = () => resolve("refused");
    });
    if (outcome === "open") ws.close();
    assert.equal(outcome, "refused");
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/raft/ws`, {
      headers: {
        [SECRET_HEADER]: "s",
        [FROM_HEADER]: "n2",
        [CLUSTER_HEADER]: "c",
        upgrade: "websocket",
      },
    });
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error, "stopped");
  } finally {
    await server.shutdown();
    await node.stop();
  }
});
