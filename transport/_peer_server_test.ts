/**
 * A peer server for transport tests: the node's peer routes over a stand-in
 * node that records the messages stepped into it.
 *
 * @module
 */
import type { Message } from "../raft/core/types.ts";
import type { RaftNode } from "../raft/node.ts";
import { peerRoutes } from "./peer_routes.ts";

/** Serves peer routes on a free loopback port; `got` holds what arrived. */
export function startPeer(
  opts: {
    id?: string;
    secret?: string;
    clusterId?: string;
    onPeerUrl?: (id: string, url: string) => void;
  } = {},
) {
  const got: Message[] = [];
  const node = { id: opts.id ?? "n1", step: (m: Message) => got.push(m) } as unknown as RaftNode<
    unknown
  >;
  const peers = peerRoutes({
    node,
    clusterId: opts.clusterId ?? "c",
    secret: opts.secret ?? "s",
    ...(opts.onPeerUrl !== undefined ? { onPeerUrl: opts.onPeerUrl } : {}),
  });
  let upgrades = 0;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    if (new URL(req.url).pathname === "/raft/ws") upgrades++;
    return peers.app.fetch(req);
  });
  return {
    got,
    url: `http://127.0.0.1:${server.addr.port}`,
    upgrades: () => upgrades,
    async close() {
      await peers.close();
      await server.shutdown();
    },
  };
}

/** A heartbeat from `from` to `to`. */
export const heartbeat = (from: string, to: string, term = 1): Message => ({
  type: "heartbeat",
  from,
  to,
  term,
  commit: 0,
  context: "",
});

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * A raw TCP server for WebSocket clients: answers the handshake or never
 * does (`answer`), then reads frames or stops reading (`read: false`, so
 * the client's writes back up). Counts connections and ends of stream.
 */
export function rawWsServer(opts: { answer: boolean; read?: boolean }) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  let accepted = 0, eofs = 0;
  const drain = async (conn: Deno.Conn, buf: Uint8Array) => {
    while ((await conn.read(buf)) !== null) { /* discard */ }
    eofs++;
  };
  (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.push(conn);
      (async () => {
        const buf = new Uint8Array(64 * 1024);
        let head = "";
        while (!head.includes("\r\n\r\n")) {
          const n = await conn.read(buf);
          if (n === null) return void eofs++;
          head += new TextDecoder().decode(buf.subarray(0, n));
        }
        if (!opts.answer) return await drain(conn, buf);
        const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
        const d = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(key + GUID));
        const accept = btoa(String.fromCharCode(...new Uint8Array(d)));
        await conn.write(new TextEncoder().encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
        ));
        if (opts.read !== false) await drain(conn, buf);
      })().catch(() => eofs++);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: () => accepted,
    eofs: () => eofs,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // Closed already.
        }
      }
    },
  };
}
