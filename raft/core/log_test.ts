import assert from "node:assert/strict";
import { MemoryStorage } from "../storage/memory_storage.ts";
import { CompactedError, RaftInvariantError, UnavailableError } from "./errors.ts";
import { RaftLog } from "./log.ts";
import type { Entry } from "./types.ts";

const enc = new TextEncoder();

function ent(index: number, term: number, data = ""): Entry {
  return { index, term, type: "normal", data: enc.encode(data) };
}

/** A log whose stable entries have the given terms at indexes 1..n. */
function logOf(terms: readonly number[]): RaftLog {
  const s = MemoryStorage.withVoters(["n1"]);
  s.append(terms.map((t, i) => ent(i + 1, t)));
  return new RaftLog(s);
}

function terms(log: RaftLog): number[] {
  return log.slice(log.firstIndex(), log.lastIndex() + 1).map((e) => e.term);
}

Deno.test("RaftLog.isUpToDate compares last term first, then length (§5.4.1)", () => {
  const log = logOf([1, 2, 2]);
  const table: [number, number, boolean][] = [
    [3, 2, true],
    [4, 2, true],
    [2, 2, false],
    [100, 1, false],
    [1, 3, true],
  ];
  for (const [index, term, want] of table) {
    assert.equal(log.isUpToDate(index, term), want, `${index}/t${term}`);
  }
});

Deno.test("RaftLog.maybeAppend appends only after a matching prev entry (§5.3 consistency check)", () => {
  const log = logOf([1, 2, 3]);
  assert.equal(log.maybeAppend(3, 2, 3, [ent(4, 4)]), undefined, "prev 3/t2 does not match 3/t3");
  assert.equal(log.maybeAppend(4, 3, 3, [ent(5, 4)]), undefined, "prev 4 is past the end");
  assert.equal(log.lastIndex(), 3);
  assert.equal(log.maybeAppend(3, 3, 3, [ent(4, 4), ent(5, 4)]), 5);
  assert.deepEqual(terms(log), [1, 2, 3, 4, 4]);
  assert.equal(log.committed, 3, "commit is min(leader commit, last new entry)");
});

Deno.test("RaftLog.maybeAppend truncates a conflicting suffix but keeps matching entries", () => {
  const log = logOf([1, 1, 2, 2, 2]);
  // Entries already present (same index and term) are not rewritten.
  assert.equal(log.maybeAppend(1, 1, 0, [ent(2, 1), ent(3, 2)]), 3);
  assert.deepEqual(terms(log), [1, 1, 2, 2, 2], "a stale, shorter append does not truncate");
  // A conflict at 4 replaces everything from 4 on.
  assert.equal(log.maybeAppend(3, 2, 0, [ent(4, 3)]), 4);
  assert.deepEqual(terms(log), [1, 1, 2, 3]);
});

Deno.test("RaftLog.maybeAppend never learns a commit index past the entries it was sent", () => {
  const log = logOf([1, 1, 1, 1]);
  assert.equal(log.maybeAppend(1, 1, 100, [ent(2, 1)]), 2);
  assert.equal(log.committed, 2, "entries 3-4 may still be replaced: not committed by this append");
});

Deno.test("RaftLog refuses to overwrite or append below a committed entry", () => {
  const log = logOf([1, 1, 1]);
  log.commitTo(3);
  assert.throws(() => log.maybeAppend(1, 1, 3, [ent(2, 2)]), RaftInvariantError);
  assert.throws(() => log.append([ent(2, 2)]), RaftInvariantError);
  assert.throws(() => log.commitTo(4), RaftInvariantError, "commit past the last index");
});

Deno.test("RaftLog.findConflict returns the first new or conflicting index", () => {
  const log = logOf([1, 2, 3]);
  assert.equal(log.findConflict([]), 0);
  assert.equal(log.findConflict([ent(1, 1), ent(2, 2), ent(3, 3)]), 0);
  assert.equal(log.findConflict([ent(2, 2), ent(3, 3), ent(4, 4)]), 4);
  assert.equal(log.findConflict([ent(2, 2), ent(3, 4)]), 3);
  assert.equal(log.findConflict([ent(1, 4)]), 1);
});

Deno.test("RaftLog.findConflictByTerm finds where a log ending at (index, term) may match (fast backtracking)", () => {
  const log = logOf([1, 1, 2, 2, 5, 5]);
  const table: [number, number, number, number][] = [
    [6, 5, 6, 5],
    [6, 4, 4, 2], // nothing of term 3-4: skip back to the last term-2 entry
    [6, 2, 4, 2],
    [6, 1, 2, 1],
    [6, 0, 0, 0],
    [9, 5, 6, 5], // capped at the last index
    [3, 9, 3, 2],
  ];
  for (const [index, term, wantIndex, wantTerm] of table) {
    assert.deepEqual(log.findConflictByTerm(index, term), { index: wantIndex, term: wantTerm });
  }
});

