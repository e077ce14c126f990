import assert from "node:assert/strict";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { KvStateMachine } from "../raft/testing/kv_state_machine.ts";
import { freePort, serveLocalCluster, waitFor } from "../tests/helpers.ts";
import { runStatusCommand } from "./status.ts";

async function captured(
  fn: () => Promise<number>,
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return { code: await fn(), out: out.join("\n"), err: err.join("\n") };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

Deno.test("raftlog status: one node's JSON, or a line per node with the unreachable ones", async () => {
  const nodes = await serveLocalCluster(3, "s", (_, ids) => ({
    storage: MemoryStorage.withVoters(ids),
    stateMachine: new KvStateMachine(),
    tickMs: 10,
  }));
  try {
    await waitFor("a leader all know", () => {
      const l = nodes.find((n) => n.node.role === "leader");
      return l !== undefined && nodes.every((n) => n.node.leader === l.node.id) ? l : undefined;
    });
    const one = await captured(() => runStatusCommand([nodes[0]!.url]));
    assert.equal(one.code, 0);
    assert.equal(JSON.parse(one.out).id, "n1");

    // A longer URL than the others: the columns make room for it.
    const dead = `http://127.0.0.1:${freePort()}/somewhere/else`;
    const urls = [...nodes.map((n) => n.url), dead].join(",");
    const table = await captured(() => runStatusCommand([urls]));
    assert.equal(table.code, 1, "a node did not answer");
    const lines = table.out.split("\n");
    assert.match(lines[0]!, /^ID +URL +ROLE +TERM +LEADER +COMMIT +APPLIED +LAST INDEX$/);
    const leader = nodes.find((n) => n.node.role === "leader")!.node.id;
    for (const [i, n] of nodes.entries()) {
      const cells = lines[i + 1]!.split(/ {2,}/);
      assert.deepEqual(cells.slice(0, 3), [n.node.id, n.url, n.node.role]);
      assert.equal(cells[4], leader);
    }
    assert.match(lines[4]!, new RegExp(`^\\? +${dead} +unreachable: `));
    // Every line's third column starts where the header's does.
    const at = lines[0]!.indexOf("ROLE");
    for (const l of lines.slice(1, 4)) assert.match(l.slice(at), /^(leader|follower) /, l);
    assert.match(lines[4]!.slice(at), /^unreachable: /);

    const json = await captured(() => runStatusCommand([nodes[0]!.url, nodes[1]!.url, "--json"]));
    assert.equal(json.code, 0);
    assert.deepEqual(JSON.parse(json.out).map((s: { id: string }) => s.id), ["n1", "n2"]);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
});
