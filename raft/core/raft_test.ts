/**
 * Rule tests for the Raft state machine, named after the section of the
 * Raft paper (§5.x) or of Ongaro's thesis (§3.x, §4.x, §6.x, §9.x) they check.
 * Each test drives `Raft` directly through messages and ticks, so it fails if
 * the rule it names were removed.
 */

import assert from "node:assert/strict";
import { MemoryStorage } from "../storage/memory_storage.ts";
import type { Config } from "./config.ts";
import { NotLeaderError, ProposalDroppedError } from "./errors.ts";
import { Raft } from "./raft.ts";
import { RawNode } from "./raw_node.ts";
import type { Entry, Message, NodeId, Ready } from "./types.ts";

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

function ent(index: number, term: number, data = ""): Entry {
  return { index, term, type: "normal", data: enc.encode(data) };
}

/** A storage whose log holds entries of the given terms at indexes 1..n, at `term`. */
function logWithTerms(
  voters: readonly NodeId[],
  terms: readonly number[],
  term = terms[terms.length - 1] ?? 0,
): MemoryStorage {
  const s = MemoryStorage.withVoters(voters);
  s.append(terms.map((t, i) => ent(i + 1, t)));
  s.setHardState({ term, vote: "", commit: 0 });
  return s;
}

function vote(from: NodeId, to: NodeId, term: number, index: number, logTerm: number): Message {
  return { type: "vote", from, to, term, index, logTerm, transfer: false };
}

function ofType<T extends Message["type"]>(
  msgs: readonly Message[],
  type: T,
): (Message & { type: T })[] {
  return msgs.filter((m): m is Message & { type: T } => m.type === type);
}

/** Nodes connected by a synchronous network; `drop` decides which messages are lost. */
class Net {
  readonly peers = new Map<NodeId, Raft>();
  drop: (m: Message) => boolean = () => false;
  /** Replaces a message in flight (after `drop`); identity by default. */
  rewrite: (m: Message) => Message = (m) => m;
  readonly #cut = new Set<string>();

