import assert from "node:assert/strict";
import { RaftNode } from "../raft/node.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { MemberClient } from "../transport/member_client.ts";
import { parseServeArgs } from "../cli.ts";
import { memberRoutes } from "../transport/member_routes.ts";
import { joinCluster, splitJoinArgs } from "./join.ts";

Deno.test("joinCluster refuses a voter whose data directory is empty (it forgot its votes)", async () => {
  const node = await RaftNode.start({
    id: "n2",
    storage: new MemoryStorage(),
    transport: { send() {} },
    stateMachine: {
      apply: (c) => c.map(() => null),
      snapshot: () => new Uint8Array(),
      restore: () => {},
    },
  });
  const members = {
    leader: "n1",
    members: [
      { id: "n1", url: "http://h:1", role: "voter" as const },
      { id: "n2", url: "http://h:2", role: "voter" as const },
    ],
  };
  const client = new MemberClient({ urls: "http://h:1", secret: "s" });
  try {
    await assert.rejects(
      joinCluster({ node, client, url: "http://h:2", learner: false, hadState: false, members }),
      /n2 is a voter of the cluster but this data directory is empty/,
    );
    // With its state, the same voter simply resumes.
    const outcome = await joinCluster({
      node,
      client,
      url: "http://h:2",
      learner: false,
      hadState: true,
      members,
    });
    assert.equal(outcome, "voter");
  } finally {
    await node.stop();
  }
});

const sm = {
  apply: (c: readonly unknown[]) => c.map(() => null),
  snapshot: () => new Uint8Array(),
  restore: () => {},
};

for (const listen of ["joiner:80", "Node4:7004"]) {
  Deno.test(`raftlog join with --listen ${listen} and no --url joins (its URL compares normalized)`, async () => {
    // What joinAndServe computes as this node's URL.
    const j = splitJoinArgs([
      "--id",
      "n4",
      "--listen",
      listen,
      "--cluster",
      "http://seed:7001",
      "--secret",
      "s3cret",
      "--data",
      "./data/n4-unused",
    ]);
    const cfg = parseServeArgs(j.serveArgs, () => undefined);
    const self = j.url ?? cfg.peers[cfg.id]!;

    const n1 = await RaftNode.start({
      id: "n1",
      storage: MemoryStorage.withVoters(["n1"]),
      transport: { send() {} },
      stateMachine: sm,
      peerUrls: { n1: "http://seed:7001" },
    });
    const n4 = await RaftNode.start({
      id: "n4",
      storage: new MemoryStorage(),
      transport: { send() {} },
      stateMachine: sm,
    });
    try {
      n1.campaign();
      await n1.waitForLeader(5000);
      const app = memberRoutes({ node: n1, secret: "s3cret", timeoutMs: 5000 });
      const client = new MemberClient({
        urls: "http://seed:7001",
        secret: "s3cret",
        fetch: (input, init) => Promise.resolve(app.request(input, init)),
      });
      let error = "";
      try {
        await joinCluster({
          node: n4,
          client,
          url: self,
          learner: true,
          hadState: false,
          deadlineMs: 2000,
        });
      } catch (e) {
        error = String(e);
      }
      const stored = (await client.list()).members.find((m) => m.id === "n4");
      assert.equal(
        error,
        "",
        `join of ${self} failed although the cluster added ${JSON.stringify(stored)}`,
      );
    } finally {
      await n4.stop();
      await n1.stop();
    }
  });
}
