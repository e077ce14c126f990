/**
 * The real-process chaos suite: concurrent HTTP clients against three
 * `cli.ts serve --app kv` processes while the leader is SIGKILLed and
 * restarted. The history is written in the JSON format of
 * `raft/testing/lincheck/parse_json.ts`, read back, and must be linearizable.
 */
import assert from "node:assert/strict";
import { checkHistory, kvJson, kvModel, parseJsonHistory } from "../raft/testing/lincheck/mod.ts";
import { kill, leaderOf, type NodeProc, spawnNode, startNodes, stopNodes } from "./_procs.ts";
import { waitFor } from "./helpers.ts";

interface JsonEvent {
  process: number;
  type: "invoke" | "ok" | "fail" | "info";
  f: "get" | "put" | "append";
  key: string;
  value: string | null;
}

Deno.test("processes: kv clients across a leader SIGKILL and restart record a linearizable history", async () => {
  const dirs = await Promise.all([0, 1, 2].map(() => Deno.makeTempDir({ prefix: "raftlog-lin-" })));
  const procs: NodeProc[] = startNodes(dirs, { app: "kv", secret: "lincheck" });
  const history: JsonEvent[] = [];
  let running = true;
  const down = new Set<NodeProc>();
  try {
    await leaderOf(procs);
    let seq = 0;
    const client = async (process: number) => {
      while (running) {
        const live = procs.filter((p) => !down.has(p));
        const node = live[(process + seq++) % live.length]!;
        const key = ["a", "b"][seq % 2]!;
        const kind = seq % 3;
        if (kind === 0) {
          history.push({ process, type: "invoke", f: "get", key, value: null });
          try {
            const res = await fetch(`${node.url}/kv/${key}?consistency=linearizable`, {
              signal: AbortSignal.timeout(2000),
            });
            const body = await res.json() as { value?: string };
            if (res.status === 200) {
              history.push({ process, type: "ok", f: "get", key, value: body.value ?? "" });
            } else if (res.status === 404) {
              history.push({ process, type: "ok", f: "get", key, value: "" });
            } else history.push({ process, type: "fail", f: "get", key, value: null });
          } catch {
            history.push({ process, type: "fail", f: "get", key, value: null }); // a read that returned nothing had no effect
          }
        } else {
          const f = kind === 1 ? "put" : "append";
          const value = `${process}.${seq} `;
          history.push({ process, type: "invoke", f, key, value });
          try {
            const res = await fetch(`${node.url}/commands`, {
              method: "POST",
              body: JSON.stringify({ op: f, key, value }),
              signal: AbortSignal.timeout(2000),
            });
            const body = await res.json().catch(() => ({})) as { error?: string };
            // Refusals before anything was proposed had no effect; anything else (a timeout, a
            // node stopping) may or may not have.
            const refused = res.status === 503 &&
              ["no_leader", "not_leader", "proposal_dropped"].includes(body.error ?? "");
            history.push({
              process,
              type: res.status === 200 ? "ok" : refused ? "fail" : "info",
              f,
              key,
              value,
            });
          } catch {
            // Even a refused connection may follow a delivered attempt on a pooled connection.
            history.push({ process, type: "info", f, key, value });
          }
        }
      }
    };
    const clients = [1, 2, 3].map(client);
    const okCount = () => history.filter((e) => e.type === "ok").length;
    await waitFor("some operations", () => okCount() >= 30, 20_000);
    const old = await leaderOf(procs);
    down.add(old);
    await kill(old);
    const survivors = procs.filter((p) => p !== old);
    await leaderOf(survivors);
    const before = okCount();
    await waitFor("operations under the new leader", () => okCount() >= before + 30, 20_000);
    Object.assign(old, spawnNode(old));
    await waitFor(
      "the restarted node to serve",
      async () => (await fetch(`${old.url}/health`).catch(() => undefined))?.ok,
    );
    down.delete(old);
    await waitFor("more operations after the restart", () => okCount() >= before + 60, 20_000);
    running = false;
    await Promise.all(clients);

    const dir = await Deno.makeTempDir({ prefix: "raftlog-history-" });
    const file = `${dir}/history.jsonl`;
    await Deno.writeTextFile(file, history.map((e) => JSON.stringify(e)).join("\n") + "\n");
    const ops = parseJsonHistory(await Deno.readTextFile(file), kvJson, { source: file });
    await Deno.remove(dir, { recursive: true });
    const result = checkHistory(kvModel, ops);
    assert.ok(result.ok, `not linearizable; could not place: ${JSON.stringify(result.unplaced)}`);
    assert.ok(ops.filter((o) => o.status === "ok").length >= 90);
  } finally {
    running = false;
    await stopNodes(procs);
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
});
