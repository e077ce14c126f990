/**
 * Process-level tests: real `cli.ts serve` processes on FileStorage in temp
 * directories, talking HTTP on loopback.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { spawnNode, startNodes } from "./_procs.ts";
import { fetchJson, freePort, waitFor } from "./helpers.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
const SECRET = "process-test-secret";

interface Proc {
  readonly id: string;
  readonly url: string;
  readonly args: string[];
  child: Deno.ChildProcess;
  /** Last lines of stderr, shown when the test fails. */
  log: string[];
  done: Promise<Deno.CommandStatus>;
}

function spawn(p: Pick<Proc, "id" | "args">): Pick<Proc, "child" | "log" | "done"> {
  const { child, log } = spawnNode(p);
  return { child, log, done: child.status };
}

function startProcs(dirs: string[]): Proc[] {
  return startNodes(dirs, {
    app: "kv",
    secret: SECRET,
    logLevel: "info",
    // Small snapshot interval, so the restarted node restores a snapshot and replays the tail.
    extraArgs: ["--cluster-id", "process-test", "--tick-ms", "10", "--snapshot-every", "40"],
  }).map((p) => ({ ...p, args: [...p.args], done: p.child.status }));
}

function parseLine(line: string): { msg?: string; fields?: Record<string, number> }[] {
  try {
    return [JSON.parse(line)];
  } catch {
    return [];
  }
}

async function statusOf(p: Proc): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await fetchJson(`${p.url}/status`, { signal: AbortSignal.timeout(500) });
    return r.status === 200 ? r.body : undefined;
  } catch {
    return undefined;
  }
}

/** The node every live process agrees is leader (reported by the leader itself). */
async function leaderAmong(procs: Proc[], minTerm = 0, timeoutMs = 15_000): Promise<Proc> {
  return await waitFor("a leader", async () => {
    const ss = await Promise.all(procs.map(statusOf));
    const i = ss.findIndex((s) => s?.role === "leader" && Number(s.term) > minTerm);
    return i >= 0 ? procs[i] : undefined;
  }, timeoutMs);
}

/**
 * Puts `key`; true once a node acknowledged it. Retries 503s (no leader yet,
 * forwarding to a dead leader) until `retryMs` passes, as a client honouring
 * `Retry-After` would; a put of the same value is safe to repeat.
 */
