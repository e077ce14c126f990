/**
 * `deno task cluster` (cluster.ts) resumed after membership changes: a node
 * joins the cluster with `cli.ts join`, one of the script's nodes leaves,
 * and the script is stopped and run again on the same data directory.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { HUGE_PAGES_TUNABLE } from "../cli/huge_pages.ts";
import type { MembersBody } from "../transport/member_routes.ts";
import { SECRET_HEADER } from "../transport/peer_transport.ts";
import { type NodeProc, spawnNode, stopNodes } from "./_procs.ts";
import {
  type ClusterScript,
  environOf,
  freePortRun,
  startScript,
  stopScript,
  summaryOf,
} from "./_cluster_script.ts";
import { fetchJson, waitFor } from "./helpers.ts";

async function membersOf(url: string, secret: string): Promise<MembersBody | undefined> {
  try {
    const r = await fetchJson(`${url}/members`, {
      headers: { [SECRET_HEADER]: secret },
      signal: AbortSignal.timeout(1000),
    });
    return r.status === 200 ? r.body as unknown as MembersBody : undefined;
  } catch {
    return undefined;
  }
}

async function listening(url: string): Promise<boolean> {
  try {
    await (await fetch(`${url}/status`, { signal: AbortSignal.timeout(1000) })).body?.cancel();
    return true;
  } catch {
    return false;
  }
}

Deno.test("cluster.ts resumed does not start a node that left and lists a node that joined", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-cluster-resume-" });
  const data = join(dir, "cluster");
  const base = freePortRun(4);
  const url = (i: number) => `http://127.0.0.1:${base + i - 1}`;
  const scriptArgs = ["--data", data, "--base-port", String(base), "--app", "kv"];
  const scripts: ClusterScript[] = [];
  const joined: NodeProc[] = [];
  let ok = false;
  try {
    const first = startScript([...scriptArgs, "--log-level", "warn"]);
    scripts.push(first);
    const before = await summaryOf(first);
    assert.ok(before.some((l) => l.includes(`n3  ${url(3)}`)), before.join("\n"));
    if (Deno.build.os === "linux") {
      // The script starts its nodes with transparent huge pages for malloc (cli/huge_pages.ts).
      const nodes = [...environOf(join(data, "n")).values()].filter((e) => e.size > 0);
      assert.ok(nodes.length >= 3, `found ${nodes.length} node processes`);
      for (const env of nodes) {
        const tunables = env.get("GLIBC_TUNABLES");
        assert.ok(tunables?.split(":").includes(HUGE_PAGES_TUNABLE), `GLIBC_TUNABLES=${tunables}`);
      }
    }

    // n4 joins through a follower or the leader; then n3 leaves.
    const secret = (await Deno.readTextFile(join(data, "secret"))).trim();
    const { clusterId } = JSON.parse(await Deno.readTextFile(join(data, "cluster.json")));
    const joinArgs = [
      "--id",
      "n4",
      "--listen",
      url(4).slice("http://".length),
      "--data",
      join(dir, "n4"),
      "--secret",
      secret,
      "--cluster-id",
      clusterId,
      "--app",
      "kv",
      "--log-level",
      "warn",
      "--cluster",
      url(1),
    ];
    joined.push({
      id: "n4",
      url: url(4),
      args: joinArgs,
      ...spawnNode({ command: "join", args: joinArgs }),
    });
    await waitFor("n4 is a voter", async () => {
      const m = await membersOf(url(1), secret);
      return m?.members.some((x) => x.id === "n4" && x.role === "voter");
    }, 30_000);
    await waitFor("n3 is removed", async () => {
      const r = await fetchJson(`${url(1)}/members/n3`, {
        method: "DELETE",
        headers: { [SECRET_HEADER]: secret },
        signal: AbortSignal.timeout(5000),
      }).catch(() => undefined);
      return r?.status === 200;
    }, 30_000);
    // n2 applied the removal too, so both n1 and n2 keep it in their data directories.
    await waitFor("n2 sees n1, n2, n4", async () => {
      const m = await membersOf(url(2), secret);
      return m?.members.map((x) => x.id).join() === "n1,n2,n4";
    }, 10_000);
    assert.equal(await stopScript(first), 0, first.out.join("\n"));

    // Resumed: n3 is not started; n4 (still running on its own) is listed as a member.
    const second = startScript(scriptArgs);
    scripts.push(second);
    const summary = await summaryOf(second);
    const text = second.out.join("\n");
    assert.match(text, /Not starting n3: it is no longer a member of the cluster/);
    const rows = summary.slice(1).filter((l) => /^ {2}n\d+ /.test(l));
    assert.deepEqual(rows.map((l) => l.trim().split(/\s+/)[0]), ["n1", "n2", "n4"], text);
    const n4Row = rows.find((l) => l.trim().startsWith("n4"))!;
    assert.ok(n4Row.includes(url(4)), n4Row);
    assert.match(n4Row, /not started by this script/);
    assert.ok(!rows.some((l) => l.includes("not started") && !l.includes("n4")), text);
    assert.ok(!text.includes("[n3]"), "n3 logged nothing: it was not started");
    assert.equal(await listening(url(3)), false, "nothing serves on n3's port");
    // The resumed cluster takes writes (n1 may learn who leads a moment after the summary: 503).
    await waitFor("a write through n1", async () => {
      const put = await fetchJson(`${url(1)}/commands`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ op: "put", key: "resumed", value: "yes" }),
        signal: AbortSignal.timeout(10_000),
      });
      return put.status === 200;
    }, 20_000);
    assert.equal(await stopScript(second), 0, text);
    ok = true;
  } finally {
    for (const s of scripts) await stopScript(s);
    await stopNodes(joined);
    if (!ok) {
      for (const s of scripts) console.error(`--- cluster.ts\n${[...s.out, ...s.err].join("\n")}`);
      for (const p of joined) console.error(`--- ${p.id}\n${p.log.slice(-30).join("\n")}`);
    }
    await Deno.remove(dir, { recursive: true });
  }
});
