import assert from "node:assert/strict";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { eventStoreRoutes } from "../transport/eventstore_routes.ts";
import { RaftlogClient } from "./client.ts";
import { StorageQuotaError } from "./errors.ts";
import { EventStore } from "./event_store.ts";

Deno.test("EventStore with a storage quota refuses appends at the quota, and only appends", async () => {
  let used = 0;
  const store = await EventStore.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1"]),
    transport: { send() {} },
    tickMs: 5,
    storageQuota: { bytes: 1000, used: () => used },
  });
  try {
    await store.node.waitForLeader(2000);
    await store.append("a", { type: "T" });
    await store.append("b", { type: "T" });
    used = 1000;
    await assert.rejects(store.append("a", { type: "T" }), (e: unknown) => {
      assert.ok(e instanceof StorageQuotaError);
      assert.match(e.message, /1000 bytes on disk, at or over its quota of 1000/);
      return true;
    });
    // What frees space still goes through.
    await store.setMetadata("a", { maxCount: 1 });
    await store.deleteStream("b");
    assert.equal(store.stateMachine.lastPosition, 1, "nothing was appended");
    used = 999;
    await store.append("a", { type: "T" });
    assert.equal(store.stateMachine.lastPosition, 2);

    // Over HTTP: 507 quota_exceeded, which the client throws as StorageQuotaError.
    used = 5000;
    const app = eventStoreRoutes(store);
    const res = await app.request("/streams/a", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"type":"T"}',
    });
    assert.equal(res.status, 507);
    assert.equal((await res.json()).error, "quota_exceeded");
    const client = new RaftlogClient({
      urls: ["http://node"],
      fetch: (input, init) => app.request(new URL(input).pathname, init),
      retries: 0,
    });
    await assert.rejects(client.append("a", { type: "T" }), StorageQuotaError);
  } finally {
    await store.stop();
  }
});

Deno.test("EventStore refuses a storage quota that is not a positive integer", async () => {
  for (const bytes of [0, -1, 1.5, NaN]) {
    await assert.rejects(
      EventStore.start({
        id: "n1",
        storage: MemoryStorage.withVoters(["n1"]),
        transport: { send() {} },
        storageQuota: { bytes, used: () => 0 },
      }),
      /storageQuota.bytes must be a positive integer/,
    );
  }
});
