/**
 * `/metrics` of a real `raftlog serve --app events` node on FileStorage:
 * leadership, disk syncs and log size, and the event store's counts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { RaftlogClient } from "../eventstore/client.ts";
import { leaderOf, startNodes, stopNodes } from "./_procs.ts";
import { waitFor } from "./helpers.ts";

function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m, `${name} in\n${text}`);
  return Number(m[1]);
}

Deno.test({
  name:
    "/metrics shows leadership, disk syncs, log bytes, the event store's events and streams, and the process",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "raftlog-metrics-" });
    const procs = startNodes([join(root, "n1")], {
      app: "events",
      secret: "s",
      extraArgs: ["--snapshot-every", "5"],
    });
    try {
      const node = await leaderOf(procs);
      const scrape = async () => await (await fetch(`${node.url}/metrics`)).text();
      // The change is counted once the node has handled the Ready that tells it (after its
      // vote is on disk), a moment after /status already names the leader.
      const before = await waitFor("the leader change counted", async () => {
        const t = await scrape();
        return sample(t, "raftlog_leader_changes_seen_total") >= 1 ? t : undefined;
      });
      assert.equal(sample(before, "raftlog_has_leader"), 1);
      assert.equal(sample(before, "raftlog_leader_changes_seen_total"), 1);
      assert.equal(sample(before, "raftlog_eventstore_events"), 0);
      const client = new RaftlogClient({ urls: [node.url] });
      await client.append("a", [{ type: "T" }, { type: "T" }]);
      await client.append("b", { type: "T", data: { x: "y".repeat(1000) } });
      const after = await scrape();
      assert.equal(sample(after, "raftlog_eventstore_events"), 3);
      assert.equal(sample(after, "raftlog_eventstore_streams"), 2);
      assert.ok(
        sample(after, "raftlog_disk_log_bytes") > sample(before, "raftlog_disk_log_bytes") + 1000,
      );
      const syncs = sample(after, "raftlog_disk_sync_duration_seconds_count");
      assert.ok(
        syncs >= 2 + sample(before, "raftlog_disk_sync_duration_seconds_count"),
        `${syncs}`,
      );
      assert.equal(
        sample(after, 'raftlog_disk_sync_duration_seconds_bucket\\{le="\\+Inf"\\}'),
        syncs,
      );
      // Snapshots (every 5 entries or so here): timed, and the latest one's size shown.
      for (let i = 0; i < 20; i++) await client.append("c", { type: "T" });
      const snapped = await waitFor("a snapshot in /metrics", async () => {
        const t = await scrape();
        return sample(t, "raftlog_disk_snapshot_duration_seconds_count") >= 1 ? t : undefined;
      });
      assert.ok(sample(snapped, "raftlog_disk_snapshot_bytes") > 0);
      // The node process's own figures: its memory, its CPU time, its open files (it runs with -A).
      const rss = sample(snapped, "process_resident_memory_bytes");
      assert.ok(rss > 20e6 && rss < 2e9, `rss ${rss}`);
      assert.ok(sample(snapped, "process_cpu_seconds_total") > 0);
      assert.ok(sample(snapped, "raftlog_heap_used_bytes") > 0);
      if (Deno.build.os === "linux") {
        const fds = sample(snapped, "process_open_fds");
        assert.ok(fds >= 3 && fds <= sample(snapped, "process_max_fds"), `${fds} open files`);
      }
    } finally {
      await stopNodes(procs);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