Deno.test("RaftLog.maybeCommit commits only an entry of the given term (§5.4.2)", () => {
  const log = logOf([1, 1, 2]);
  assert.equal(log.maybeCommit(2, 2), false, "2 is of term 1");
  assert.equal(log.committed, 0);
  assert.equal(log.maybeCommit(3, 2), true);
  assert.equal(log.committed, 3);
  assert.equal(log.maybeCommit(2, 1), false, "commit never goes back");
  assert.equal(log.committed, 3);
});

Deno.test("RaftLog keeps applied <= committed", () => {
  const log = logOf([1, 1, 1]);
  log.commitTo(2);
  assert.deepEqual(log.nextCommittedEntries().map((e) => e.index), [1, 2]);
  log.appliedTo(2);
  assert.deepEqual(log.nextCommittedEntries(), []);
  assert.throws(() => log.appliedTo(3), RaftInvariantError);
  assert.throws(() => log.appliedTo(1), RaftInvariantError, "applied never goes back");
});

Deno.test("RaftLog reads unstable entries over stable ones and tracks what became stable", () => {
  const log = logOf([1, 1]);
  log.append([ent(2, 2), ent(3, 2)]); // replaces stable 2/t1 once written
  assert.deepEqual(terms(log), [1, 2, 2]);
  assert.equal(log.stableIndex(), 1, "2 and 3 are not on stable storage yet");
  assert.deepEqual(log.unstableEntries().map((e) => e.index), [2, 3]);
  (log.storage as MemoryStorage).append(log.unstableEntries()); // the driver persists them
  log.stableTo(3, 2);
  assert.deepEqual(log.unstableEntries(), []);
  log.stableTo(3, 1); // a stale acknowledgement is ignored
  assert.equal(log.stableIndex(), 3);
});

Deno.test("RaftLog after compaction: term and slice below the first index throw CompactedError", () => {
  const s = MemoryStorage.withVoters(["n1"]);
  s.append([ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2)]);
  s.createSnapshotSync(2, s.initialState().confState, new Uint8Array());
  s.compactSync(2);
  const log = new RaftLog(s);
  assert.equal(log.firstIndex(), 3);
  assert.equal(log.term(2), 1, "the snapshot's last index still has a term");
  assert.throws(() => log.term(1), CompactedError);
  assert.throws(() => log.slice(1, 3), CompactedError);
  assert.throws(() => log.term(5), UnavailableError);
  assert.equal(log.termOrUndefined(1), undefined);
  assert.equal(log.termOrUndefined(5), undefined);
  assert.equal(log.committed, 2, "a restarted log starts committed at its snapshot");
});

Deno.test("RaftLog.restore replaces the log with a snapshot (§7)", () => {
  const log = logOf([1, 1]);
  const confState = {
    voters: ["n1"],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
  log.restore({ metadata: { index: 10, term: 3, confState }, data: new Uint8Array() });
  assert.equal(log.lastIndex(), 10);
  assert.equal(log.firstIndex(), 11);
  assert.equal(log.committed, 10);
  assert.equal(log.term(10), 3);
  assert.equal(
    log.snapshot().metadata.index,
    10,
    "the pending snapshot is what a leader would send",
  );
  assert.deepEqual(log.nextCommittedEntries(), [], "the snapshot is applied before any entry");
});

Deno.test("RaftLog.nextCommittedEntries respects the apply size limit but returns at least one entry", () => {
  const s = MemoryStorage.withVoters(["n1"]);
  s.append([ent(1, 1, "x".repeat(100)), ent(2, 1, "y".repeat(100)), ent(3, 1, "z")]);
  const log = new RaftLog(s, { maxApplyBytes: 150 });
  log.commitTo(3);
  assert.deepEqual(log.nextCommittedEntries().map((e) => e.index), [1], "1 and 2 exceed 150 bytes");
  log.appliedTo(1);
  assert.deepEqual(log.nextCommittedEntries().map((e) => e.index), [2, 3]);
  const tiny = new RaftLog(s, { maxApplyBytes: 1 });
  tiny.commitTo(3);
  assert.deepEqual(tiny.nextCommittedEntries().map((e) => e.index), [1], "never zero entries");
});
