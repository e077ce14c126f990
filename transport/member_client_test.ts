import assert from "node:assert/strict";
import { MemberClient, MemberRequestError } from "./member_client.ts";

const MEMBERS = { leader: "n1", members: [] };

/** A fetch answering per node (by host) with `answer`, recording each call. */
function fakeFetch(answer: (host: string, method: string) => Response | "down") {
  const calls: string[] = [];
  const fetch = (input: string, init?: RequestInit): Promise<Response> => {
    const u = new URL(input);
    calls.push(`${init?.method ?? "GET"} ${u.host}`);
    const r = answer(u.host, init?.method ?? "GET");
    return r === "down" ? Promise.reject(new TypeError("connection refused")) : Promise.resolve(r);
  };
  return { calls, fetch };
}

const urls = ["http://a:1", "http://b:1", "http://c:1"];
const noLeader = () =>
  Response.json({ error: "no_leader", message: "No leader is known" }, { status: 503 });

Deno.test("MemberClient: a node that answers 503 (no leader, removed) passes the change to the next node", async () => {
  const f = fakeFetch((host) => host === "a:1" ? noLeader() : Response.json(MEMBERS));
  const client = new MemberClient({ urls, secret: "s", fetch: f.fetch });
  assert.deepEqual(await client.add({ id: "n4", url: "http://d:1" }), MEMBERS);
  assert.deepEqual(f.calls, ["POST a:1", "POST b:1"]);
  // The next call starts at the node that answered.
  await client.remove("n4");
  assert.deepEqual(f.calls.slice(2), ["DELETE b:1"]);
});

Deno.test("MemberClient: an authoritative refusal is not sent to other nodes", async () => {
  const f = fakeFetch(() =>
    Response.json({ error: "member_exists", message: "n4 is already a voter" }, { status: 409 })
  );
  const client = new MemberClient({ urls, secret: "s", fetch: f.fetch });
  await assert.rejects(client.add({ id: "n4", url: "http://d:1" }), (e: unknown) => {
    assert.ok(e instanceof MemberRequestError);
    assert.equal(e.code, "member_exists");
    assert.equal(e.transient, false);
    return true;
  });
  assert.deepEqual(f.calls, ["POST a:1"]);
});

Deno.test("MemberClient: a change whose outcome is unknown is not sent again, but the retry goes to the next node", async () => {
  const f = fakeFetch((host) =>
    host === "a:1"
      ? Response.json({ error: "forward_failed", message: "leader unreachable" }, { status: 502 })
      : Response.json(MEMBERS)
  );
  const client = new MemberClient({ urls, secret: "s", fetch: f.fetch });
  await assert.rejects(client.promote("n4"), (e: unknown) => {
    assert.ok(e instanceof MemberRequestError && e.transient && e.code === "forward_failed");
    return true;
  });
  assert.deepEqual(f.calls, ["POST a:1"]);
  assert.deepEqual(await client.promote("n4"), MEMBERS);
  assert.deepEqual(f.calls, ["POST a:1", "POST b:1"]);
  // A list is safe to ask anywhere: a 502 passes it on at once.
  const g = fakeFetch((host, method) =>
    host === "a:1" && method === "GET"
      ? Response.json({ error: "timeout", message: "read timed out" }, { status: 504 })
      : Response.json(MEMBERS)
  );
  assert.deepEqual(await new MemberClient({ urls, secret: "s", fetch: g.fetch }).list(), MEMBERS);
  assert.deepEqual(g.calls, ["GET a:1", "GET b:1"]);
});

Deno.test("MemberClient: when no node can answer, the error says why for each and stays transient", async () => {
  const f = fakeFetch((host) => host === "b:1" ? "down" : noLeader());
  const client = new MemberClient({ urls, secret: "s", fetch: f.fetch });
  await assert.rejects(client.remove("n2"), (e: unknown) => {
    assert.ok(e instanceof MemberRequestError);
    assert.equal(e.status, 503);
    assert.equal(e.code, "no_leader");
    assert.ok(e.transient);
    assert.match(e.message, /a:1.*503.*b:1: connection refused.*c:1.*503/);
    return true;
  });
  assert.equal(f.calls.length, 3);
  const down = fakeFetch(() => "down");
  await assert.rejects(
    new MemberClient({ urls, secret: "s", fetch: down.fetch }).list(),
    (e: unknown) => e instanceof MemberRequestError && e.status === 0 && e.code === "unreachable",
  );
});

Deno.test("MemberClient: a 503 `stopped` is an unknown outcome, not sent to another node", async () => {
  // A node answers `stopped` for a change it had not taken (one it had taken is 504
  // `outcome_unknown`), but a node of an earlier version said `stopped` for both.
  const f = fakeFetch((host) =>
    host === "a:1"
      ? Response.json({ error: "stopped", message: "Node n1 stopped" }, { status: 503 })
      : Response.json(
        { error: "not_a_member", message: "Cannot remove n3: it is not a member" },
        { status: 409 },
      )
  );
  const client = new MemberClient({ urls, secret: "s", fetch: f.fetch });
  await assert.rejects(client.remove("n3"), (e: unknown) => {
    assert.ok(e instanceof MemberRequestError);
    // Today: b answers 409 not_a_member (the removal a:1 made already applied there), which
    // `raftlog leave` reports as a definitive failure of a removal that happened.
    assert.equal(e.code, "stopped");
    return true;
  });
  assert.deepEqual(f.calls, ["DELETE a:1"]);
});

Deno.test("MemberClient: a change that timed out is not sent to another node (it may have been made); a list goes on", async () => {
  const calls: string[] = [];
  const fetch = (input: string, init?: RequestInit): Promise<Response> => {
    const u = new URL(input);
    calls.push(`${init?.method ?? "GET"} ${u.host}`);
    if (u.host !== "a:1") return Promise.resolve(Response.json(MEMBERS));
    // Node a takes the request and never answers.
    return new Promise((_, reject) =>
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason))
    );
  };
  const client = new MemberClient({ urls, secret: "s", fetch, timeoutMs: 50 });
  await assert.rejects(client.remove("n3"), (e: unknown) => {
    assert.ok(e instanceof MemberRequestError);
    assert.equal(e.code, "timeout");
    assert.ok(e.transient);
    assert.match(e.message, /may have been made/);
    return true;
  });
  assert.deepEqual(calls, ["DELETE a:1"]);
  // The retry starts at the next node.
  assert.deepEqual(await client.remove("n3"), MEMBERS);
  assert.deepEqual(calls.slice(1), ["DELETE b:1"]);
  const lister = new MemberClient({ urls, secret: "s", fetch, timeoutMs: 50 });
  assert.deepEqual(await lister.list(), MEMBERS);
  assert.deepEqual(calls.slice(2), ["GET a:1", "GET b:1"]);
});
