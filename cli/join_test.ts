import assert from "node:assert/strict";
import { RaftNode } from "../raft/node.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { MemberClient } from "../transport/member_client.ts";
import { joinCluster } from "./join.ts";

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
