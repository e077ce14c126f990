/**
 * A node whose storage fails stops: the writes it had taken are answered
 * 504 `outcome_unknown` (they may be in its log), not dropped with the
 * connection as the server closes.
 */
import assert from "node:assert/strict";
import type { RaftNode } from "../raft/node.ts";
import type { SaveOptions, StorageUpdate } from "../raft/storage/writable_storage.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { type KvResult, KvStateMachine } from "../raft/testing/kv_state_machine.ts";
import { kvRoutes } from "../transport/kv_routes.ts";
import { serveNode } from "../transport/server.ts";
import { freePort, waitFor } from "./helpers.ts";

/**
 * Memory storage of a one-node cluster whose saves, after `hold()`, wait
 * until `fail()` and then fail (like a full disk).
 */
function failingStorage(): { storage: MemoryStorage; hold(): void; fail(): void } {
  const storage = MemoryStorage.withVoters(["n1"]);
  const save = storage.save.bind(storage);
  let held: Promise<void> | undefined;
  let failNow = () => {};
  storage.save = (update: StorageUpdate, options?: SaveOptions) =>
    held === undefined ? save(update, options) : held;
  return {
    storage,
    hold() {
      held = new Promise((_, reject) =>
        failNow = () => reject(new Error("No space left on device (os error 28)"))
      );
      held.catch(() => {});
    },
    fail: () => failNow(),
  };
}

Deno.test("a node whose storage fails answers the writes it had taken 504 outcome_unknown before its server closes", async () => {
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const { storage, hold, fail } = failingStorage();
  const kv = new KvStateMachine();
  const served = await serveNode<KvResult>({
    id: "n1",
    hostname: "127.0.0.1",
    port,
    peers: { n1: url },
    clusterId: "f",
    secret: "s",
    storage,
    stateMachine: kv,
    tickMs: 10,
    routes: (node, metrics) => [kvRoutes(node as RaftNode<KvResult>, kv, metrics)],
  });
  // As the command line does: a node that failed is stopped, server and all.
  served.node.on("stopped", (e) => {
    if (e.error !== undefined) served.stop();
  });
  try {
    await waitFor("a leader", () => served.node.role === "leader");
    const put = (i: number) =>
      fetch(`${url}/commands`, {
        method: "POST",
        body: JSON.stringify({ op: "put", key: `k${i}`, value: "v" }),
      }).then(async (r) => {
        const text = await r.text();
        return r.ok ? `${r.status}` : `${r.status} ${JSON.parse(text).error}`;
      }, (e) => `error ${e}`);
    assert.equal(await put(0), "200");
    let taken = 0;
    const propose = served.node.propose.bind(served.node);
    served.node.propose = (...args) => (taken++, propose(...args));
    hold();
    const answers = Promise.all(Array.from({ length: 8 }, (_, i) => put(i + 1)));
    // Every write is proposed (and the first in the log) before the disk fails.
    await waitFor("8 writes taken", () => taken === 8);
    fail();
    assert.deepEqual(await answers, Array(8).fill("504 outcome_unknown"));
  } finally {
    await served.stop();
  }
});
