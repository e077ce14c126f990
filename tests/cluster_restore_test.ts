/**
 * `deno task cluster --restore FILE`: a local cluster made from a backup
 * serves its events; a damaged backup or a used directory is refused before
 * anything is written.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RaftlogClient } from "../eventstore/client.ts";
import { leaderOf, startNodes, stopNodes } from "./_procs.ts";
import { freePortRun, startScript, stopScript, summaryOf } from "./_cluster_script.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function run(args: string[]): Promise<{ code: number; err: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(ROOT, "deno.json"), ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, err: new TextDecoder().decode(out.stderr) };
}

Deno.test({
  name: "deno task cluster --restore makes a cluster from a backup; damaged files are refused",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "raftlog-cluster-restore-" });
    const olds = startNodes([join(root, "old1")], { app: "events", secret: "s" });
    const scripts = [];
    try {
      const old = await leaderOf(olds);
      const before = new RaftlogClient({ urls: [old.url] });
      for (let i = 0; i < 20; i++) {
        await before.append(`orders-${i % 3}`, { type: "Placed", data: { i } });
      }
      const events = (await before.readAll({ limit: 100 })).events;
      const file = join(root, "b.backup");
      const b = await run([
        join(ROOT, "cli.ts"),
        "backup",
        "--cluster",
        old.url,
        "--out",
        file,
        "--secret",
        "s",
      ]);
      assert.equal(b.code, 0, b.err);
      await stopNodes(olds);

      const bytes = await Deno.readFile(file);
      await Deno.writeFile(join(root, "cut.backup"), bytes.subarray(0, bytes.length - 7));
      const cut = await run([
        join(ROOT, "cluster.ts"),
        "--data",
        join(root, "c0"),
        "--restore",
        join(root, "cut.backup"),
      ]);
      assert.equal(cut.code, 1, cut.err);
      assert.match(cut.err, /cannot restore .*cut short/);
      await assert.rejects(Deno.stat(join(root, "c0")), Deno.errors.NotFound);

      const base = freePortRun(3);
      const data = join(root, "c1");
      const script = startScript(["--data", data, "--base-port", String(base), "--restore", file]);
      scripts.push(script);
      await summaryOf(script);
      assert.ok(
        script.out.some((l) => /^Restored from .*: n1's state at index \d+/.test(l)),
        script.out.join("\n"),
      );
      for (let i = 0; i < 3; i++) {
        const c = new RaftlogClient({ urls: [`http://127.0.0.1:${base + i}`] });
        assert.deepEqual(
          (await c.readAll({ limit: 100, consistency: "linearizable" })).events,
          events,
        );
      }
      assert.equal(await stopScript(script), 0);
      // Once made, the cluster resumes as any other; --restore on it is refused.
      const again = await run([
        join(ROOT, "cluster.ts"),
        "--data",
        data,
        "--base-port",
        String(base),
        "--restore",
        file,
      ]);
      assert.equal(again.code, 2, again.err);
      assert.match(again.err, /--restore makes a new cluster/);
    } finally {
      await stopNodes(olds);
      for (const s of scripts) await stopScript(s);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
