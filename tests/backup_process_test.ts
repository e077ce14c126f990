/**
 * Backup and restore on real processes: a 3-node event store cluster is
 * backed up with `raftlog backup`, then a new cluster (other ids, other
 * ports, another cluster id) is made from the file with `raftlog restore`
 * and must serve exactly the state of the backup: every event with its id,
 * position, revision, data and timestamp; deleted streams and retention as
 * they were; idempotent retries answered with the original result; new
 * appends numbered on from it. Damaged files and used directories are refused.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RaftlogClient } from "../eventstore/client.ts";
import type { RecordedEvent } from "../eventstore/types.ts";
import { leaderOf, type NodeProc, spawnNode, startNodes, stopNodes } from "./_procs.ts";
import { freePort, waitFor } from "./helpers.ts";

const SECRET = "backup-process-test";
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** `raftlog restore` of `file` into `dir` as a cluster of one node, started and leading. */
async function restoreSolo(file: string, dir: string, app: "events" | "kv"): Promise<NodeProc[]> {
  const url = `http://127.0.0.1:${freePort()}`;
  const r = await cli(["restore", file, "--data", dir, "--id", "solo", "--peers", `solo=${url}`]);
  assert.equal(r.code, 0, r.err);
  const procs = startNodes([dir], { app, secret: SECRET, ids: ["solo"], urls: [url] });
  try {
    await leaderOf(procs);
  } catch (e) {
    await stopNodes(procs);
    throw e;
  }
  return procs;
}

async function readEverything(c: RaftlogClient): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  let from: number | null = 0;
  while (from !== null) {
    const page: { events: RecordedEvent[]; next: number | null } = await c.readAll({
      from,
      limit: 1000,
      consistency: "linearizable",
    });
    all.push(...page.events);
    from = page.next;
  }
  return all;
}

/** The name of the error a call fails with, or "ok". */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return e instanceof Error ? e.name : String(e);
  }
}