  constructor(
    ids: readonly NodeId[],
    opts: Opts = {},
    storages: ReadonlyMap<NodeId, MemoryStorage> = new Map(),
  ) {
    for (const id of ids) this.peers.set(id, newRaft(id, ids, opts, storages.get(id)));
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
        this.peers.get(m.to)?.step(this.rewrite(m));
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

// ---- elections (§5.2, §5.4.1) -------------------------------------------------

Deno.test("§5.2 a node grants at most one vote per term", () => {
  const r = newRaft("n1", ["n1", "n2", "n3"]);
  r.step(vote("n2", "n1", 2, 0, 0));
  assert.deepEqual(take(r).map((m) => [m.type, (m as { reject?: boolean }).reject]), [[
    "voteResp",
    false,
  ]]);
  assert.equal(r.vote, "n2");
  r.step(vote("n3", "n1", 2, 0, 0));
  const [resp] = ofType(take(r), "voteResp");
  assert.equal(resp?.reject, true, "a second candidate of the same term is refused");
  assert.equal(r.vote, "n2");
  r.step(vote("n2", "n1", 2, 0, 0));
  assert.equal(
    ofType(take(r), "voteResp")[0]?.reject,
    false,
    "a repeated request is granted again",
  );
  r.step(vote("n3", "n1", 3, 0, 0));
  assert.equal(ofType(take(r), "voteResp")[0]?.reject, false, "a new term allows a new vote");
  assert.equal(r.vote, "n3");
});

Deno.test("§5.4.1 a voter rejects a candidate whose log is less up-to-date", () => {
  // The voter's log: terms [1, 2, 2], so its last entry is 3/t2.
  const table: [number, number, boolean][] = [
    [3, 2, true], // same last entry
    [4, 2, true], // same last term, longer
    [2, 2, false], // same last term, shorter
    [9, 1, false], // longer but older last term
    [1, 3, true], // shorter but newer last term
    [0, 0, false],
  ];
  for (const [index, logTerm, granted] of table) {
    const r = newRaft("n1", ["n1", "n2"], {}, logWithTerms(["n1", "n2"], [1, 2, 2]));
    r.step(vote("n2", "n1", 5, index, logTerm));
    const [resp] = ofType(take(r), "voteResp");
    assert.equal(resp?.reject, !granted, `candidate last ${index}/t${logTerm}`);
    assert.equal(r.vote, granted ? "n2" : "");
  }
});

Deno.test("§5.2 a candidate with a majority of votes becomes leader; a majority of refusals ends its candidacy", () => {
  const won = newRaft("n1", ["n1", "n2", "n3", "n4", "n5"], { preVote: false });
  won.hup(false);
  assert.equal(won.role, "candidate");
  assert.equal(won.term, 1);
  assert.equal(ofType(take(won), "vote").length, 4);
  const resp = (from: NodeId, reject: boolean): Message => ({
    type: "voteResp",
    from,
    to: "n1",
    term: 1,
    reject,
  });
  won.step(resp("n2", false));
  assert.equal(won.role, "candidate", "two of five is not a majority");
  won.step(resp("n3", false));
  assert.equal(won.role, "leader");

  const lost = newRaft("n1", ["n1", "n2", "n3", "n4", "n5"], { preVote: false });
  lost.hup(false);
  lost.step(resp("n2", true));
  lost.step(resp("n3", true));
  assert.equal(lost.role, "candidate");
  lost.step(resp("n4", true));
  assert.equal(lost.role, "follower");
  assert.equal(lost.term, 1);
});

Deno.test("§5.1 a node that sees a higher term adopts it and becomes a follower", () => {
  const net = new Net(["n1", "n2", "n3"]);
  const l = net.elect("n1");
  assert.equal(l.role, "leader");
  l.step({
    type: "appResp",
    from: "n2",
    to: "n1",
    term: 7,
    index: 0,
    reject: false,
    rejectHint: 0,
    logTerm: 0,
  });
  assert.equal(l.role, "follower");
  assert.equal(l.term, 7);
  assert.equal(l.vote, "");
});

Deno.test("§5.1 a message from an older term is ignored, and tells a stale leader the newer term", () => {
  const r = newRaft("n1", ["n1", "n2", "n3"], {}, logWithTerms(["n1", "n2", "n3"], [1], 5));
  r.step({
    type: "app",
    from: "n2",
    to: "n1",
    term: 3,
    index: 1,
    logTerm: 1,
    entries: [ent(2, 3)],
    commit: 2,
  });
  assert.equal(r.raftLog.lastIndex(), 1, "the stale append is not applied");
  assert.equal(r.term, 5);
  const [resp] = ofType(take(r), "appResp");
  assert.equal(resp?.term, 5, "the answer carries the newer term so the stale leader steps down");
});

Deno.test("§5.1 a stale leader's heartbeat is answered with the newer term also without pre-vote or check-quorum", () => {
  // A node whose log lists an old membership sends its vote requests to others, never to the
  // leader of today's membership: only this answer tells that leader of the newer term.
  const r = newRaft(
    "n1",
    ["n1", "n2", "n3"],
    { preVote: false, checkQuorum: false },
    logWithTerms(["n1", "n2", "n3"], [1], 41),
  );
  r.step({ type: "heartbeat", from: "n5", to: "n1", term: 4, commit: 0, context: "" });
  assert.equal(r.term, 41);
  const [resp] = ofType(take(r), "appResp");
  assert.equal(resp?.to, "n5");
  assert.equal(resp?.term, 41, "the stale leader learns the newer term and steps down");
});

Deno.test("§5.1 a vote request from an older term is refused with the newer term, and the candidate adopts it", () => {
  // A voter whose stale log lists an old membership campaigns among other nodes and never asks
  // this candidate: without the answer both campaign in turn, it a term or two ahead, forever.
  const voters = ["n1", "n2"];
  const stale = newRaft("n1", voters, { preVote: false }, logWithTerms(voters, [1], 38));
  stale.step({
    type: "vote",
    from: "n2",
    to: "n1",
    term: 37,
    index: 5,
    logTerm: 2,
    transfer: false,
  });
  assert.equal(stale.term, 38);
  assert.equal(stale.vote, "", "no vote is given in the older term");
  const [resp] = ofType(take(stale), "voteResp");
  assert.equal(resp?.to, "n2");
  assert.equal(resp?.reject, true);
  assert.equal(resp?.term, 38);
  const cand = newRaft("n2", voters, { preVote: false }, logWithTerms(voters, [1, 2, 2, 2, 2], 36));
  cand.campaign("election");
  assert.equal(cand.term, 37);
  cand.step(resp!);
  assert.equal(cand.role, "follower");
  assert.equal(cand.term, 38, "its next campaign is in term 39, which the stale voter grants");
});

Deno.test("election timeout: randomized in [electionTick, 2*electionTick) and campaigns exactly when it expires", () => {
  const seen = new Set<number>();
  for (let seed = 0; seed < 200; seed++) {
    const r = newRaft("n1", ["n1", "n2", "n3"], { seed, preVote: false });
    const t = r.randomizedElectionTimeout;
    assert.ok(t >= 10 && t < 20, `timeout ${t}`);
    seen.add(t);
    for (let i = 1; i < t; i++) {
      r.tick();
      assert.equal(r.role, "follower", `no election after ${i} of ${t} ticks`);
    }
    r.tick();
    assert.equal(r.role, "candidate");
  }
  assert.ok(seen.size >= 8, `timeouts vary (${[...seen].sort()})`);
});

// ---- log replication (§5.3) and commitment (§5.4.2) ---------------------------

Deno.test("§5.3 a follower rejects an append whose prev entry does not match and the leader backtracks with the hint", () => {
  const ids = ["n1", "n2", "n3"];
  const storages = new Map([
    ["n1", logWithTerms(ids, [1, 1, 1, 3, 3, 3])],
    ["n2", logWithTerms(ids, [1, 1, 1, 2, 2])],
    ["n3", logWithTerms(ids, [1, 1, 1, 3, 3, 3])],
  ]);
  const net = new Net(ids, { preVote: false }, storages);
  const sent: Message[] = [];
  net.drop = (m) => {
    if (m.from === "n1" && m.to === "n2" && m.type === "app") sent.push(m);
    if (m.from === "n2" && m.type === "appResp") sent.push(m);
    return false;
  };
  const l = net.elect("n1");
  assert.equal(l.role, "leader");
  const [first, rejection, second] = sent;
  assert.equal(first?.type === "app" && first.index, 6, "first probe after 6/t3");
  assert.ok(rejection?.type === "appResp" && rejection.reject);
  assert.equal(rejection.rejectHint, 5, "n2's log ends at 5");
  assert.equal(rejection.logTerm, 2, "with term 2");
  // The leader skips every entry of a term n2 cannot match: straight to 3/t1.
  assert.ok(second?.type === "app");
  assert.equal(second.index, 3);
  assert.equal(second.logTerm, 1);
  const n2 = net.get("n2");
  assert.deepEqual(
    n2.raftLog.slice(1, n2.raftLog.lastIndex() + 1).map((e) => e.term),
    [1, 1, 1, 3, 3, 3, 4],
    "n2's conflicting suffix was replaced by the leader's",
  );
  assert.equal(n2.raftLog.committed, 7);
});

Deno.test("§5.4.2 a leader does not commit an entry of an earlier term by counting replicas", () => {
  const ids = ["n1", "n2", "n3"];
  const l = newRaft("n1", ids, {}, logWithTerms(ids, [1, 1]));
  l.becomeCandidate();
  l.becomeLeader(); // appends the empty entry 3/t2
  persist(l);
  take(l);
  const ack = (index: number): Message => ({
    type: "appResp",
    from: "n2",
    to: "n1",
    term: 2,
    index,
    reject: false,
    rejectHint: 0,
    logTerm: 0,
  });
  l.step(ack(2));
  assert.equal(l.trk.progress.get("n2")!.match, 2);
  assert.equal(l.raftLog.committed, 0, "entries 1-2 are on a majority but of term 1");
  l.step(ack(3));
  assert.equal(
    l.raftLog.committed,
    3,
    "an entry of term 2 on a majority commits everything before it",
  );
});

Deno.test("§5.4 Figure 8: an entry of an old term on a majority can still be overwritten, so it is not committed", () => {
  // s1 led term 2 and wrote 2/t2 to s2; s5 led term 3 and wrote 2/t3 locally only.
  const ids = ["s1", "s2", "s3", "s4", "s5"];
  const storages = new Map([
    ["s1", logWithTerms(ids, [1, 2], 4)],
    ["s2", logWithTerms(ids, [1, 2], 4)],
    ["s3", logWithTerms(ids, [1], 4)],
    ["s4", logWithTerms(ids, [1], 4)],
    ["s5", logWithTerms(ids, [1, 3], 4)],
  ]);
  const net = new Net(ids, { preVote: false, checkQuorum: false, maxSizePerMsg: 1 }, storages);
  // s1 leads term 5 with votes from s2 and s3 and copies 2/t2 to s3, but its own entry 3/t5
  // never arrives anywhere (appends carrying it arrive empty).
  net.drop = (m) => m.to === "s4" || m.from === "s4" || m.to === "s5" || m.from === "s5";
  net.rewrite = (m) =>
    m.type === "app" && m.entries.some((e) => e.term === 5) ? { ...m, entries: [] } : m;
  const s1 = net.elect("s1");
  assert.equal(s1.role, "leader");
  assert.equal(s1.term, 5);
  for (const id of ["s1", "s2", "s3"]) {
    assert.equal(net.get(id).raftLog.termOrUndefined(2), 2, `2/t2 is on ${id}`);
  }
  assert.equal(s1.trk.progress.get("s3")!.match, 2);
  assert.ok(s1.raftLog.committed < 2, "on a majority, but of an earlier term: not committed");
  // s1 crashes; s5 (last term 3) can win with s2, s3 and s4, and overwrites index 2.
  net.isolate("s1");
  net.drop = () => false;
  net.rewrite = (m) => m;
  const s5 = net.get("s5");
  for (let i = 0; i < 3 && s5.role !== "leader"; i++) net.elect("s5");
  assert.equal(s5.role, "leader");
  assert.equal(net.get("s3").raftLog.termOrUndefined(2), 3, "2/t2 was replaced, which is safe");
  assert.ok(net.get("s3").raftLog.committed >= 2);
});

Deno.test("§5.3 a heartbeat never tells a follower to commit past what it is known to match", () => {
  // n3 holds a stale entry 2/t1 that the new leader's log does not have.
  const ids = ["n1", "n2", "n3"];
  const storages = new Map([
    ["n1", logWithTerms(ids, [1], 1)],
    ["n2", logWithTerms(ids, [1], 1)],
    ["n3", logWithTerms(ids, [1, 1], 1)],
  ]);
  const net = new Net(ids, { preVote: false }, storages);
  net.drop = (m) => m.to === "n3" && m.type === "app";
  const l = net.elect("n1");
  prop(l, "a");
  net.flush();
  assert.equal(l.raftLog.committed, 3);
  assert.equal(l.raftLog.termOrUndefined(2), 2);
  const n3 = net.get("n3");
  l.bcastHeartbeat();
  net.flush();
  assert.equal(n3.raftLog.termOrUndefined(2), 1, "n3 still holds its stale entry");
  assert.ok(n3.raftLog.committed < 2, "and must not commit it on the leader's word");
  net.drop = () => false;
  l.bcastHeartbeat();
  net.flush();
  assert.equal(n3.raftLog.committed, 3);
  assert.equal(n3.raftLog.termOrUndefined(2), 2);
});

Deno.test("§10.2.1 a leader counts its own entries toward commit only once they are persisted", () => {
  const net = new Net(["n1", "n2", "n3"]);
  const l = net.elect("n1");
  prop(l, "a");
  const idx = l.raftLog.lastIndex();
  // Deliver the append to n2 only, while n1's own write is still in flight.
  for (const m of take(l)) if (m.to === "n2") net.get("n2").step(m);
  persist(net.get("n2"));
  for (const m of take(net.get("n2"))) l.step(m);
  assert.equal(l.trk.progress.get("n2")!.match, idx);
  assert.equal(l.raftLog.committed, idx - 1, "n2 alone is not a majority; n1 has not persisted");
  persist(l);
  assert.equal(l.raftLog.committed, idx);
});

// ---- pre-vote, check-quorum, lease (§9.6, §6.2, §4.2.3) -----------------------

Deno.test("§9.6 pre-vote does not increment terms of a partitioned node", () => {
  const net = new Net(["n1", "n2", "n3"], { preVote: true });
  const l = net.elect("n1");
  const term = l.term;
  net.isolate("n3");
  const n3 = net.get("n3");
  for (let i = 0; i < 100; i++) {
    n3.tick();
    l.tick();
    net.get("n2").tick();
    net.flush();
  }
  assert.equal(n3.term, term, "pre-vote failed, so the term never moved");
  net.heal();
  for (let i = 0; i < 5; i++) {
    l.tick();
    net.flush();
  }
  assert.equal(l.role, "leader", "rejoining does not disrupt the leader");
  assert.equal(l.term, term);
  assert.equal(n3.lead, "n1");
});

Deno.test("§9.6 without pre-vote a partitioned node inflates its term and disrupts the leader on return", () => {
  const net = new Net(["n1", "n2", "n3"], { preVote: false, checkQuorum: false });
  const l = net.elect("n1");
  const term = l.term;
  net.isolate("n3");
  for (let i = 0; i < 100; i++) {
    net.get("n3").tick();
    net.flush();
  }
  assert.ok(net.get("n3").term > term + 2);
  net.heal();
  for (let i = 0; i < 30; i++) {
    for (const r of net.peers.values()) r.tick();
    net.flush();
  }
  assert.ok(l.term > term + 2, "the cluster had to adopt the inflated term");
});

Deno.test("§6.2 check-quorum: a leader steps down without a quorum", () => {
  const net = new Net(["n1", "n2", "n3"], { checkQuorum: true });
  const l = net.elect("n1");
  for (let i = 0; i < 25; i++) {
    l.tick();
    net.flush();
  }
  assert.equal(l.role, "leader", "followers answer, so it stays");
  net.isolate("n1");
  for (let i = 0; i < 20 && l.role === "leader"; i++) {
    l.tick();
    net.flush();
  }
  assert.equal(l.role, "follower", "no answers for an election timeout: steps down");
  assert.equal(l.lead, "");
});

Deno.test("§6.2 without check-quorum an isolated leader stays leader", () => {
  const net = new Net(["n1", "n2", "n3"], { checkQuorum: false });
  const l = net.elect("n1");
  net.isolate("n1");
  for (let i = 0; i < 50; i++) {
    l.tick();
    net.flush();
  }
  assert.equal(l.role, "leader");
});

Deno.test("§4.2.3 votes are ignored while the leader lease holds", () => {
  const net = new Net(["n1", "n2", "n3"], { checkQuorum: true, preVote: false });
  const l = net.elect("n1");
  const n2 = net.get("n2");
  const term = n2.term;
  n2.step(vote("n3", "n2", term + 1, 100, term));
  assert.equal(n2.term, term, "heard from the leader recently: the vote is dropped");
  assert.equal(take(n2).length, 0);
  // A transfer-triggered campaign is honoured even inside the lease (thesis §3.10).
  n2.step({ ...vote("n3", "n2", term + 1, 100, term), transfer: true } as Message);
  assert.equal(n2.term, term + 1);
  assert.equal(n2.vote, "n3");
  // Once the lease expires (no word from the leader for an election timeout), votes count again.
  net.isolate("n1");
  const n3 = net.get("n3");
  for (let i = 0; i < 10; i++) n3.tick();
  take(n3);
  n3.step(vote("n2", "n3", term + 2, 100, term + 1));
  assert.equal(n3.term, term + 2);
  assert.equal(l.term, term, "the leader itself was not asked");
});

// ---- leadership transfer (§3.10) -------------------------------------------------

Deno.test("§3.10 leadership transfer: the target campaigns at once and wins", () => {
  const net = new Net(["n1", "n2", "n3"]);
  const l = net.elect("n1");
  const term = l.term;
  l.step({ type: "transferLeader", from: "n1", to: "n1", term: 0, transferee: "n2" });
  net.flush();
  const n2 = net.get("n2");
  assert.equal(n2.role, "leader");
  assert.equal(n2.term, term + 1);
  assert.equal(l.role, "follower");
  assert.equal(l.lead, "n2");
});

Deno.test("§3.10 leadership transfer: a lagging target is caught up first, and proposals wait", () => {
  const net = new Net(["n1", "n2", "n3"]);
  const l = net.elect("n1");
  net.drop = (m) => m.to === "n3" && m.type === "app";
  for (let i = 0; i < 3; i++) prop(l, `p${i}`);
  net.flush();
  net.drop = () => false;
  l.step({ type: "transferLeader", from: "n1", to: "n1", term: 0, transferee: "n3" });
  assert.equal(l.leadTransferee, "n3");
  assert.equal(ofType(l.msgs, "timeoutNow").length, 0, "not before n3 has the whole log");
  assert.throws(() => prop(l, "during transfer"), ProposalDroppedError);
  net.flush();
  const n3 = net.get("n3");
  assert.equal(n3.role, "leader");
  assert.equal(n3.raftLog.lastIndex(), l.raftLog.lastIndex());
});

Deno.test("§3.10 leadership transfer is abandoned after an election timeout", () => {
  const net = new Net(["n1", "n2", "n3"]);
  const l = net.elect("n1");
  net.isolate("n3");
  l.step({ type: "transferLeader", from: "n1", to: "n1", term: 0, transferee: "n3" });
  net.flush();
  assert.equal(l.leadTransferee, "n3");
  for (let i = 0; i < 10; i++) {
    l.tick();
    net.flush();
  }
  assert.equal(l.leadTransferee, "");
  assert.equal(l.role, "leader");
  prop(l, "accepted again");
});

// ---- read index (§6.4) -------------------------------------------------------------

function readIndex(r: Raft, context: string): void {
  r.step({ type: "readIndex", from: r.id, to: r.id, term: 0, context });
}

Deno.test("§6.4 a new leader answers no read index before committing an entry of its term", () => {
  const net = new Net(["n1", "n2", "n3"]);
  net.drop = (m) => m.type === "app" && m.entries.length > 0;
  const l = net.elect("n1");
  assert.equal(l.role, "leader");
  assert.equal(l.committedEntryInCurrentTerm(), false);
  readIndex(l, "r1");
  net.flush();
  assert.deepEqual(l.readStates, [], "no read until the leader's empty entry commits");
  net.drop = () => false;
  l.bcastHeartbeat(); // answers resume replication
  net.flush();
  assert.equal(l.raftLog.committed, 1);
  assert.deepEqual(l.readStates, [{ index: 1, context: "r1" }]);
});

Deno.test("§6.4 a read index needs a heartbeat round acknowledged by a quorum", () => {
  const net = new Net(["n1", "n2", "n3"]);
  const l = net.elect("n1");
  net.isolate("n1");
  readIndex(l, "r1");
  net.flush();
  assert.deepEqual(
    l.readStates,
    [],
    "a leader that cannot reach a quorum may be deposed: no answer",
  );
  net.heal();
  l.bcastHeartbeat();
  net.flush();
  assert.deepEqual(l.readStates, [{ index: l.raftLog.committed, context: "r1" }]);
  // A follower's read is forwarded and answered with the leader's commit index.
  const n2 = net.get("n2");
  readIndex(n2, "r2");
  net.flush();
  assert.deepEqual(n2.readStates, [{ index: l.raftLog.committed, context: "r2" }]);
});

// ---- joint consensus (§4.3) -----------------------------------------------------------

Deno.test("§4.3 joint consensus needs both majorities to commit and to elect", () => {
  // Old voters {n1, n2, n3}; n4 and n5 are learners that replace n2 and n3 in one joint change.
  const ids = ["n1", "n2", "n3", "n4", "n5"];
  const storages = new Map(
    ids.map((id) => [id, MemoryStorage.withVoters(["n1", "n2", "n3"], ["n4", "n5"])]),
  );
  const net = new Net(ids, {}, storages);
  const l = net.elect("n1");
  assert.equal(l.role, "leader");
  const joint = {
    changes: [
      { type: "addVoter" as const, nodeId: "n4" },
      { type: "addVoter" as const, nodeId: "n5" },
      { type: "removeNode" as const, nodeId: "n2" },
      { type: "removeNode" as const, nodeId: "n3" },
    ],
    transition: "explicit" as const,
  };
  for (const r of net.peers.values()) r.applyConfChange(joint);
  assert.ok(l.isJoint());
  const start = l.raftLog.committed;
  net.drop = (m) => m.type === "app" && (m.to === "n4" || m.to === "n5");
  prop(l, "x");
  net.flush();
  assert.equal(l.raftLog.committed, start, "n1, n2, n3 are a majority of the old set only");
  net.drop = () => false;
  l.bcastHeartbeat();
  net.flush();
  const x = l.raftLog.lastIndex();
  assert.equal(l.raftLog.committed, x, "both majorities: committed");
  net.drop = (m) => m.type === "app" && (m.to === "n2" || m.to === "n3");
  prop(l, "y");
  net.flush();
  assert.equal(l.raftLog.committed, x, "n1, n4, n5 are a majority of the new set only");
  net.drop = () => false;
  l.bcastHeartbeat();
  net.flush();
  assert.equal(l.raftLog.committed, x + 1);

  // An election needs both majorities too.
  const c = net.get("n4");
  c.becomeCandidate();
  c.trk.recordVote("n4", true);
  c.trk.recordVote("n5", true);
  assert.equal(c.trk.tallyVotes(), "pending", "the new majority alone is not enough");
  c.trk.recordVote("n2", true);
  assert.equal(c.trk.tallyVotes(), "pending", "n2 and n4 are not a majority of the old set");
  c.trk.recordVote("n3", true);
  assert.equal(c.trk.tallyVotes(), "won");
});

// ---- snapshots (§7) ----------------------------------------------------------------------

Deno.test("§7 a follower that is behind a compacted log gets a snapshot", () => {
  const net = new Net(["n1", "n2", "n3"]);
  const l = net.elect("n1");
  net.isolate("n3");
  for (let i = 0; i < 5; i++) prop(l, `p${i}`);
  net.flush();
  const committed = l.raftLog.committed;
  assert.equal(committed, 6);
  const s = l.raftLog.storage as MemoryStorage;
  l.raftLog.appliedTo(committed);
  s.createSnapshotSync(committed, s.initialState().confState, enc.encode("state@6"));
  s.compactSync(committed);
  net.heal();
  const seen: Message[] = [];
  net.drop = (m) => {
    seen.push(m);
    return false;
  };
  l.bcastHeartbeat();
  net.flush();
  const snaps = ofType(seen, "snap").filter((m) => m.to === "n3");
  assert.equal(snaps.length, 1);
  assert.equal(snaps[0]!.snapshot.metadata.index, 6);
  const n3 = net.get("n3");
  assert.equal((n3.raftLog.storage as MemoryStorage).snapshot().metadata.index, 6);
  assert.equal(n3.raftLog.committed, 6);
  assert.equal(l.trk.progress.get("n3")!.state, "replicate", "back to the log after the snapshot");
  prop(l, "after");
  net.flush();
  assert.equal(n3.raftLog.committed, 7);
});

// ---- flow control, size limits, forwarding -------------------------------------------------

Deno.test("flow control: replicate pipelines at most maxInflightMsgs appends", () => {
  const net = new Net(["n1", "n2"], { maxInflightMsgs: 3, maxSizePerMsg: 1 });
  const l = net.elect("n1");
  assert.equal(l.trk.progress.get("n2")!.state, "replicate");
  const apps: Message[] = [];
  net.drop = (m) => {
    if (m.type === "app" && m.to === "n2") apps.push(m);
    return m.to === "n2";
  };
  for (let i = 0; i < 10; i++) {
    prop(l, `p${i}`);
    net.flush();
  }
  assert.equal(apps.length, 3, "no acks: the window of 3 appends stays full");
  assert.equal(l.trk.progress.get("n2")!.inflights.count(), 3);
});

Deno.test("flow control: probe sends one append at a time until the follower answers", () => {
  const net = new Net(["n1", "n2", "n3"], { maxSizePerMsg: 1 });
  const l = net.elect("n1");
  l.trk.progress.get("n2")!.becomeProbe();
  const apps: Message[] = [];
  net.drop = (m) => {
    if (m.type === "app" && m.to === "n2") apps.push(m);
    return m.to === "n2";
  };
  for (let i = 0; i < 5; i++) prop(l, `p${i}`);
  net.flush();
  assert.equal(apps.filter((m) => m.type === "app" && m.entries.length > 0).length, 1);
  net.drop = () => false;
  l.bcastHeartbeat();
  net.flush();
  const pr = l.trk.progress.get("n2")!;
  assert.equal(pr.state, "replicate", "an accepted probe switches to pipelining");
  assert.equal(pr.match, l.raftLog.lastIndex());
});

Deno.test("uncommitted size limit: a leader drops proposals beyond maxUncommittedEntriesSize", () => {
  const net = new Net(["n1", "n2", "n3"], { maxUncommittedEntriesSize: 10 });
  const l = net.elect("n1");
  net.isolate("n1");
  prop(l, "12345678");
  assert.throws(() => prop(l, "12345678"), ProposalDroppedError);
  // Once committed, the bytes are released (the driver reports applied entries).
  net.heal();
  l.bcastAppend();
  net.flush();
  l.reduceUncommittedSize(l.raftLog.nextCommittedEntries());
  prop(l, "12345678");
});

Deno.test("proposal forwarding: a follower forwards to the leader; with forwarding disabled it throws NotLeaderError", () => {
  const net = new Net(["n1", "n2", "n3"]);
  const l = net.elect("n1");
  prop(net.get("n2"), "from-n2");
  net.flush();
  const last = l.raftLog.lastIndex();
  assert.equal(new TextDecoder().decode(l.raftLog.slice(last, last + 1)[0]!.data), "from-n2");
  assert.equal(net.get("n3").raftLog.committed, last);

  const off = new Net(["n1", "n2", "n3"], { disableProposalForwarding: true });
  off.elect("n1");
  const err = assert.throws(() => prop(off.get("n2"), "x"), NotLeaderError);
  void err;
  try {
    prop(off.get("n2"), "x");
  } catch (e) {
    assert.ok(e instanceof NotLeaderError);
    assert.equal(e.leaderHint, "n1");
  }
  const lone = newRaft("n1", ["n1", "n2", "n3"]);
  assert.throws(() => prop(lone, "x"), ProposalDroppedError, "no leader known");
});

Deno.test("§10.2.1 only a leader that stays leader may send before persisting (RawNode.ready)", () => {
  const ids = ["n1", "n2", "n3"];
  const storages = new Map(ids.map((id) => [id, MemoryStorage.withVoters(ids)]));
  const nodes = new Map(
    ids.map((id) => [id, new RawNode({ id, storage: storages.get(id)!, preVote: false })]),
  );
  const handle = (id: NodeId): Ready => {
    const n = nodes.get(id)!;
    const rd = n.ready();
    const s = storages.get(id)!;
    s.append(rd.entries);
    if (rd.hardState) s.setHardState(rd.hardState);
    n.advance(rd);
    return rd;
  };
  nodes.get("n1")!.campaign();
  const candidacy = handle("n1");
  assert.equal(
    candidacy.canSendBeforePersist,
    false,
    "a vote request depends on the persisted term and vote",
  );
  for (const m of candidacy.messages) nodes.get(m.to)!.step(m);
  const grant = handle("n2");
  assert.equal(
    grant.canSendBeforePersist,
    false,
    "a granted vote must be on disk before it is sent",
  );
  for (const m of grant.messages) nodes.get("n1")!.step(m);
  const elected = handle("n1");
  assert.equal(elected.softState?.role, "leader");
  assert.equal(elected.canSendBeforePersist, false, "it just became leader");
  // Replicate the leader's first entry so both followers are in pipelining state.
  for (const m of elected.messages) nodes.get(m.to)!.step(m);
  for (const id of ["n2", "n3"]) for (const m of handle(id).messages) nodes.get("n1")!.step(m);
  while (nodes.get("n1")!.hasReady()) handle("n1");
  nodes.get("n1")!.propose(enc.encode("x"));
  const steady = handle("n1");
  assert.ok(steady.entries.length > 0 && steady.messages.length > 0);
  assert.equal(steady.canSendBeforePersist, true, "a steady leader's appends may go out first");
});

// ---- removal of the leader by a joint change (§4.2.2) -----------------------------------------

/**
 * Found by the simulator: `deno task sim --seed 141 --steps 1000` with raft/testing as of commit
 * 76378f9, before 6f25bd8 fixed the core. A leader that a joint change removes (or demotes) used
 * to step down as soon as it applied the leave-joint entry. A voter of the new configuration that
 * had not yet learned that this entry is committed still used the joint configuration and needed
 * the old leader's vote for the outgoing half; the old leader refused it whenever its own log was
 * longer, and could no longer campaign itself. The voters that did learn of the commit refused
 * each other in turn (the unaware one had the longer log), so no leader was ever elected. Such a
 * leader now also refuses proposals from the moment it appends the change that removes it, so its
 * log cannot outgrow the voters' in the first place.
 */
Deno.test({
  name:
    "§4.2.2 a leader removed by a joint change leads until every new voter knows the change committed",
  fn() {
    const ids = ["n1", "n2", "n3"];
    const storages = new Map(ids.map((id) => [id, MemoryStorage.withVoters(["n1", "n2"], ["n3"])]));
    const net = new Net(ids, { preVote: false, checkQuorum: false, maxSizePerMsg: 1 }, storages);
    const l = net.elect("n1");
    const cc = (changes: { type: "addVoter" | "removeNode"; nodeId: NodeId }[]) => ({
      type: "prop" as const,
      from: "n1",
      to: "n1",
      term: 0,
      entries: [{
        term: 0,
        index: 0,
        type: "confChange" as const,
        data: enc.encode(JSON.stringify({ changes, transition: "explicit" })),
      }],
    });
    // Joint: incoming {n2, n3}, outgoing {n1, n2}.
    l.step(cc([{ type: "addVoter", nodeId: "n3" }, { type: "removeNode", nodeId: "n1" }]));
    net.flush();
    const joint = {
      changes: [{ type: "addVoter" as const, nodeId: "n3" }, {
        type: "removeNode" as const,
        nodeId: "n1",
      }],
      transition: "explicit" as const,
    };
    for (const r of net.peers.values()) {
      r.applyConfChange(joint);
      r.raftLog.appliedTo(r.raftLog.committed);
    }
    // Leave-joint at i. Entries after it (which the leader used to accept, making its log
    // longer than a voter's) are refused now.
    l.step(cc([]));
    const i = l.raftLog.lastIndex();
    assert.throws(() => prop(l, "a"), ProposalDroppedError);
    persist(l);
    for (const m of take(l)) {
      if (m.type !== "app") continue;
      if (m.to === "n3" || m.entries.every((e) => e.index <= i)) net.get(m.to).step(m);
    }
    for (const id of ["n2", "n3"]) {
      persist(net.get(id));
      for (const m of take(net.get(id))) l.step(m);
    }
    assert.equal(l.raftLog.committed, i, "leave-joint is committed");
    // Only n2 hears of the commit. n1 refuses one more entry and applies leave-joint.
    for (const m of take(l)) if (m.to === "n2") net.get("n2").step(m);
    persist(net.get("n2"));
    take(net.get("n2"));
    assert.throws(() => prop(l, "c"), ProposalDroppedError);
    persist(l);
    take(l);
    l.applyConfChange({ changes: [] });
    net.get("n2").applyConfChange({ changes: [] });
    assert.equal(net.get("n3").raftLog.committed < i, true);
    assert.equal(l.role, "leader", "n3 has not reported the commit yet: n1 keeps leading");
    const others = () => [net.get("n2"), net.get("n3")];
    for (let t = 0; t < 500 && !others().some((r) => r.role === "leader"); t++) {
      for (const r of net.peers.values()) r.tick();
      net.flush();
      for (const r of others()) {
        // The driver applies what commits: n3 leaves the joint configuration once it learns.
        if (r.raftLog.committed >= i && r.isJoint()) r.applyConfChange({ changes: [] });
        r.raftLog.appliedTo(r.raftLog.committed);
      }
    }
    assert.equal(l.role, "follower", "n1 stepped down once every new voter knew");
    assert.ok(others().some((r) => r.role === "leader"), "n2 or n3 leads");
  },
});
