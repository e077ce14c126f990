/**
 * `cli.ts join` against a 3-process cluster: the fourth node is added as a
 * learner, catches up, becomes a voter holding the data; restarted with
 * plain `serve` and with `join` it resumes without being added again; and
 * `cli.ts leave` removes it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { MembersBody } from "../transport/member_routes.ts";
import { SECRET_HEADER } from "../transport/peer_transport.ts";
import { leaderOf, type NodeProc, spawnNode, startNodes, stopNodes } from "./_procs.ts";
import { fetchJson, freePort, waitFor } from "./helpers.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
const SECRET = "join-process-secret";
const COMMON = ["--cluster-id", "join-test", "--tick-ms", "10", "--snapshot-every", "20"];

async function put(url: string, key: string, value: string): Promise<boolean> {
  try {
    const r = await fetchJson(`${url}/commands`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ op: "put", key, value }),
      signal: AbortSignal.timeout(3000),
    });
    return r.status === 200;
  } catch {
    return false;
  }
}

async function localValue(url: string, key: string): Promise<string | undefined> {
  try {
    const r = await fetchJson(`${url}/kv/${key}?consistency=local`, {
      signal: AbortSignal.timeout(1000),
    });
    return r.status === 200 ? String(r.body.value) : undefined;
  } catch {
    return undefined;
  }
}

async function membersOf(url: string): Promise<MembersBody | undefined> {
  try {
    const r = await fetchJson(`${url}/members`, {
      headers: { [SECRET_HEADER]: SECRET },
      signal: AbortSignal.timeout(1000),
    });
    return r.status === 200 ? r.body as unknown as MembersBody : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves once every node in `urls` has applied `key` = `value`. */
async function everyoneHas(urls: readonly string[], key: string, value: string): Promise<void> {
  await waitFor(`${key} applied on ${urls.join(", ")}`, async () => {
    const vs = await Promise.all(urls.map((u) => localValue(u, key)));
    return vs.every((v) => v === value);
  }, 20_000);
}

Deno.test("cli.ts join adds a fourth node as a learner, promotes it, and it resumes after restarts", async () => {
  const dirs = await Promise.all(
    [1, 2, 3, 4].map(() => Deno.makeTempDir({ prefix: "raftlog-join-" })),
  );
  const procs: NodeProc[] = startNodes(dirs.slice(0, 3), {
    app: "kv",
    secret: SECRET,
    logLevel: "info",
    extraArgs: COMMON,
  });
  const url4 = `http://127.0.0.1:${freePort()}`;
  const joinArgs = [
    "--id",
    "n4",
    "--listen",
    url4.slice("http://".length),
    "--data",
    dirs[3]!,
    "--secret",
    SECRET,
    "--app",
    "kv",
    "--log-level",
    "info",
    "--cluster",
    // Any member will do; a follower forwards the change to the leader.
    procs.map((p) => p.url).reverse().join(","),
    ...COMMON,
  ];
  let ok = false;
  try {
    const leader = await leaderOf(procs);
    // Enough writes that the joiner gets a snapshot, then the log's tail.
    for (let i = 0; i < 50; i++) assert.ok(await put(leader.url, `k${i}`, `v${i}`), `put k${i}`);

    const n4: NodeProc = {
      id: "n4",
      url: url4,
      args: joinArgs,
      ...spawnNode({ command: "join", args: joinArgs }),
    };
    procs.push(n4);
    await waitFor("n4 is a voter with its URL", async () => {
      const m = await membersOf(leader.url);
      return m?.members.some((x) => x.id === "n4" && x.role === "voter" && x.url === url4);
    }, 30_000);
    await everyoneHas([url4], "k49", "v49");
    assert.equal(await localValue(url4, "k0"), "v0");

    // Writes through the new member commit on all four.
    assert.ok(await put(url4, "after-join", "yes"));
    await everyoneHas(procs.map((p) => p.url), "after-join", "yes");
    // Every original member keeps n4's URL for its restarts.
    await waitFor("peers.json on n1 lists n4", async () => {
      const saved = JSON.parse(await Deno.readTextFile(`${dirs[0]}/peers.json`));
      return saved.n4 === url4;
    });

    // Restart n4 with plain serve: no --peers, it finds its peers in its data directory.
    await stopNodes([n4]);
    assert.equal((await n4.child.status).code, 0);
    const serveArgs = joinArgs.slice(0, joinArgs.indexOf("--cluster")).concat(COMMON);
    Object.assign(n4, spawnNode({ args: serveArgs }));
    assert.ok(
      await waitFor("a write after n4 restarted", () => put(leader.url, "after-serve", "1")),
    );
    await everyoneHas(procs.map((p) => p.url), "after-serve", "1");
    const seen = await membersOf(url4);
    assert.deepEqual(seen?.members.map((m) => m.url), procs.map((p) => p.url), "n4's peers");

    // Restart it with join: it resumes without asking to be added again.
    await stopNodes([n4]);
    Object.assign(n4, spawnNode({ command: "join", args: joinArgs }));
    await waitFor("n4 reports it joined", () => n4.log.some((l) => l.includes('"joined"')), 20_000);
    assert.ok(!n4.log.some((l) => l.includes("asking the cluster to add")), n4.log.join("\n"));
    assert.ok(n4.log.some((l) => l.includes('"outcome":"voter"')), n4.log.join("\n"));
    assert.ok(await waitFor("a write after n4 rejoined", () => put(url4, "after-rejoin", "1")));
    await everyoneHas(procs.map((p) => p.url), "after-rejoin", "1");
    const members = await membersOf(leader.url);
    assert.deepEqual(members?.members.map((m) => `${m.id}:${m.role}`), [
      "n1:voter",
      "n2:voter",
      "n3:voter",
      "n4:voter",
    ]);

    // cli.ts leave removes it; the other three keep committing.
    const leave = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        CONFIG,
        CLI,
        "leave",
        "--id",
        "n4",
        "--cluster",
        procs[1]!.url,
        "--secret",
        SECRET,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(leave.stdout);
    assert.equal(leave.code, 0, new TextDecoder().decode(leave.stderr));
    assert.deepEqual((JSON.parse(out) as MembersBody).members.map((m) => m.id), ["n1", "n2", "n3"]);
    const three = procs.slice(0, 3).map((p) => p.url);
    assert.ok(await waitFor("a write after n4 left", () => put(three[0]!, "after-leave", "1")));
    await everyoneHas(three, "after-leave", "1");
    ok = true;
  } finally {
    await stopNodes(procs);
    if (!ok) {
      for (const p of procs) console.error(`--- ${p.id}\n${p.log.slice(-30).join("\n")}`);
    }
    await Promise.all(dirs.map((d) => Deno.remove(d, { recursive: true })));
  }
});
