import assert from "node:assert/strict";
import { StreamNotFoundError } from "../eventstore/errors.ts";
import { EventStore } from "../eventstore/event_store.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { createApp } from "./app.ts";
import { eventStoreRoutes } from "./eventstore_routes.ts";
import { NodeMetrics } from "./metrics.ts";

Deno.test("a method a path has no route for is 405 with Allow; an unknown path or resource is 404", async () => {
  const store = await EventStore.start({
    id: "n1",
    storage: MemoryStorage.withVoters(["n1"]),
    transport: { send() {} },
    tickMs: 2,
  });
  const { app, close } = createApp({
    node: store.node,
    clusterId: "c",
    secret: "s",
    metrics: new NodeMetrics(),
    routes: [eventStoreRoutes(store)],
  });
  try {
    await store.node.waitForLeader(5000);
    const cases: [string, string, number, string | null][] = [
      ["PUT", "/all", 405, "GET, HEAD"],
      ["PATCH", "/streams/s", 405, "DELETE, GET, HEAD, POST"],
      ["POST", "/streams/s/metadata", 405, "GET, HEAD, PUT"],
      ["DELETE", "/status", 405, "GET, HEAD"],
      ["GET", "/nope", 404, null],
      ["POST", "/streams/s/7/x", 404, null],
      // The route exists for GET; the resource does not.
      ["GET", "/streams/s/abc", 404, null],
    ];
    for (const [method, path, status, allow] of cases) {
      const res = await app.request(path, { method });
      const body = await res.json();
      const what = `${method} ${path}`;
      assert.equal(res.status, status, what);
      assert.equal(res.headers.get("allow"), allow, what);
      assert.equal(body.error, status === 405 ? "method_not_allowed" : "not_found", what);
      assert.equal(typeof body.message, "string", what);
    }
    // Nothing was written by the refused requests.
    await assert.rejects(store.read("s"), StreamNotFoundError);
  } finally {
    await close();
    await store.stop();
  }
});
