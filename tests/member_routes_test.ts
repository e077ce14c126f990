/**
 * Membership routes on an in-process HTTP cluster: auth, validation,
 * conflicts, a learner added through a follower and promoted, a member
 * removed, and writes committing afterwards.
 */
import assert from "node:assert/strict";
import type { RaftNode } from "../raft/node.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { type KvResult, KvStateMachine } from "../raft/testing/kv_state_machine.ts";
import { kvRoutes } from "../transport/kv_routes.ts";
import type { MembersBody } from "../transport/member_routes.ts";
import { SECRET_HEADER } from "../transport/peer_transport.ts";
import { type ServedNode, serveNode } from "../transport/server.ts";
import { runMembersCommand } from "../cli/members.ts";
import { fetchJson, freePort, waitFor } from "./helpers.ts";

const SECRET = "member-routes-secret";
const AUTH = { [SECRET_HEADER]: SECRET, "content-type": "application/json" };

interface Node {
  served: ServedNode<KvResult>;
  kv: KvStateMachine;
}

async function start(
  id: string,
  port: number,
  peers: Record<string, string>,
  storage: MemoryStorage,
): Promise<Node> {
  const kv = new KvStateMachine();
  const served = await serveNode<KvResult>({
    id,
    hostname: "127.0.0.1",
    port,
    peers,
    clusterId: "members",
    secret: SECRET,
    storage,
    stateMachine: kv,
    tickMs: 10,
    requestTimeoutMs: 3000,
    routes: (node, metrics) => [kvRoutes(node as RaftNode<KvResult>, kv, metrics)],
  });
  return { served, kv };
}

async function cluster(n: number): Promise<{ nodes: Node[]; peers: Record<string, string> }> {
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const ports = ids.map(() => freePort());
  const peers = Object.fromEntries(ids.map((id, i) => [id, `http://127.0.0.1:${ports[i]}`]));
  const nodes = await Promise.all(
    ids.map((id, i) => start(id, ports[i]!, peers, MemoryStorage.withVoters(ids))),
  );
  return { nodes, peers };
}

async function leaderOf(nodes: Node[]): Promise<Node> {
  return await waitFor("a leader", () => {
    const leaders = nodes.filter((s) => !s.served.node.stopped && s.served.node.role === "leader");
    return leaders.length === 1 ? leaders[0] : undefined;
  });
}

function members(body: Record<string, unknown>): MembersBody["members"] {
  return (body as unknown as MembersBody).members;
}

async function put(url: string, key: string, value: string) {
  return await fetchJson(`${url}/commands`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ op: "put", key, value }),
  });
}

