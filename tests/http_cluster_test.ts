import assert from "node:assert/strict";
import type { RaftNode } from "../raft/node.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { type KvResult, KvStateMachine } from "../raft/testing/kv_state_machine.ts";
import { kvRoutes } from "../transport/kv_routes.ts";
import { SECRET_HEADER } from "../transport/peer_transport.ts";
import type { ServedNode } from "../transport/server.ts";
import { fetchJson, serveLocalCluster, waitFor } from "./helpers.ts";

const SECRET = "test-secret";

function startCluster(n: number): Promise<ServedNode<KvResult>[]> {
  return serveLocalCluster<KvResult>(n, SECRET, (_, ids) => {
    const kv = new KvStateMachine();
    return {
      storage: MemoryStorage.withVoters(ids),
      stateMachine: kv,
      tickMs: 10,
      maxBodyBytes: 64 * 1024,
      requestTimeoutMs: 3000,
      routes: (node, metrics) => [kvRoutes(node as RaftNode<KvResult>, kv, metrics)],
    };
  });
}

async function leaderOf(nodes: ServedNode<KvResult>[]): Promise<ServedNode<KvResult>> {
  return await waitFor("a leader", () => {
    const leaders = nodes.filter((s) => !s.node.stopped && s.node.role === "leader");
    return leaders.length === 1 ? leaders[0] : undefined;
  });
}

