/**
 * An event store cluster over real HTTP in one process, wired as `raftlog
 * serve` wires it: what the typed client sees of followers and leaders.
 */
import assert from "node:assert/strict";
import { RaftlogClient } from "../eventstore/client.ts";
import type { CommandResult } from "../eventstore/state_machine.ts";
import type { ServedNode } from "../transport/server.ts";
import { serveEventStoreCluster, waitFor } from "./helpers.ts";

interface Cluster {
  nodes: ServedNode<CommandResult>[];
  stop(): Promise<void>;
}

async function cluster(): Promise<Cluster> {
  const nodes = await serveEventStoreCluster(3, { serve: { requestTimeoutMs: 3000 } });
  return { nodes, stop: async () => void await Promise.all(nodes.map((s) => s.stop())) };
}

function leaderOf(c: Cluster): Promise<ServedNode<CommandResult>> {
  return waitFor("a leader all nodes know", () => {
    const l = c.nodes.filter((s) => s.node.role === "leader");
    return l.length === 1 && c.nodes.every((s) => s.node.leader === l[0]!.node.id)
      ? l[0]
      : undefined;
  });
}

Deno.test("a follower names the leader's URL, and the client given only the follower gets there", async () => {
  const c = await cluster();
  try {
    const leader = await leaderOf(c);
    const follower = c.nodes.find((n) => n !== leader)!;
    const raw = await fetch(`${follower.url}/streams/s?consistency=leader`);
    assert.equal(raw.status, 503);
    const body = await raw.json();
    assert.equal(body.error, "not_leader");
    assert.equal(body.leader, leader.node.id);
    assert.equal(body.leaderUrl, leader.url);
    const client = new RaftlogClient({ urls: follower.url, retryDelayMs: 5, retries: 4 });
    await client.append("s", { type: "T" });
    const r = await client.read("s", { consistency: "leader" });
    assert.equal(r.events.length, 1);
  } finally {
    await c.stop();
  }
});
