/**
 * `raftlog serve --quota-bytes`: a real node refuses appends once its log,
 * snapshot and archive reach the quota, and still takes deletes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { RaftlogClient } from "../eventstore/client.ts";
import { StorageQuotaError } from "../eventstore/errors.ts";
import { parseServeArgs } from "../cli.ts";
import { leaderOf, startNodes, stopNodes } from "./_procs.ts";

Deno.test("parseServeArgs takes --quota-bytes for the event store only", () => {
  const base = ["--id", "n1", "--listen", "127.0.0.1:7001", "--secret", "s"];
  assert.equal(parseServeArgs([...base, "--quota-bytes", "1000"]).quotaBytes, 1000);
  assert.equal(parseServeArgs(base).quotaBytes, undefined);
  assert.throws(() => parseServeArgs([...base, "--quota-bytes", "0"]), /positive integer/);
  assert.throws(
    () => parseServeArgs([...base, "--app", "kv", "--quota-bytes", "1000"]),
    /applies to the event store/,
  );
});

Deno.test({
  name: "raftlog serve --quota-bytes refuses appends at the quota and takes deletes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "raftlog-quota-" });
    const procs = startNodes([join(root, "n1")], {
      app: "events",
      secret: "s",
      extraArgs: ["--quota-bytes", "200000"],
    });
    try {
      const node = await leaderOf(procs);
      const client = new RaftlogClient({ urls: [node.url], retries: 0 });
      const data = { pad: "x".repeat(10_000) };
      let appended = 0;
      let refused: unknown;
      for (let i = 0; i < 100 && refused === undefined; i++) {
        try {
          await client.append(`s${i % 3}`, { type: "T", data });
          appended++;
        } catch (e) {
          refused = e;
        }
      }
      assert.ok(refused instanceof StorageQuotaError, String(refused));
      assert.ok(appended >= 10 && appended <= 25, `${appended} appends of 10 kB before 200 kB`);
      await client.deleteStream("s0");
      await assert.rejects(client.append("s1", { type: "T" }), StorageQuotaError);
    } finally {
      await stopNodes(procs);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