function post(url: string, body?: unknown, headers: Record<string, string> = AUTH) {
  return fetchJson(url, {
    method: "POST",
    headers,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}

Deno.test("memberRoutes: auth, validation, add a learner, promote it, remove a member", async () => {
  const { nodes, peers } = await cluster(3);
  let n4: Node | undefined;
  try {
    const leader = await leaderOf(nodes);
    const follower = nodes.find((s) => s !== leader)!;
    const fUrl = follower.served.url;
    await waitFor("the follower knows the leader", () => follower.served.node.leader !== "");

    // Without the secret, or with a wrong one: 401, and nothing is changed.
    assert.equal((await fetchJson(`${fUrl}/members`)).status, 401);
    const wrong = await post(`${fUrl}/members`, { id: "x", url: "http://127.0.0.1:1" }, {
      [SECRET_HEADER]: "nope",
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, "unauthorized");
    assert.equal((await fetchJson(`${fUrl}/members/n1`, { method: "DELETE" })).status, 401);
    assert.equal((await post(`${fUrl}/members/n1/promote`, undefined, {})).status, 401);

    const listed = await fetchJson(`${fUrl}/members`, { headers: AUTH });
    assert.equal(listed.status, 200);
    assert.deepEqual(
      members(listed.body),
      ["n1", "n2", "n3"].map((id) => ({ id, url: peers[id], role: "voter" })),
    );

    // Bad bodies and ids: 400 with the field at fault.
    const cases: [unknown, string][] = [
      ["{not json", "invalid_json"],
      [{ id: "has space", url: "http://127.0.0.1:1" }, "invalid_id"],
      // URLs resolve /members/.. as a path step: such a member could never be removed.
      [{ id: "..", url: "http://127.0.0.1:1" }, "invalid_id"],
      [{ id: ".", url: "http://127.0.0.1:1" }, "invalid_id"],
      [{ id: "n9", url: "ftp://127.0.0.1:1" }, "invalid_url"],
      [{ id: "n9" }, "invalid_url"],
      [{ id: "n9", url: "http://127.0.0.1:1", role: "boss" }, "invalid_body"],
    ];
    for (const [body, code] of cases) {
      const r = await post(`${leader.served.url}/members`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error, code, JSON.stringify(r.body));
    }
    const badId = await post(`${fUrl}/members/bad%20id/promote`);
    assert.equal(badId.status, 400);
    assert.equal(badId.body.error, "invalid_id");

    // Conflicts: 409.
    const dup = await post(`${fUrl}/members`, { id: "n1", url: peers.n1 });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error, "member_exists");
    const notMember = await post(`${fUrl}/members/n9/promote`);
    assert.equal(notMember.status, 409);
    assert.equal(notMember.body.error, "not_a_member");
    const voter = await post(`${fUrl}/members/n2/promote`);
    assert.equal(voter.status, 409);
    assert.equal(voter.body.error, "already_voter");
    const gone = await fetchJson(`${fUrl}/members/n9`, { method: "DELETE", headers: AUTH });
    assert.equal(gone.status, 409);
    assert.equal(gone.body.error, "not_a_member");

    // ?redirect=true on a follower: 307 to the leader.
    const redirected = await post(`${fUrl}/members?redirect=true`, { id: "n9", url: peers.n1 });
    assert.equal(redirected.status, 307);
    assert.equal(redirected.headers.get("location"), `${leader.served.url}/members?redirect=true`);

    for (let i = 0; i < 20; i++) assert.equal((await put(fUrl, `k${i}`, `v${i}`)).status, 200);

    // n4 starts empty and is added as a learner through a follower (forwarded to the leader).
    const port4 = freePort();
    const url4 = `http://127.0.0.1:${port4}`;
    n4 = await start("n4", port4, { ...peers, n4: url4 }, new MemoryStorage());
    const added = await post(`${fUrl}/members`, { id: "n4", url: `${url4}/`, role: "learner" });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.deepEqual(members(added.body).find((m) => m.id === "n4"), {
      id: "n4",
      url: url4,
      role: "learner",
    });
    const again = await post(`${fUrl}/members`, { id: "n4", url: url4 });
    assert.equal(again.status, 409);
    assert.equal(again.body.error, "member_exists");
    await waitFor("n4 catches up", () => n4!.kv.get("k19") === "v19");

    const promoted = await post(`${fUrl}/members/n4/promote`);
    assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    assert.equal(members(promoted.body).find((m) => m.id === "n4")?.role, "voter");
    await waitFor("n4 lists four voters with their URLs", async () => {
      const r = await fetchJson(`${url4}/members`, { headers: AUTH });
      const ms = members(r.body);
      return ms.length === 4 && ms.every((m) => m.role === "voter" && m.url !== null);
    });

    // Remove a follower (not the one we talk to).
    const victim = nodes.find((s) => s !== leader && s !== follower)!;
    const vid = victim.served.node.id;
    const removed = await fetchJson(`${url4}/members/${vid}`, { method: "DELETE", headers: AUTH });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.deepEqual(
      members(removed.body).map((m) => m.id),
      ["n1", "n2", "n3", "n4"].filter((id) => id !== vid),
    );
    await waitFor(
      "the removed node learns it",
      () => victim.served.node.status().confState.voters.length === 3,
    );

    // Writes still commit on the new membership, through the joined node.
    assert.equal((await put(url4, "after", "yes")).status, 200);
    const rest = [leader, follower, n4];
    await waitFor(
      "every member applies the write",
      () => rest.every((s) => s.kv.get("after") === "yes"),
    );
  } finally {
    await Promise.all([...nodes, ...(n4 ? [n4] : [])].map((s) => s.served.stop()));
  }
});

Deno.test("memberRoutes: 409 change_in_progress while a change cannot commit, 503 with no leader", async () => {
  const { nodes } = await cluster(3);
  try {
    const leader = await leaderOf(nodes);
    const url = leader.served.url;
    // Without a quorum the first change stays pending until it times out.
    await Promise.all(nodes.filter((s) => s !== leader).map((s) => s.served.stop()));
    const before = leader.served.node.status().lastIndex;
    const first = post(`${url}/members`, { id: "n8", url: "http://127.0.0.1:1" });
    await waitFor(
      "the first change is in the log",
      () => leader.served.node.status().lastIndex > before,
    );
    const second = await post(`${url}/members`, { id: "n9", url: "http://127.0.0.1:2" });
    assert.equal(second.status, 409);
    assert.equal(second.body.error, "change_in_progress");
    const r = await first;
    assert.ok(r.status === 504 || r.status === 503, JSON.stringify(r));
  } finally {
    await Promise.all(nodes.map((s) => s.served.stop()));
  }

  // A node that is in no cluster yet knows no leader.
  const lone = await start("x1", freePort(), {}, new MemoryStorage());
  try {
    const listed = await fetchJson(`${lone.served.url}/members`, { headers: AUTH });
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body, { leader: null, members: [] });
    const r = await post(`${lone.served.url}/members`, { id: "x2", url: "http://127.0.0.1:3" });
    assert.equal(r.status, 503);
    assert.equal(r.body.error, "no_leader");
    assert.ok(r.headers.get("retry-after"));
  } finally {
    await lone.served.stop();
  }
});

Deno.test("memberRoutes: a learner the leader never reached is not promoted", async () => {
  const { nodes } = await cluster(3);
  try {
    const leader = await leaderOf(nodes);
    const url = leader.served.url;
    assert.equal((await put(url, "k", "v")).status, 200);
    // Nothing listens at port 1: the learner never answers an append.
    const added = await post(`${url}/members`, { id: "n5", url: "http://127.0.0.1:1" });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    await waitFor(
      "the leader tried n5",
      () => leader.served.node.status().members.some((m) => m.id === "n5" && m.learner),
    );
    const promoted = await post(`${url}/members/n5/promote`);
    assert.equal(promoted.status, 409, JSON.stringify(promoted.body));
    assert.equal(promoted.body.error, "not_caught_up");
    assert.match(String(promoted.body.message), /no confirmed replication/);
    assert.ok(leader.served.node.status().confState.learners.includes("n5"));
    assert.equal((await put(url, "k2", "v2")).status, 200);
  } finally {
    await Promise.all(nodes.map((s) => s.served.stop()));
  }
});

Deno.test("memberRoutes: leadership moves to the voter asked for, through any node; learners and strangers are refused", async () => {
  const { nodes, peers } = await cluster(3);
  let n4: Node | undefined;
  try {
    const leader = await leaderOf(nodes);
    const [a, b] = nodes.filter((s) => s !== leader) as [Node, Node];
    await waitFor(
      "the followers know the leader",
      () => a.served.node.leader !== "" && b.served.node.leader !== "",
    );
    const to = (via: Node, id: string, headers: Record<string, string> = AUTH) =>
      post(`${via.served.url}/members/${id}/transfer-leadership`, undefined, headers);

    assert.equal((await to(a, b.served.node.id, {})).status, 401);
    const stranger = await to(a, "n9");
    assert.equal(stranger.status, 409);
    assert.equal(stranger.body.error, "not_a_member");
    // A learner cannot lead.
    const port4 = freePort();
    n4 = await start(
      "n4",
      port4,
      { ...peers, n4: `http://127.0.0.1:${port4}` },
      new MemoryStorage(),
    );
    assert.equal(
      (await post(`${leader.served.url}/members`, { id: "n4", url: `http://127.0.0.1:${port4}` }))
        .status,
      201,
    );
    const learner = await to(a, "n4");
    assert.equal(learner.status, 409);
    assert.equal(learner.body.error, "not_a_voter");

    // Asked of a follower (forwarded to the leader), to the other follower: it answers once b leads.
    const term = leader.served.node.status().term;
    const moved = await to(a, b.served.node.id);
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal((moved.body as unknown as MembersBody).leader, b.served.node.id);
    await waitFor("b leads", () => b.served.node.role === "leader");
    assert.ok(b.served.node.status().term > term);
    // To the leader itself: nothing to do.
    const again = await to(leader, b.served.node.id);
    assert.equal(again.status, 200);
    assert.equal(b.served.node.role, "leader");
    // Writes go on under the new leader.
    assert.equal((await put(a.served.url, "after", "move")).status, 200);
    // And back, with `raftlog move-leader` (asking a follower first).
    const log = console.log;
    console.log = () => {};
    try {
      const code = await runMembersCommand("move-leader", [
        "--id",
        leader.served.node.id,
        "--cluster",
        `${a.served.url},${b.served.url}`,
        "--secret",
        SECRET,
      ]);
      assert.equal(code, 0);
    } finally {
      console.log = log;
    }
    assert.equal(leader.served.node.leader, leader.served.node.id);
  } finally {
    await Promise.all([...nodes, ...(n4 ? [n4] : [])].map((s) => s.served.stop()));
  }
});
