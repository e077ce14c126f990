/**
 * Entries committed per second through a 3-node in-memory cluster with no
 * I/O, at batch sizes 1, 64 and 1024.
 *
 * Run: `deno run bench/core.ts [--entries N]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { RawNode } from "../raft/core/raw_node.ts";
import type { Message } from "../raft/core/types.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";

interface Cluster {
  nodes: Map<string, RawNode>;
  storages: Map<string, MemoryStorage>;
  applied: Map<string, number>;
}

function makeCluster(): Cluster {
  const ids = ["n1", "n2", "n3"];
  const storages = new Map(ids.map((id) => [id, MemoryStorage.withVoters(ids)]));
  const nodes = new Map(
    ids.map((id) => [id, new RawNode({ id, storage: storages.get(id)!, maxInflightMsgs: 4096 })]),
  );
  return { nodes, storages, applied: new Map(ids.map((id) => [id, 0])) };
}

function pump(c: Cluster): void {
  for (;;) {
    const inbox: Message[] = [];
    let any = false;
    for (const [id, n] of c.nodes) {
      while (n.hasReady()) {
        any = true;
        const rd = n.ready();
        const s = c.storages.get(id)!;
        if (rd.snapshot) s.applySnapshot(rd.snapshot);
        s.append(rd.entries);
        if (rd.hardState) s.setHardState(rd.hardState);
        for (const m of rd.messages) inbox.push(m);
        const last = rd.committedEntries[rd.committedEntries.length - 1];
        if (last) c.applied.set(id, last.index);
        n.advance(rd);
      }
    }
    for (const m of inbox) c.nodes.get(m.to)!.step(m);
    if (!any && inbox.length === 0) return;
  }
}

function electLeader(c: Cluster): RawNode {
  c.nodes.get("n1")!.campaign();
  pump(c);
  const leader = c.nodes.get("n1")!;
  if (leader.status().softState.role !== "leader") throw new Error("no leader");
  return leader;
}

function run(batch: number, total: number): number {
  const c = makeCluster();
  const leader = electLeader(c);
  const payload = new Uint8Array(100);
  const datas = Array.from({ length: batch }, () => payload);
  const start = performance.now();
  const base = leader.status().hardState.commit;
  for (let done = 0; done < total; done += batch) {
    leader.proposeBatch(datas);
    pump(c);
  }
  const elapsed = (performance.now() - start) / 1000;
  const committed = Math.min(...c.applied.values()) - base;
  if (committed < total) throw new Error(`only ${committed} of ${total} applied`);
  return committed / elapsed;
}

if (import.meta.main) {
  const args = parseArgs({ options: { entries: { type: "string", default: "200000" } } });
  const total = Number(args.values.entries);
  console.log("core: 3 nodes in memory, 100-byte entries, applied on every node");
  console.log("batch\tentries/s");
  for (const batch of [1, 64, 1024]) {
    const n = batch === 1 ? Math.min(total, 50_000) : total;
    run(batch, Math.min(n, 10_000)); // warm-up
    const rate = run(batch, n);
    console.log(`${batch}\t${Math.round(rate).toLocaleString("en-US")}`);
  }
}
