/**
 * The event store on real `cli.ts serve --app events` processes (FileStorage
 * with fsync, temp directories, HTTP on loopback): concurrent appenders keep
 * writing while the leader is SIGKILLed and later restarted; afterwards every
 * acknowledged event must be on every node exactly once, in order.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RaftlogClient } from "../eventstore/client.ts";
import type { RecordedEvent } from "../eventstore/types.ts";
import { readBackup, restoreDataDir } from "../raft/storage/backup_file.ts";
import { type NodeProc, spawnNode, startNodes, stopNodes } from "./_procs.ts";
import { fetchJson, freePort, waitFor } from "./helpers.ts";

const SECRET = "eventstore-process-test";

type Proc = NodeProc;

function startProcs(dirs: readonly string[]): Proc[] {
  return startNodes(dirs, {
    app: "events",
    secret: SECRET,
    logLevel: "info",
    extraArgs: [
      "--cluster-id",
      "eventstore-process-test",
      "--tick-ms",
      "10",
      // Small, so the restarted node loads an event store snapshot and replays the tail.
      "--snapshot-every",
      "50",
    ],
  });
}

async function statusOf(p: Proc): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await fetchJson(`${p.url}/status`, { signal: AbortSignal.timeout(500) });
    return r.status === 200 ? r.body : undefined;
  } catch {
    return undefined;
  }
}

async function leaderAmong(procs: readonly Proc[], minTerm = 0, timeoutMs = 15_000) {
  return await waitFor("a leader", async () => {
    const ss = await Promise.all(procs.map(statusOf));
    const i = ss.findIndex((s) => s?.role === "leader" && Number(s.term) > minTerm);
    return i >= 0 ? { proc: procs[i]!, term: Number(ss[i]!.term) } : undefined;
  }, timeoutMs);
}

/** An event as acknowledged to its appender. */
interface Acked {
  readonly id: string;
  readonly stream: string;
  readonly revision: number;
  readonly position: number;
  readonly data: { w: number; i: number; j: number };
}

interface WireEvent {
  id: string;
  stream: string;
  type: string;
  revision: number;
  position: number;
  data: unknown;
}

/** Reads every page of `path` (`/all` or `/streams/...`) from one node, locally. */
async function readPages(url: string, path: string): Promise<WireEvent[]> {
  const out: WireEvent[] = [];
  let from = 0;
  for (;;) {
    const r = await fetchJson(`${url}${path}?consistency=local&limit=500&from=${from}`);
    assert.equal(r.status, 200, `${url}${path}: ${JSON.stringify(r.body)}`);
    const body = r.body as unknown as { events: WireEvent[]; next: number | null };
    out.push(...body.events);
    if (body.next === null) return out;
    from = body.next;
  }
}

const WRITERS = 4;
const STREAMS_PER_WRITER = 3;