async function put(url: string, key: string, value: string, retryMs = 0): Promise<boolean> {
  const deadline = performance.now() + retryMs;
  for (;;) {
    let status = 0;
    try {
      const r = await fetchJson(`${url}/commands`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ op: "put", key, value }),
        signal: AbortSignal.timeout(3000),
      });
      if (r.status === 200) return r.body.value === value;
      status = r.status;
    } catch {
      status = 0;
    }
    if ((status !== 503 && status !== 0) || performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("cli.ts serve processes survive SIGKILL of the leader: new leader within 2 s, no acknowledged write lost after it restarts", async () => {
  const dirs = await Promise.all(
    [1, 2, 3].map(() => Deno.makeTempDir({ prefix: "raftlog-proc-" })),
  );
  const procs = startProcs(dirs);
  let ok = false;
  try {
    const acked = new Map<string, string>();
    const leader = await leaderAmong(procs);
    const term = Number((await statusOf(leader))!.term);

    // Writes through the leader, and through followers (forwarded).
    for (let i = 0; i < 30; i++) {
      const target = procs[i % 3]!;
      if (await put(target.url, `a${i}`, `v${i}`, 3000)) acked.set(`a${i}`, `v${i}`);
    }
    assert.ok(acked.size >= 30, `only ${acked.size} of 30 writes succeeded before the failure`);

    // Concurrent writers keep going while the leader dies.
    let writing = true;
    const writers = [0, 1, 2].map(async (w) => {
      for (let i = 0; writing; i++) {
        const key = `w${w}-${i}`;
        const target = procs[(w + i) % 3]!;
        if (await put(target.url, key, key)) acked.set(key, key);
      }
    });
    await waitFor("writes in flight", () => acked.size >= 60);

    leader.child.kill("SIGKILL");
    const killedAt = performance.now();
    await leader.done;
    const rest = procs.filter((p) => p !== leader);
    const next = await leaderAmong(rest, term, 2000);
    const failoverMs = performance.now() - killedAt;
    assert.ok(failoverMs < 2000, `new leader after ${Math.round(failoverMs)} ms`);
    assert.notEqual(next.id, leader.id);

    const before = acked.size;
    await waitFor("writes after failover", () => acked.size >= before + 30);
    writing = false;
    await Promise.all(writers);
    for (let i = 0; i < 20; i++) {
      assert.ok(
        await put(next.url, `b${i}`, `x${i}`, 3000),
        `write b${i} to the new leader failed`,
      );
      acked.set(`b${i}`, `x${i}`);
    }

    // Restart the old leader on its data directory.
    Object.assign(leader, spawn(leader));
    await waitFor("restarted node serving", async () => (await statusOf(leader)) !== undefined);
    const started = leader.log.flatMap(parseLine).find((o) => o.msg === "node started");
    assert.ok(
      (started?.fields?.snapshotIndex ?? 0) > 0,
      "the restarted node should start from a snapshot",
    );

    const commit = Number((await statusOf(next))!.commit);
    for (const p of procs) {
      await waitFor(`${p.id} applied ${commit}`, async () => {
        const s = await statusOf(p);
        return s !== undefined && Number(s.applied) >= commit;
      });
    }
    const missing: string[] = [];
    for (const p of procs) {
      await Promise.all([...acked].map(async ([k, v]) => {
        const r = await fetchJson(`${p.url}/kv/${k}?consistency=local`);
        if (r.body.value !== v) missing.push(`${p.id}:${k}=${String(r.body.value)}`);
      }));
    }
    assert.deepEqual(missing, [], `acknowledged writes missing: ${missing.slice(0, 10)}`);
    // A linearizable read through the restarted node sees the latest write.
    const lin = await fetchJson(`${leader.url}/kv/b19?consistency=linearizable`);
    assert.equal(lin.body.value, "x19");
    ok = true;
  } finally {
    for (const p of procs) {
      try {
        p.child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
    }
    const statuses = await Promise.all(procs.map((p) => p.done));
    if (!ok) {
      for (const p of procs) {
        console.error(`--- ${p.id} stderr ---\n${p.log.slice(-30).join("\n")}`);
      }
    }
    await Promise.all(dirs.map((d) => Deno.remove(d, { recursive: true })));
    if (ok) {
      // A graceful stop exits 0 (the lock is released, files closed).
      assert.deepEqual(statuses.map((s) => s.code), [0, 0, 0]);
    }
  }
});

/** Runs `cli.ts serve ARGS` to its end; a node that serves instead of exiting is killed. */
async function serveOnce(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, CLI, "serve", ...args],
    stdout: "null",
    stderr: "piped",
    env: { RAFTLOG_SECRET: "s" },
    signal: AbortSignal.timeout(20_000),
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("cli.ts exits with code 2 and a message on bad arguments, 1 when the data directory is in use", async () => {
  const bad = await serveOnce(["--id", "n1", "--tick-ms", "fast"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--listen HOST:PORT is required/);
  // An id of dots only would name no member route (and ./data/.. as the data directory).
  const dots = await serveOnce(["--id", "..", "--listen", "127.0.0.1:1"]);
  assert.equal(dots.code, 2);
  assert.match(dots.stderr, /not only dots/);

  const dir = await Deno.makeTempDir({ prefix: "raftlog-proc-" });
  const port = freePort();
  const argsAt = (port: number) => [
    "--id",
    "n1",
    "--listen",
    `127.0.0.1:${port}`,
    "--data",
    dir,
    "--secret",
    "s",
  ];
  const args = argsAt(port);
  const first = { id: "n1", url: `http://127.0.0.1:${port}`, args, ...spawn({ id: "n1", args }) };
  try {
    await waitFor("single node leader", async () => (await statusOf(first))?.role === "leader");
    const second = await serveOnce(argsAt(0));
    assert.equal(second.code, 1);
    assert.match(second.stderr, /is in use by another process/);
    first.child.kill("SIGTERM");
    assert.equal((await first.done).code, 0);
    // The directory is n1's of cluster "raftlog": another id or cluster id is refused.
    const otherId = argsAt(0).map((a) => a === "n1" ? "n9" : a);
    for (const other of [otherId, [...argsAt(0), "--cluster-id", "other"]]) {
      const wrong = await serveOnce(other);
      assert.equal(wrong.code, 1, other.join(" "));
      assert.match(
        wrong.stderr,
        /belongs to node n1 of cluster raftlog, not node (n9 of cluster raftlog|n1 of cluster other)/,
      );
    }
  } finally {
    try {
      first.child.kill("SIGTERM");
    } catch {
      // Already stopped above.
    }
    await first.done;
    await Deno.remove(dir, { recursive: true });
  }
});