Deno.test({
  name: "raftlog backup, then restore into a new cluster: the same events, rules and numbering",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "raftlog-backup-" });
    const olds = startNodes([1, 2, 3].map((i) => join(root, `old${i}`)), {
      app: "events",
      secret: SECRET,
      extraArgs: ["--cluster-id", "before", "--snapshot-every", "100"],
    });
    let news: NodeProc[] = [];
    try {
      await leaderOf(olds);
      const before = new RaftlogClient({ urls: olds.map((p) => p.url) });
      // 300 events in 10 streams, in batches of 1-3 with ids chosen here.
      const appended: { stream: string; ids: string[]; position: number }[] = [];
      for (let i = 0; i < 150; i++) {
        const stream = `acct-${i % 10}`;
        const n = 1 + (i % 3);
        const ids = Array.from(
          { length: n },
          (_, k) => `00000000-0000-4000-8000-${String(i * 10 + k).padStart(12, "0")}`,
        );
        const r = await before.append(
          stream,
          ids.map((id, k) => ({ id, type: "Deposited", data: { i, k, note: "x".repeat(i % 40) } })),
        );
        appended.push({ stream, ids, position: r.position });
      }
      await before.deleteStream("acct-3");
      await before.deleteStream("acct-4", { hard: true });
      await before.setMetadata("acct-5", { maxCount: 5 });
      const expected = await readEverything(before);
      const acct5 = await before.read("acct-5");
      assert.equal(await outcome(before.read("acct-3")), "StreamNotFoundError");
      assert.equal(await outcome(before.read("acct-4")), "StreamDeletedError");
      assert.equal(acct5.events.length, 5);

      const file = join(root, "cluster.backup");
      const b = await cli([
        "backup",
        "--cluster",
        olds.map((p) => p.url).join(","),
        "--out",
        file,
        "--secret",
        SECRET,
      ]);
      assert.equal(b.code, 0, b.err);
      assert.match(b.out, /Backup of n\d \(cluster before\) at index \d+/);
      // After the backup: not in it.
      await before.append("acct-0", { type: "Late", data: {} });
      await stopNodes(olds);

      // A damaged copy is refused and makes no directory.
      const bytes = await Deno.readFile(file);
      const damaged = bytes.slice();
      damaged[damaged.length >> 1]! ^= 0xff; // in the data
      await Deno.writeFile(join(root, "damaged.backup"), damaged);
      const ids = ["r1", "r2", "r3"];
      const urls = ids.map(() => `http://127.0.0.1:${freePort()}`);
      const peers = ids.map((id, i) => `${id}=${urls[i]}`).join(",");
      const bad = await cli([
        "restore",
        join(root, "damaged.backup"),
        "--data",
        join(root, "bad"),
        "--id",
        "r1",
        "--peers",
        peers,
      ]);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /damaged \(CRC-32 mismatch\)/);
      await assert.rejects(Deno.stat(join(root, "bad")), Deno.errors.NotFound);
      // A directory with data in it is refused and left alone.
      const used = await cli([
        "restore",
        file,
        "--data",
        join(root, "old1"),
        "--id",
        "r1",
        "--peers",
        peers,
      ]);
      assert.equal(used.code, 1);
      assert.match(used.err, /is not empty/);

      for (const id of ids) {
        const r = await cli([
          "restore",
          file,
          "--data",
          join(root, id),
          "--id",
          id,
          "--peers",
          peers,
          "--cluster-id",
          "after",
        ]);
        assert.equal(r.code, 0, r.err);
      }
      news = startNodes(ids.map((id) => join(root, id)), {
        app: "events",
        secret: SECRET,
        ids,
        urls,
        extraArgs: ["--cluster-id", "after"],
      });
      await leaderOf(news);
      // Every node of the new cluster serves the backup's events, exactly.
      for (const p of news) {
        const after = new RaftlogClient({ urls: [p.url] });
        assert.deepEqual(await readEverything(after), expected, `events on ${p.id}`);
      }
      const after = new RaftlogClient({ urls: news.map((p) => p.url) });
      assert.equal(await outcome(after.read("acct-3")), "StreamNotFoundError");
      assert.equal(await outcome(after.read("acct-4")), "StreamDeletedError");
      assert.deepEqual(await after.read("acct-5"), acct5);
      assert.equal((await after.getMetadata("acct-5")).maxCount, 5);
      // A retry of an append made before the backup is answered with its original result.
      const first = appended[7]!;
      const retry = await after.append(
        first.stream,
        first.ids.map((id) => ({ id, type: "Deposited", data: {} })),
      );
      assert.equal(retry.replayed, true);
      assert.equal(retry.position, first.position);
      // New appends go on from the backup: gapless positions, revisions after the last.
      const last = expected[expected.length - 1]!;
      const acct0 = await after.read("acct-0", { direction: "backward", limit: 1 });
      const next = await after.append("acct-0", { type: "Opened", data: {} });
      assert.equal(next.replayed, false);
      assert.equal(next.firstRevision, acct0.events[0]!.revision + 1);
      assert.ok(next.position > last.position);
      const tail = await after.readAll({ from: last.position + 1, consistency: "linearizable" });
      assert.deepEqual(tail.events.map((e) => e.type), ["Opened"]);
      assert.equal(tail.events[0]!.position, next.position);

      // A member that joins the restored cluster gets the backup's events from its leader
      // (its log starts after the backup: only a snapshot can bring them).
      const url4 = `http://127.0.0.1:${freePort()}`;
      const joinArgs = [
        "--id",
        "r4",
        "--listen",
        url4.slice("http://".length),
        "--data",
        join(root, "r4"),
        "--secret",
        SECRET,
        "--app",
        "events",
        "--cluster-id",
        "after",
        "--log-level",
        "warn",
        "--cluster",
        urls.join(","),
      ];
      news.push({
        id: "r4",
        url: url4,
        args: joinArgs,
        ...spawnNode({ command: "join", args: joinArgs }),
      });
      const joiner = new RaftlogClient({ urls: [url4] });
      const all = await readEverything(after);
      await waitFor("r4 has every event", async () => {
        try {
          const page = await joiner.readAll({ limit: 1000, consistency: "local" });
          return page.events.length === all.length;
        } catch {
          return false;
        }
      }, 30_000);
      assert.deepEqual(
        (await joiner.readAll({ limit: 1000, consistency: "local" })).events,
        all,
      );
    } finally {
      await stopNodes([...olds, ...news]);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "a backup taken while appends go on is a prefix of the log, whole appends, with every one acknowledged before it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "raftlog-backup-load-" });
    const olds = startNodes([1, 2, 3].map((i) => join(root, `old${i}`)), {
      app: "events",
      secret: SECRET,
      extraArgs: ["--snapshot-every", "200"],
    });
    let restored: NodeProc[] = [];
    try {
      await leaderOf(olds);
      const client = new RaftlogClient({ urls: olds.map((p) => p.url) });
      const acks: { at: number; first: number; last: number }[] = [];
      let stop = false;
      const writers = [0, 1, 2, 3].map(async (w) => {
        for (let i = 0; !stop; i++) {
          const n = 1 + ((w + i) % 4);
          const r = await client.append(
            `w${w}-${i % 7}`,
            Array.from({ length: n }, (_, k) => ({ type: "T", data: { w, i, k } })),
          );
          acks.push({ at: performance.now(), first: r.position - n + 1, last: r.position });
        }
      });
      await new Promise((r) => setTimeout(r, 500));
      const startedAt = performance.now();
      const file = join(root, "load.backup");
      const urls = olds.map((p) => p.url).join(",");
      const b = await cli(["backup", "--cluster", urls, "--out", file, "--secret", SECRET]);
      assert.equal(b.code, 0, b.err);
      await new Promise((r) => setTimeout(r, 300));
      stop = true;
      await Promise.all(writers);
      const full = await readEverything(client);
      await stopNodes(olds);

      // Restored as a cluster of one.
      restored = await restoreSolo(file, join(root, "solo"), "events");
      const url = restored[0]!.url;
      const got = await readEverything(new RaftlogClient({ urls: [url] }));
      assert.deepEqual(got, full.slice(0, got.length), "a prefix of the log");
      assert.ok(got.length < full.length, "appends went on after the backup");
      for (const a of acks) {
        const inside = a.last < got.length;
        assert.ok(inside || a.first >= got.length, `append ${a.first}-${a.last} cut in two`);
        if (a.at < startedAt) assert.ok(inside, `append at ${a.first} acknowledged before`);
      }
      assert.ok(acks.some((a) => a.at < startedAt && a.last > 0));
    } finally {
      await stopNodes([...olds, ...restored]);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "the key-value app backs up and restores too (its snapshot is its whole state)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "raftlog-backup-kv-" });
    const olds = startNodes([join(root, "kv1")], { app: "kv", secret: SECRET });
    let restored: NodeProc[] = [];
    try {
      const old = await leaderOf(olds);
      const put = (url: string, key: string, value: string) =>
        fetch(`${url}/commands`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ op: "put", key, value }),
        }).then((r) => r.json());
      for (let i = 0; i < 30; i++) await put(old.url, `k${i}`, `v${i}`);
      const file = join(root, "kv.backup");
      const b = await cli(["backup", "--cluster", old.url, "--out", file, "--secret", SECRET]);
      assert.equal(b.code, 0, b.err);
      await stopNodes(olds);
      restored = await restoreSolo(file, join(root, "r"), "kv");
      const url = restored[0]!.url;
      for (let i = 0; i < 30; i++) {
        const got = await (await fetch(`${url}/kv/k${i}?consistency=linearizable`)).json();
        assert.equal(got.value, `v${i}`);
      }
      assert.equal((await put(url, "k0", "new")).value, "new");
    } finally {
      await stopNodes([...olds, ...restored]);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
