import assert from "node:assert/strict";
import { RaftInvariantError } from "../errors.ts";
import { Inflights } from "./inflights.ts";
import { Progress } from "./progress.ts";
import { configFromConfState, ProgressTracker } from "./tracker.ts";

function progress(next: number, maxInflight = 4): Progress {
  return new Progress(next, { maxInflight, maxInflightBytes: 0, isLearner: false });
}

Deno.test("Inflights is a bounded FIFO by count and by bytes", () => {
  const f = new Inflights(3, 0);
  f.add(2, 10);
  f.add(4, 10);
  assert.equal(f.full(), false);
  f.add(7, 10);
  assert.equal(f.full(), true);
  assert.throws(() => f.add(9, 1), RaftInvariantError, "cannot add to a full window");
  f.freeLE(4);
  assert.equal(f.count(), 1);
  assert.equal(f.bytes(), 10);
  assert.throws(() => f.add(5, 1), RaftInvariantError, "indexes must increase");
  const b = new Inflights(100, 25);
  b.add(1, 10);
  b.add(2, 10);
  assert.equal(b.full(), false);
  b.add(3, 10);
  assert.equal(b.full(), true, "30 bytes in flight reach the 25-byte limit");
  b.freeLE(1);
  assert.equal(b.full(), false);
});

Deno.test("Progress in probe sends one append, then pauses until an answer or heartbeat response", () => {
  const pr = progress(5);
  assert.equal(pr.state, "probe");
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(3, 30);
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.next, 5, "probe does not advance next optimistically");
  pr.msgAppFlowPaused = false; // a heartbeat response
  assert.equal(pr.isPaused(), false);
  assert.equal(pr.maybeUpdate(7), true);
  assert.equal(pr.match, 7);
  assert.equal(pr.next, 8);
});

Deno.test("Progress in replicate pipelines up to the window, and a full window pauses the flow", () => {
  const pr = progress(5, 2);
  pr.match = 4;
  pr.becomeReplicate();
  pr.sentEntries(2, 20);
  assert.equal(pr.next, 7, "replicate advances next optimistically");
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(1, 10);
  assert.equal(pr.isPaused(), true, "the window of 2 is full");
  // A heartbeat response unpauses the flow so an empty append can probe (the window stays full).
  pr.msgAppFlowPaused = false;
  assert.equal(pr.isPaused(), false);
  assert.equal(pr.inflights.full(), true);
  pr.maybeUpdate(6);
  pr.inflights.freeLE(6);
  assert.equal(pr.inflights.count(), 1);
});

Deno.test("Progress.maybeDecrTo: replicate falls back to match+1; probe follows the hint; stale rejections are ignored", () => {
  const r = progress(1);
  r.match = 5;
  r.becomeReplicate();
  r.sentEntries(4, 40); // next 10
  assert.equal(r.maybeDecrTo(4, 0), false, "a rejection at or below match is stale");
  assert.equal(r.maybeDecrTo(8, 2), true);
  assert.equal(r.next, 6, "replicate ignores the hint: match is known good");

  const p = progress(10);
  p.match = 2;
  assert.equal(p.maybeDecrTo(7, 0), false, "probe only trusts a rejection of next-1");
  assert.equal(p.maybeDecrTo(9, 4), true);
  assert.equal(p.next, 5, "jumps to just after the follower's hint");
  assert.equal(p.maybeDecrTo(4, 0), true);
  assert.equal(p.next, 3, "never below match+1");
});

Deno.test("Progress in snapshot state sends nothing and resumes after the snapshot index", () => {
  const pr = progress(3);
  pr.becomeSnapshot(20);
  assert.equal(pr.isPaused(), true);
  pr.msgAppFlowPaused = false;
  assert.equal(pr.isPaused(), true, "even a heartbeat response does not resume appends");
  pr.becomeProbe();
  assert.equal(pr.state, "probe");
  assert.equal(pr.next, 21);
  assert.equal(pr.maybeUpdate(0), false, "an ack of nothing new changes nothing");
  assert.equal(pr.next, 21);
});

Deno.test("ProgressTracker.setConfig keeps progress of kept members and adds new ones as recently active", () => {
  const t = new ProgressTracker({ maxInflight: 8, maxInflightBytes: 0 });
  const cs = (voters: string[], learners: string[] = []) =>
    configFromConfState({
      voters,
      learners,
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    });
  t.setConfig(cs(["a", "b", "c"]), 5);
  t.progress.get("b")!.match = 4;
  t.setConfig(cs(["a", "b"], ["d"]), 9);
  assert.deepEqual([...t.progress.keys()].sort(), ["a", "b", "d"]);
  assert.equal(t.progress.get("b")!.match, 4);
  assert.equal(t.progress.get("d")!.isLearner, true);
  assert.equal(t.progress.get("d")!.next, 9);
  assert.equal(t.progress.get("d")!.recentActive, true, "not deposed by check-quorum at once");
});

Deno.test("ProgressTracker.quorumActive counts the leader itself and ignores learners (§6.2)", () => {
  const t = new ProgressTracker({ maxInflight: 8, maxInflightBytes: 0 });
  t.setConfig(
    configFromConfState({
      voters: ["a", "b", "c"],
      learners: ["l1", "l2"],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    }),
    1,
  );
  for (const pr of t.progress.values()) pr.recentActive = false;
  t.progress.get("l1")!.recentActive = true;
  t.progress.get("l2")!.recentActive = true;
  assert.equal(t.quorumActive("a"), false, "learners do not make a quorum");
  t.progress.get("b")!.recentActive = true;
  assert.equal(t.quorumActive("a"), true);
});

Deno.test("ProgressTracker: voters of the outgoing half in learnersNext still vote and count (§4.3)", () => {
  const t = new ProgressTracker({ maxInflight: 8, maxInflightBytes: 0 });
  t.setConfig(
    configFromConfState({
      voters: ["a", "c"],
      learners: [],
      votersOutgoing: ["a", "b"],
      learnersNext: ["b"],
      autoLeave: false,
    }),
    1,
  );
  assert.equal(t.progress.get("b")!.isLearner, false);
  assert.equal(t.isVoter("b"), true);
  t.progress.get("a")!.match = 5;
  t.progress.get("b")!.match = 5;
  t.progress.get("c")!.match = 5;
  assert.equal(t.committed(), 5);
  t.progress.get("b")!.match = 0;
  assert.equal(t.committed(), 0, "the outgoing half {a, b} needs b");
});
