/**
 * Rule tests for the Raft state machine, named after the section of the
 * Raft paper (§5.x) or of Ongaro's thesis (§3.x, §4.x, §6.x, §9.x) they check.
 * Each test drives `Raft` directly through messages and ticks, so it fails if
 * the rule it names were removed.
 */

import assert from "node:assert/strict";
import { MemoryStorage } from "../storage/memory_storage.ts";
import type { Config } from "./config.ts";
import { Raft } from "./raft.ts";
import type { Message, NodeId } from "./types.ts";

// ---- harness ----------------------------------------------------------------

type Opts = Partial<Omit<Config, "id" | "storage">>;

function newRaft(
  id: NodeId,
  voters: readonly NodeId[],
  opts: Opts = {},
  storage?: MemoryStorage,
): Raft {
  return new Raft({
    id,
    storage: storage ?? MemoryStorage.withVoters(voters),
    electionTick: 10,
    heartbeatTick: 1,
    ...opts,
  });
}

/** Does what a driver does with a Ready's writes: persist, mark stable, let the leader ack itself. */
function persist(r: Raft): void {
  const s = r.raftLog.storage as MemoryStorage;
  const snap = r.raftLog.unstable.snapshot;
  if (snap !== undefined) {
    s.applySnapshot(snap);
    r.raftLog.stableSnapTo(snap.metadata.index);
  }
  const ents = r.raftLog.unstableEntries();
  const last = ents[ents.length - 1];
  if (last !== undefined) {
    s.append(ents);
    r.raftLog.stableTo(last.index, last.term);
  }
  s.setHardState(r.hardState());
  r.selfAck();
}

function take(r: Raft): Message[] {
  const m = r.msgs;
  r.msgs = [];
  return m;
}

const enc = new TextEncoder();

function prop(r: Raft, data = "x"): void {
  r.step({
    type: "prop",
    from: r.id,
    to: r.id,
    term: 0,
    entries: [{ term: 0, index: 0, type: "normal", data: enc.encode(data) }],
  });
}

/** Nodes connected by a synchronous network; `drop` decides which messages are lost. */
class Net {
  readonly peers = new Map<NodeId, Raft>();
  drop: (m: Message) => boolean = () => false;
  readonly #cut = new Set<string>();

  constructor(ids: readonly NodeId[], opts: Opts = {}) {
    for (const id of ids) this.peers.set(id, newRaft(id, ids, opts));
  }

  get(id: NodeId): Raft {
    return this.peers.get(id)!;
  }

  /** Cuts `a` off from every other node, both ways. */
  isolate(a: NodeId): void {
    for (const b of this.peers.keys()) {
      if (b !== a) {
        this.#cut.add(`${a}>${b}`);
        this.#cut.add(`${b}>${a}`);
      }
    }
  }

  heal(): void {
    this.#cut.clear();
  }

  /** Persists every node's writes and delivers every message until quiet. */
  flush(): void {
    for (;;) {
      const q: Message[] = [];
      for (const r of this.peers.values()) {
        persist(r);
        q.push(...take(r));
      }
      if (q.length === 0) return;
      for (const m of q) {
        if (this.#cut.has(`${m.from}>${m.to}`) || this.drop(m)) continue;
        this.peers.get(m.to)?.step(m);
      }
    }
  }

  /** `id` campaigns (pre-vote as configured) and the network settles. */
  elect(id: NodeId): Raft {
    const r = this.get(id);
    r.hup(false);
    this.flush();
    return r;
  }
}

// ---- flow control -------------------------------------------------------------

Deno.test("flow control: a follower whose whole in-flight window was lost recovers after a heartbeat response", () => {
  const net = new Net(["n1", "n2", "n3"], { maxInflightMsgs: 2, maxSizePerMsg: 1 });
  const l = net.elect("n1");
  assert.equal(l.role, "leader");
  assert.equal(l.trk.progress.get("n2")!.state, "replicate");
  // Every append to n2 is lost while the window fills up.
  net.drop = (m) => m.to === "n2" && m.type === "app";
  for (let i = 0; i < 4; i++) prop(l, `v${i}`);
  net.flush();
  const pr = l.trk.progress.get("n2")!;
  assert.ok(pr.inflights.full(), "window full of lost appends");
  net.drop = () => false;
  // The next heartbeat round must produce an append (empty if the window is full) to n2, whose
  // answer frees the window; without it n2 would never catch up.
  l.tick();
  net.flush();
  assert.equal(pr.match, l.raftLog.lastIndex());
  assert.equal(net.get("n2").raftLog.committed, l.raftLog.committed);
});

// ---- membership -----------------------------------------------------------------

Deno.test("§4.3 a leader demoted to learner by a joint change leads until the joint configuration is left", () => {
  const net = new Net(["n1", "n2", "n3"]);
  const l = net.elect("n1");
  assert.equal(l.role, "leader");
  // n1 is demoted in a joint change, left explicitly.
  l.applyConfChange({
    changes: [{ type: "addVoter", nodeId: "n2" }, { type: "addLearner", nodeId: "n1" }],
    transition: "explicit",
  });
  assert.ok(l.isJoint());
  // n1 is still a voter of the outgoing half: it keeps leading, counts in that half's
  // quorum and is not a learner yet.
  assert.equal(l.role, "leader");
  assert.equal(l.isLearner, false);
  assert.equal(l.trk.progress.get("n1")!.isLearner, false);
  assert.ok(l.promotable());
  l.applyConfChange({ changes: [] });
  assert.equal(l.isLearner, true);
  assert.equal(l.role, "follower", "steps down once it is only a learner");
});

Deno.test("§4.3 a voter of the outgoing half that will become a learner can still win an election", () => {
  // No check-quorum, so the other voters do not ignore the election as a leader lease.
  const net = new Net(["n1", "n2", "n3"], { checkQuorum: false });
  net.elect("n1");
  const cc = {
    changes: [{ type: "addLearner" as const, nodeId: "n2" }],
    transition: "explicit" as const,
  };
  for (const r of net.peers.values()) r.applyConfChange(cc);
  const n2 = net.get("n2");
  assert.ok(n2.promotable(), "n2 is still a voter of the outgoing configuration");
  net.elect("n2");
  assert.equal(n2.role, "leader");
});