Deno.test("event store on cli.ts serve processes: appends acknowledged across a leader SIGKILL and restart are read back exactly once, in order, on every node", async () => {
  const dirs = await Promise.all([1, 2, 3].map(() => Deno.makeTempDir({ prefix: "raftlog-es-" })));
  const procs = startProcs(dirs);
  const acked: Acked[] = [];
  const failures: string[] = [];
  let writing = true;
  let retried = 0;
  let ok = false;
  const subscription = new AbortController();
  try {
    const first = await leaderAmong(procs);

    // A subscriber on a node that stays up follows $all through the whole run.
    const watched = procs.find((p) => p !== first.proc)!;
    const seen: RecordedEvent[] = [];
    const client = new RaftlogClient({ urls: watched.url, retries: 50 });
    const subscriber = (async () => {
      for await (const item of client.subscribe("$all", { signal: subscription.signal })) {
        if (item.kind === "event") seen.push(item.event);
      }
    })().catch((e) => void failures.push(`subscriber: ${e}`));

    /**
     * One append, retried with the same ids and the same expected revision
     * until a node acknowledges it: a retry of an append that did commit is
     * answered with the original result.
     */
    const append = async (w: number, i: number, stream: string, expected: number) => {
      const n = 1 + (i % 3);
      const events = Array.from({ length: n }, (_, j) => ({
        id: `w${w}-${i}-${j}`,
        type: "Deposited",
        data: { w, i, j },
      }));
      const deadline = performance.now() + 20_000;
      for (let attempt = 0;; attempt++) {
        if (performance.now() > deadline) throw new Error(`append ${events[0]!.id} never acked`);
        const target = procs[(w + i + attempt) % procs.length]!;
        let status = 0;
        let body: Record<string, unknown> = {};
        try {
          ({ status, body } = await fetchJson(`${target.url}/streams/${stream}`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "expected-revision": expected < 0 ? "no_stream" : String(expected),
            },
            body: JSON.stringify(events),
            signal: AbortSignal.timeout(3000),
          }));
        } catch {
          status = 0; // Connection refused or reset (a killed node), or our timeout.
        }
        if (status === 200 || status === 201) {
          const r = body as { firstRevision: number; lastRevision: number; position: number };
          assert.equal(r.firstRevision, expected + 1, `${stream}: ${JSON.stringify(r)}`);
          assert.equal(r.lastRevision, expected + n, `${stream}: ${JSON.stringify(r)}`);
          events.forEach((e, j) =>
            acked.push({
              id: e.id,
              stream,
              revision: expected + 1 + j,
              position: r.position - (n - 1) + j,
              data: e.data,
            })
          );
          return expected + n;
        }
        if (status !== 0 && status !== 502 && status !== 503 && status !== 504) {
          throw new Error(`append to ${stream} answered ${status}: ${JSON.stringify(body)}`);
        }
        retried++;
        // No leader yet, or forwarding to a dead one: back off briefly, as Retry-After asks.
        await new Promise((r) => setTimeout(r, 25 + attempt * 10));
      }
    };
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      const revisions = Array.from({ length: STREAMS_PER_WRITER }, () => -1);
      try {
        for (let i = 0; writing; i++) {
          const k = i % STREAMS_PER_WRITER;
          revisions[k] = await append(w, i, `acct-w${w}-s${k}`, revisions[k]!);
        }
      } catch (e) {
        failures.push(String(e));
      }
    });

    await waitFor("events before the failure", () => acked.length >= 150 || failures.length > 0);
    first.proc.child.kill("SIGKILL");
    await first.proc.child.status;
    const rest = procs.filter((p) => p !== first.proc);
    const second = await leaderAmong(rest, first.term, 5000);
    let before = acked.length;
    await waitFor(
      "events after the failover",
      () => acked.length >= before + 150 || failures.length > 0,
    );

    // The old leader comes back on its data directory and catches up.
    Object.assign(first.proc, spawnNode(first.proc));
    await waitFor("restarted node serving", async () => (await statusOf(first.proc)) !== undefined);
    before = acked.length;
    await waitFor(
      "events after the restart",
      () => acked.length >= before + 100 || failures.length > 0,
    );
    writing = false;
    await Promise.all(writers);
    assert.deepEqual(failures, []);
    assert.ok(retried > 0, "the kill interrupted appends in flight, which were retried");

    const started = first.proc.log
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as { msg?: string; fields?: { snapshotIndex?: number } }];
        } catch {
          return [];
        }
      })
      .find((o) => o.msg === "node started");
    assert.ok((started?.fields?.snapshotIndex ?? 0) > 0, "the restarted node loads a snapshot");

    // Every node applies everything the leader committed.
    const leader = (await leaderAmong(procs, second.term - 1)).proc;
    const commit = Number((await statusOf(leader))!.commit);
    for (const p of procs) {
      await waitFor(`${p.id} applied ${commit}`, async () => {
        const s = await statusOf(p);
        return s !== undefined && Number(s.applied) >= commit;
      });
    }

    const byPosition = [...acked].sort((a, b) => a.position - b.position);
    const streams = [...new Set(acked.map((a) => a.stream))].sort();
    for (const p of procs) {
      // $all: positions gapless from 0 and strictly increasing, each acked event once, nothing else.
      const all = await readPages(p.url, "/all");
      assert.deepEqual(all.map((e) => e.position), all.map((_, i) => i), `${p.id}: $all positions`);
      assert.equal(new Set(all.map((e) => e.id)).size, all.length, `${p.id}: duplicate ids`);
      assert.deepEqual(
        all.map((e) => [e.position, e.id, e.stream, e.revision, e.data]),
        byPosition.map((a) => [a.position, a.id, a.stream, a.revision, a.data]),
        `${p.id}: $all differs from the acknowledged events`,
      );
      // Each stream: revisions gapless from 0, in the order they were acknowledged.
      for (const s of streams) {
        const events = await readPages(p.url, `/streams/${s}`);
        const mine = acked.filter((a) => a.stream === s).sort((a, b) => a.revision - b.revision);
        assert.deepEqual(events.map((e) => e.revision), events.map((_, i) => i), `${p.id}: ${s}`);
        assert.deepEqual(events.map((e) => e.id), mine.map((a) => a.id), `${p.id}: ${s} ids`);
      }
    }

    // A backup of the node that was killed, restored alone elsewhere, holds exactly the same.
    const res = await fetch(`${first.proc.url}/backup?consistency=local`, {
      headers: { "x-raftlog-secret": SECRET },
    });
    assert.equal(res.status, 200);
    const { backup } = readBackup(new Uint8Array(await res.arrayBuffer()));
    assert.ok(backup.metadata.index >= commit);
    const soloDir = await Deno.makeTempDir({ prefix: "raftlog-es-proc-restored-" });
    dirs.push(soloDir);
    await Deno.remove(soloDir);
    await restoreDataDir(soloDir, backup, ["solo"]);
    const soloUrl = `http://127.0.0.1:${freePort()}`;
    const solo = startNodes([soloDir], {
      app: "events",
      secret: SECRET,
      ids: ["solo"],
      urls: [soloUrl],
    });
    try {
      await leaderAmong(solo);
      const restored = await readPages(soloUrl, "/all");
      assert.deepEqual(
        restored.map((e) => [e.position, e.id, e.stream, e.revision, e.data]),
        byPosition.map((a) => [a.position, a.id, a.stream, a.revision, a.data]),
        "the restored backup differs from the acknowledged events",
      );
    } finally {
      await stopNodes(solo);
    }

    // The live subscriber saw the same sequence, once each, across the failover.
    await waitFor("the subscriber caught up", () => seen.length >= acked.length);
    assert.deepEqual(
      seen.map((e) => [e.position, e.id]),
      byPosition.map((a) => [a.position, a.id]),
      "the $all subscription differs from the acknowledged events",
    );
    subscription.abort();
    await subscriber;
    ok = true;
  } finally {
    writing = false;
    subscription.abort();
    for (const p of procs) {
      try {
        p.child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
    }
    const statuses = await Promise.all(procs.map((p) => p.child.status));
    if (!ok) {
      for (const p of procs) {
        console.error(`--- ${p.id} stderr ---\n${p.log.slice(-30).join("\n")}`);
      }
    }
    await Promise.all(dirs.map((d) => Deno.remove(d, { recursive: true })));
    if (ok) assert.deepEqual(statuses.map((s) => s.code), [0, 0, 0]);
  }
});