async function put(url: string, key: string, value: string, query = "") {
  return await fetchJson(`${url}/commands${query}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ op: "put", key, value }),
  });
}

Deno.test("HTTP cluster elects a leader, replicates, and serves linearizable reads on followers", async () => {
  const nodes = await startCluster(3);
  try {
    const leader = await leaderOf(nodes);
    const r = await put(leader.url, "a", "1");
    assert.equal(r.status, 200);
    assert.equal(r.body.value, "1");
    const follower = nodes.find((s) => s !== leader)!;
    const read = await fetchJson(`${follower.url}/kv/a?consistency=linearizable`);
    assert.equal(read.status, 200);
    assert.equal(read.body.value, "1");
    for (const s of nodes) {
      await waitFor("replication", () => s.node.applied >= leader.node.applied);
    }
    const status = await fetchJson(`${follower.url}/status`);
    assert.equal(status.body.leader, leader.node.id);
    assert.equal((status.body.members as unknown[]).length, 3);
  } finally {
    await Promise.all(nodes.map((s) => s.stop()));
  }
});

Deno.test("HTTP follower forwards writes to the leader, or redirects with ?redirect=true", async () => {
  const nodes = await startCluster(3);
  try {
    const leader = await leaderOf(nodes);
    const follower = nodes.find((s) => s !== leader)!;
    await waitFor("follower knows leader", () => follower.node.leader === leader.node.id);
    const fwd = await put(follower.url, "b", "2");
    assert.equal(fwd.status, 200);
    assert.equal(fwd.body.value, "2");
    const red = await put(follower.url, "c", "3", "?redirect=true");
    assert.equal(red.status, 307);
    assert.equal(red.headers.get("location"), `${leader.url}/commands?redirect=true`);
  } finally {
    await Promise.all(nodes.map((s) => s.stop()));
  }
});

Deno.test("HTTP cluster elects a new leader when the leader stops, keeping acknowledged writes", async () => {
  const nodes = await startCluster(3);
  try {
    const leader = await leaderOf(nodes);
    for (let i = 0; i < 20; i++) {
      assert.equal((await put(leader.url, `k${i}`, `v${i}`)).status, 200);
    }
    await leader.stop();
    const rest = nodes.filter((s) => s !== leader);
    const next = await leaderOf(rest);
    assert.notEqual(next.node.id, leader.node.id);
    assert.equal((await put(next.url, "after", "x")).status, 200);
    for (let i = 0; i < 20; i++) {
      const r = await fetchJson(`${next.url}/kv/k${i}`);
      assert.equal(r.body.value, `v${i}`);
    }
  } finally {
    await Promise.all(nodes.map((s) => s.stop()));
  }
});

Deno.test("HTTP peer routes answer 401 without the secret and never step the message", async () => {
  const nodes = await startCluster(1);
  try {
    const s = nodes[0]!;
    await leaderOf(nodes);
    const term = s.node.status().term;
    const body = JSON.stringify({
      clusterId: "test",
      from: "x",
      boot: "b",
      seq: 1,
      messages: [{
        type: "heartbeat",
        from: "x",
        to: "n1",
        term: term + 5,
        commit: 0,
        context: "",
      }],
    });
    const r = await fetchJson(`${s.url}/raft/messages`, { method: "POST", body });
    assert.equal(r.status, 401);
    assert.equal(r.body.error, "unauthorized");
    const wrong = await fetchJson(`${s.url}/raft/messages`, {
      method: "POST",
      body,
      headers: { [SECRET_HEADER]: "nope" },
    });
    assert.equal(wrong.status, 401);
    assert.equal(s.node.status().term, term);
    assert.equal(s.node.role, "leader");
    const other = await fetchJson(`${s.url}/raft/messages`, {
      method: "POST",
      body: body.replace('"clusterId":"test"', '"clusterId":"other"'),
      headers: { [SECRET_HEADER]: SECRET },
    });
    assert.equal(other.status, 403);
    assert.equal(s.node.status().term, term);
  } finally {
    await Promise.all(nodes.map((s) => s.stop()));
  }
});

Deno.test("HTTP client routes answer 400 for malformed JSON and bad commands, 413 for oversized bodies", async () => {
  const nodes = await startCluster(1);
  try {
    const s = await leaderOf(nodes);
    const bad = await fetchJson(`${s.url}/commands`, { method: "POST", body: "{not json" });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, "invalid_json");
    const wrong = await fetchJson(`${s.url}/commands`, {
      method: "POST",
      body: JSON.stringify({ op: "put", key: "" }),
    });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, "invalid_command");
    assert.match(String(wrong.body.message), /key/);
    const big = await put(s.url, "big", "x".repeat(100 * 1024));
    assert.equal(big.status, 413);
    assert.equal(big.body.error, "payload_too_large");
    const peerBad = await fetchJson(`${s.url}/raft/messages`, {
      method: "POST",
      body: JSON.stringify({
        clusterId: "test",
        from: "x",
        boot: "b",
        seq: 1,
        messages: [{ type: "nope" }],
      }),
      headers: { [SECRET_HEADER]: SECRET },
    });
    assert.equal(peerBad.status, 400);
    assert.equal(peerBad.body.error, "invalid_message");
  } finally {
    await Promise.all(nodes.map((s) => s.stop()));
  }
});

/** Opens a peer WebSocket with the given handshake headers; resolves with the close code. */
function peerSocket(url: string, headers: Record<string, string>) {
  const ws = new WebSocket(
    url.replace(/^http/, "ws") + "/raft/ws",
    { headers } as unknown as string[],
  );
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("handshake failed"));
  });
  const closed = new Promise<number>((resolve) => ws.onclose = (e) => resolve(e.code));
  return { ws, opened, closed };
}

Deno.test("HTTP peer stream requires the secret and the cluster id, and rejects malformed frames", async () => {
  const nodes = await startCluster(1);
  try {
    const s = await leaderOf(nodes);
    const term = s.node.status().term;
    const frame = (from: string, t: number) =>
      JSON.stringify([{ type: "heartbeat", from, to: "n1", term: t, commit: 0, context: "" }]);
    const headers = (extra: Record<string, string>) => ({
      "x-raftlog-from": "x",
      "x-raftlog-cluster": "test",
      ...extra,
    });
    const noSecret = await fetchJson(`${s.url}/raft/ws`, { headers: headers({}) });
    assert.equal(noSecret.status, 401);
    const otherCluster = await fetchJson(`${s.url}/raft/ws`, {
      headers: headers({ [SECRET_HEADER]: SECRET, "x-raftlog-cluster": "other" }),
    });
    assert.equal(otherCluster.status, 403);
    assert.equal(otherCluster.body.error, "cluster_mismatch");
    const noUpgrade = await fetchJson(`${s.url}/raft/ws`, {
      headers: headers({ [SECRET_HEADER]: SECRET }),
    });
    assert.equal(noUpgrade.status, 400);
    assert.equal(noUpgrade.body.error, "invalid_message");
    const refused = peerSocket(s.url, headers({}));
    await assert.rejects(refused.opened, "a WebSocket without the secret is refused");
    await refused.closed;

    const garbage = peerSocket(s.url, headers({ [SECRET_HEADER]: SECRET }));
    await garbage.opened;
    garbage.ws.send('[{"type":"heartbeat","from":"x"}]');
    assert.equal(await garbage.closed, 1007, "a malformed frame closes the stream");
    const spoofed = peerSocket(s.url, headers({ [SECRET_HEADER]: SECRET }));
    await spoofed.opened;
    spoofed.ws.send(frame("n9", term + 5));
    assert.equal(await spoofed.closed, 1007, "messages must come from the stream's sender");
    assert.equal(s.node.status().term, term, "nothing was stepped");

    const good = peerSocket(s.url, headers({ [SECRET_HEADER]: SECRET }));
    await good.opened;
    good.ws.send(frame("x", term + 5));
    await waitFor("the frame to be stepped", () => s.node.status().term >= term + 5 || undefined);
    good.ws.close();
    await good.closed;
  } finally {
    await Promise.all(nodes.map((s) => s.stop()));
  }
});

Deno.test("HTTP cluster reports heartbeat round trips in /metrics", async () => {
  const nodes = await startCluster(3);
  try {
    const leader = await leaderOf(nodes);
    const text = await waitFor("peer RTT samples", async () => {
      const res = await fetch(`${leader.url}/metrics`);
      const t = await res.text();
      return /raftlog_peer_rtt_seconds_count\{peer="n\d"\} [1-9]/.test(t) ? t : undefined;
    });
    assert.match(text, /raftlog_is_leader 1/);
  } finally {
    await Promise.all(nodes.map((s) => s.stop()));
  }
});
