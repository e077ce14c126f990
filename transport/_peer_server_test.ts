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
export function startPeer(opts: { id?: string; secret?: string; clusterId?: string } = {}) {
  const got: Message[] = [];
  const node = { id: opts.id ?? "n1", step: (m: Message) => got.push(m) } as unknown as RaftNode<
    unknown
  >;
  const peers = peerRoutes({ node, clusterId: opts.clusterId ?? "c", secret: opts.secret ?? "s" });
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
      peers.close();
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
