import assert from "node:assert/strict";
import { encodeEnvelope } from "../raft/envelope.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { Harness } from "./_harness_test.ts";
import { MemoryArchive } from "./archive.ts";
import {
  encodeAppend,
  encodeAppendEvents,
  EventRecordCursor,
  ID_RANDOM,
  prepareEvent,
} from "./commands.ts";
import {
  EventIdConflictError,
  EventNotFoundError,
  InvalidEventError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
} from "./errors.ts";
import type { ProjectionDefinition } from "./projections.ts";
import { type CommandResult, EventStoreStateMachine, toRecordedEvent } from "./state_machine.ts";
import type { AppendResult } from "./types.ts";

const ev = (id: string, type = "T", data: unknown = null) => ({ id, type, data });

function ok(r: CommandResult): AppendResult {
  if (r === null || r instanceof Error || !("position" in r)) {
    throw new Error(`expected an append result, got ${r}`);
  }
  return r;
}

function ids(h: Harness, stream: string): string[] {
  return h.sm.readStream(stream, { limit: 10_000 }).events.map((e) => e.id);
}

Deno.test("EventStoreStateMachine.apply() numbers revisions per stream and positions globally", () => {
  const h = new Harness();
  assert.deepEqual(ok(h.append("a", [ev("1"), ev("2")], "no_stream")), {
    stream: "a",
    firstRevision: 0,
    lastRevision: 1,
    position: 1,
    replayed: false,
  });
  assert.deepEqual(ok(h.append("b", [ev("3")])), {
    stream: "b",
    firstRevision: 0,
    lastRevision: 0,
    position: 2,
    replayed: false,
  });
  assert.equal(ok(h.append("a", [ev("4")], 1)).position, 3);
  const all = h.sm.readAll().events;
  assert.deepEqual(all.map((e) => [e.stream, e.revision, e.position]), [
    ["a", 0, 0],
    ["a", 1, 1],
    ["b", 0, 2],
    ["a", 2, 3],
  ]);
  assert.equal(h.sm.lastPosition, 3);
});

Deno.test("EventStoreStateMachine.apply() checks expected revisions and failed appends consume nothing", () => {
  const h = new Harness();
  const noStream = h.append("s", [ev("x")], "stream_exists");
  assert.ok(noStream instanceof WrongExpectedRevisionError);
  assert.equal(noStream.currentRevision, "no_stream");
  assert.equal(
    noStream.message,
    "Cannot append to stream s: expected stream_exists, stream does not exist",
  );
  ok(h.append("s", [ev("a"), ev("b"), ev("c"), ev("d"), ev("e"), ev("f"), ev("g")], "no_stream"));
  const wrong = h.append("s", [ev("y")], 4);
  assert.ok(wrong instanceof WrongExpectedRevisionError);
  assert.equal(wrong.message, "Cannot append to stream s: expected revision 4, stream is at 6");
  assert.equal(wrong.currentRevision, 6);
  assert.ok(h.append("s", [ev("y")], "no_stream") instanceof WrongExpectedRevisionError);
  assert.equal(h.sm.lastPosition, 6);
  const next = ok(h.append("s", [ev("y")], 6));
  assert.equal(next.firstRevision, 7);
  assert.equal(next.position, 7);
  ok(h.append("s", [ev("z")], "stream_exists"));
});

Deno.test("EventStoreStateMachine.apply() looks up only the ids clients chose, and indexes all", () => {
  const h = new Harness();
  // Ids drawn by the encoder carry ID_RANDOM; a later append naming one is a retry.
  const drawn = encodeAppendEvents("s", [{ type: "T" }, { type: "T" }]);
  const first = ok(h.command(drawn));
  const [a, b] = ids(h, "s");
  const retry = ok(
    h.command(encodeAppendEvents("s", [{ id: a!, type: "T" }, { id: b!, type: "T" }])),
  );
  assert.deepEqual(retry, { ...first, replayed: true });
  // The flag is what skips the lookup: an entry claiming a drawn id that exists is written
  // as new (an encoder only sets it on ids it drew, which no event holds yet).
  const forged = encodeAppendEvents("s", [{ id: a!, type: "T" }]);
  const cur = new EventRecordCursor(forged);
  const at = cur.header().firstRecord;
  assert.equal(cur.read(at).flags & ID_RANDOM, 0, "a chosen id is not flagged");
  forged[at] = forged[at]! | ID_RANDOM;
  const written = ok(h.command(forged));
  assert.equal(written.replayed, false);
  assert.equal(written.position, first.position + 1);
  assert.deepEqual(ids(h, "s"), [a, b, a]);
});

Deno.test("EventStoreStateMachine.apply() returns the original result for a retried append, forever", () => {
  const h = new Harness();
  ok(h.append("other", [ev("o1")]));
  const first = ok(h.append("s", [ev("a"), ev("b"), ev("c")], "no_stream"));
  for (let i = 0; i < 500; i++) ok(h.append(`x-${i % 7}`, [ev(`filler-${i}`)]));
  const before = h.sm.lastPosition;
  const retry = ok(h.append("s", [ev("a"), ev("b"), ev("c")], "no_stream"));
  assert.deepEqual(retry, { ...first, replayed: true });
  assert.equal(h.sm.lastPosition, before);
  assert.deepEqual(ids(h, "s"), ["a", "b", "c"]);
  // A retry of the tail of that append is idempotent too.
  assert.deepEqual(ok(h.append("s", [ev("b"), ev("c")])), {
    stream: "s",
    firstRevision: 1,
    lastRevision: 2,
    position: first.position,
    replayed: true,
  });
});

Deno.test("EventStoreStateMachine.apply() rejects partial id overlaps, reordered retries and ids of other streams", () => {
  const h = new Harness();
  ok(h.append("s", [ev("a"), ev("b")]));
  ok(h.append("t", [ev("c")]));
  const before = h.sm.lastPosition;
  const partial = h.append("s", [ev("a"), ev("new")]);
  assert.ok(partial instanceof EventIdConflictError);
  assert.match(partial.message, /a already exist but new does not/);
  assert.ok(h.append("s", [ev("b"), ev("a")]) instanceof EventIdConflictError);
  const elsewhere = h.append("s", [ev("c")]);
  assert.ok(elsewhere instanceof EventIdConflictError);
  assert.match(elsewhere.message, /already exists in stream t/);
  assert.equal(h.sm.lastPosition, before);
});

Deno.test("EventStoreStateMachine.apply() replays a retry whose first events retention has removed since", async () => {
  const h = new Harness();
  h.setMetadata("s", { maxCount: 2 });
  ok(h.append("s", [ev("x")]));
  // maxCount 2 removes x and a at once: only b and c remain.
  const first = ok(h.append("s", [ev("a"), ev("b"), ev("c")]));
  assert.deepEqual(ids(h, "s"), ["b", "c"]);
  const before = h.sm.lastPosition;
  const retry = () => h.append("s", [ev("a"), ev("b"), ev("c")]);
  assert.deepEqual(ok(retry()), { ...first, replayed: true });
  // The removed head must be this append's own: another id before b is a conflict,
  // and so is a removed event of an earlier append (x) claimed as the head.
  const other = h.append("s", [ev("z"), ev("b"), ev("c")]);
  assert.ok(other instanceof EventIdConflictError);
  assert.match(other.message, /b\.\. already exist but z does not/);
  assert.ok(h.append("s", [ev("x"), ev("a"), ev("b"), ev("c")]) instanceof EventIdConflictError);
  // A gone id after a kept one is no retry either.
  assert.ok(h.append("s", [ev("b"), ev("c"), ev("a")]) instanceof EventIdConflictError);
  assert.equal(h.sm.lastPosition, before);
  // Compaction keeps the entry while b and c live, so the check still reads a.
  await h.storage.compact(h.sm.retainFrom() - 1);
  assert.deepEqual(ok(retry()), { ...first, replayed: true });
  assert.ok(h.append("s", [ev("z"), ev("b"), ev("c")]) instanceof EventIdConflictError);
  assert.equal(h.sm.lastPosition, before);
});

Deno.test("EventStoreStateMachine.apply() treats ids that share a 64-bit hash slot as distinct", () => {
  // Many ids exercise probing; every one must be found exactly as itself.
  const h = new Harness();
  for (let i = 0; i < 3000; i++) ok(h.append(`s-${i % 50}`, [ev(`id-${i}`)]));
  for (let i = 0; i < 3000; i += 97) {
    const r = ok(h.append(`s-${i % 50}`, [ev(`id-${i}`)]));
    assert.equal(r.replayed, true);
    assert.equal(r.position, i);
  }
  assert.equal(h.sm.lastPosition, 2999);
});

Deno.test("EventStoreStateMachine.apply() skips commands at or below the applied index", () => {
  const h = new Harness();
  ok(h.append("s", [ev("a")]));
  const payload = encodeAppend("s", [prepareEvent(ev("b"))]);
  const r = h.sm.apply([{ index: 1, term: 1, id: "", timestamp: 0, payload }]);
  assert.deepEqual(r, [null]);
  assert.equal(h.sm.lastPosition, 0);
});

Deno.test("EventStoreStateMachine.apply() answers malformed commands with InvalidEventError and changes nothing", () => {
  const h = new Harness();
  ok(h.append("s", [ev("a")]));
  const good = encodeAppend("s", [prepareEvent(ev("b")), prepareEvent(ev("c"))]);
  for (
    const bad of [new Uint8Array([9, 9]), good.subarray(0, good.length - 2), new Uint8Array([])]
  ) {
    assert.ok(h.command(bad) instanceof InvalidEventError);
  }
  assert.equal(h.sm.lastPosition, 0);
  assert.equal(ok(h.append("s", [ev("b")])).position, 1);
});

Deno.test("EventStoreStateMachine soft delete: reads 404, append continues numbering, no_stream allowed", () => {
  const h = new Harness();
  ok(h.append("s", [ev("a"), ev("b")]));
  assert.deepEqual(h.delete("s"), { stream: "s", hard: false });
  assert.throws(() => h.sm.readStream("s"), StreamNotFoundError);
  assert.ok(h.delete("s") instanceof StreamNotFoundError);
  assert.ok(h.append("s", [ev("c")], 1) instanceof WrongExpectedRevisionError);
  const r = ok(h.append("s", [ev("c")], "no_stream"));
  assert.equal(r.firstRevision, 2);
  assert.deepEqual(ids(h, "s"), ["c"]);
  assert.throws(() => h.sm.readEvent("s", 0), EventNotFoundError);
  assert.equal(h.sm.readEvent("s", 2).id, "c");
  assert.deepEqual(h.sm.readAll().events.map((e) => e.id), ["c"]);
  // The deleted events' ids are free again.
  assert.equal(ok(h.append("s", [ev("a")])).replayed, false);
});

Deno.test("EventStoreStateMachine hard delete: reads, appends, deletes and metadata get 410", () => {
  const h = new Harness();
  ok(h.append("s", [ev("a")]));
  assert.deepEqual(h.delete("s", true), { stream: "s", hard: true });
  assert.throws(() => h.sm.readStream("s"), StreamDeletedError);
  assert.throws(() => h.sm.readEvent("s", 0), StreamDeletedError);
  assert.ok(h.append("s", [ev("b")]) instanceof StreamDeletedError);
  assert.ok(h.append("s", [ev("a")]) instanceof StreamDeletedError);
  assert.ok(h.delete("s") instanceof StreamDeletedError);
  assert.ok(h.setMetadata("s", { maxCount: 1 }) instanceof StreamDeletedError);
  assert.throws(() => h.sm.getMetadata("s"), StreamDeletedError);
  // A name never written can be tombstoned.
  assert.deepEqual(h.delete("never", true), { stream: "never", hard: true });
  assert.ok(h.append("never", [ev("z")]) instanceof StreamDeletedError);
});

Deno.test("EventStoreStateMachine delete checks the expected revision", () => {
  const h = new Harness();
  ok(h.append("s", [ev("a")]));
  const r = h.delete("s", false, 5);
  assert.ok(r instanceof WrongExpectedRevisionError);
  assert.equal(r.message, "Cannot delete stream s: expected revision 5, stream is at 0");
  assert.deepEqual(h.delete("s", false, 0), { stream: "s", hard: false });
});

Deno.test("EventStoreStateMachine maxCount hides old events at once and they never come back", () => {
  const h = new Harness();
  for (let i = 0; i < 5; i++) ok(h.append("s", [ev(`e${i}`)]));
  assert.deepEqual(h.setMetadata("s", { maxCount: 2 }), { stream: "s", metadata: { maxCount: 2 } });
  assert.deepEqual(ids(h, "s"), ["e3", "e4"]);
  ok(h.append("s", [ev("e5")]));
  assert.deepEqual(ids(h, "s"), ["e4", "e5"]);
  h.setMetadata("s", { maxCount: 100 });
  assert.deepEqual(ids(h, "s"), ["e4", "e5"]);
  assert.deepEqual(h.sm.getMetadata("s"), { maxCount: 100 });
  assert.throws(() => h.sm.readEvent("s", 0), EventNotFoundError);
  // Removed events' ids are no longer taken.
  assert.equal(ok(h.append("s", [ev("e0")])).firstRevision, 6);
});

Deno.test("EventStoreStateMachine truncateBefore hides revisions below it", () => {
  const h = new Harness();
  for (let i = 0; i < 4; i++) ok(h.append("s", [ev(`e${i}`)]));
  h.setMetadata("s", { truncateBefore: 3 });
  assert.deepEqual(ids(h, "s"), ["e3"]);
  assert.deepEqual(h.sm.readAll().events.map((e) => e.id), ["e3"]);
});

Deno.test("EventStoreStateMachine maxAge hides events older than the wall clock allows", () => {
  const h = new Harness();
  h.time = 1_000_000;
  ok(h.append("s", [ev("old")]));
  h.time = 1_050_000;
  ok(h.append("s", [ev("new")]));
  h.now = 1_055_000;
  h.setMetadata("s", { maxAge: 10 });
  assert.deepEqual(ids(h, "s"), ["new"]);
  h.now = 1_070_000;
  assert.throws(() => h.sm.readStream("x"), StreamNotFoundError);
  assert.deepEqual(ids(h, "s"), []);
  assert.deepEqual(h.sm.readAll().events, []);
});

Deno.test("EventStoreStateMachine.readStream() pages forward and backward with next", () => {
  const h = new Harness();
  for (let i = 0; i < 5; i++) ok(h.append("s", [ev(`e${i}`)]));
  const p1 = h.sm.readStream("s", { limit: 2 });
  assert.deepEqual(p1.events.map((e) => e.revision), [0, 1]);
  assert.equal(p1.next, 2);
  const p3 = h.sm.readStream("s", { from: 4, limit: 2 });
  assert.deepEqual(p3.events.map((e) => e.revision), [4]);
  assert.equal(p3.next, null);
  const b = h.sm.readStream("s", { direction: "backward", limit: 2 });
  assert.deepEqual(b.events.map((e) => e.revision), [4, 3]);
  assert.equal(b.next, 2);
  const b2 = h.sm.readStream("s", { direction: "backward", from: 1, limit: 5 });
  assert.deepEqual(b2.events.map((e) => e.revision), [1, 0]);
  assert.equal(b2.next, null);
  assert.deepEqual(h.sm.readStream("s", { from: 99 }).events, []);
  assert.throws(() => h.sm.readStream("s", { limit: 0 }), RangeError);
  assert.throws(() => h.sm.readStream("s", { from: -1 }), RangeError);
});

Deno.test("EventStoreStateMachine.readAll() filters by type and prefix, both directions", () => {
  const h = new Harness();
  ok(h.append("orders-1", [ev("1", "Placed"), ev("2", "Paid")]));
  ok(h.append("users-1", [ev("3", "Placed")]));
  ok(h.append("orders-2", [ev("4", "Placed")]));
  const byType = h.sm.readAll({ type: "Placed" }).events.map((e) => e.id);
  assert.deepEqual(byType, ["1", "3", "4"]);
  assert.deepEqual(h.sm.readAll({ prefix: "orders-" }).events.map((e) => e.id), ["1", "2", "4"]);
  assert.deepEqual(
    h.sm.readAll({ prefix: "orders-", type: ["Placed"], direction: "backward" }).events.map((e) =>
      e.id
    ),
    ["4", "1"],
  );
  assert.deepEqual(h.sm.readAll({ type: "Unknown" }), { events: [], next: null });
  const page = h.sm.readAll({ from: 1, limit: 2 });
  assert.deepEqual(page.events.map((e) => e.position), [1, 2]);
  assert.equal(page.next, 3);
});

Deno.test("EventStoreStateMachine reads decode bodies from the log with timestamps", () => {
  const h = new Harness();
  ok(h.append("s", [{ id: "a", type: "T", data: { n: 1 }, metadata: { m: true } }], "any", 777));
  const e = toRecordedEvent(h.sm.readEvent("s", 0));
  assert.deepEqual(e, {
    id: "a",
    stream: "s",
    type: "T",
    data: { n: 1 },
    metadata: { m: true },
    revision: 0,
    position: 0,
    timestamp: 777,
  });
});

Deno.test("EventStoreStateMachine.snapshot() and restore() keep streams, ids and numbering", () => {
  const h = new Harness();
  ok(h.append("s", [ev("a"), ev("b")]));
  ok(h.append("t", [ev("c")]));
  h.delete("t");
  h.setMetadata("s", { maxCount: 5, custom: { owner: "me" } });
  ok(h.append("u", [ev("d")]));
  h.delete("u", true);
  const snap = h.sm.snapshot();
  const fresh = new EventStoreStateMachine({ storage: h.storage });
  fresh.restore(snap);
  assert.equal(fresh.appliedIndex, h.sm.appliedIndex);
  assert.deepEqual(fresh.readStream("s").events.map((e) => e.id), ["a", "b"]);
  assert.throws(() => fresh.readStream("t"), StreamNotFoundError);
  assert.throws(() => fresh.readStream("u"), StreamDeletedError);
  assert.deepEqual(fresh.getMetadata("s"), { maxCount: 5, custom: { owner: "me" } });
  h.sm = fresh;
  assert.equal(ok(h.append("s", [ev("a"), ev("b")])).replayed, true);
  assert.deepEqual(ok(h.append("s", [ev("e")], 1)), {
    stream: "s",
    firstRevision: 2,
    lastRevision: 2,
    position: 4,
    replayed: false,
  });
  assert.equal(ok(h.append("t", [ev("f")], "no_stream")).firstRevision, 1);
});

Deno.test("EventStoreStateMachine.restore() rejects data that is not its snapshot", () => {
  const sm = new EventStoreStateMachine({ storage: MemoryStorage.withVoters(["n1"]) });
  assert.throws(() => sm.restore(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), RangeError);
});

Deno.test("EventStoreStateMachine.retainFrom() keeps a never-compacted log whole while events are kept", () => {
  const h = new Harness();
  for (let i = 0; i < 20; i++) ok(h.append(`s${i % 3}`, [ev(`e${i}`)]));
  assert.equal(h.sm.retainFrom(), 1);
  // Nothing retained is needed for a small snapshot without an archive.
  const small = h.sm.snapshot();
  const archived = new MemoryArchive();
  const other = new EventStoreStateMachine({ storage: h.storage, archive: archived });
  other.restore(small);
  assert.equal(archived.size, 0);
});

Deno.test("EventStoreStateMachine.retainFrom() lets retention reclaim the log once most of it is dead", () => {
  const h = new Harness();
  for (let i = 0; i < 100; i++) ok(h.append("s", [ev(`e${i}`)]));
  h.setMetadata("s", { maxCount: 10 });
  // Revision 90 is at log index 91: entries 1..90 may go.
  assert.equal(h.sm.retainFrom(), 91);
  h.delete("s");
  assert.equal(h.sm.retainFrom(), h.sm.appliedIndex + 1);
});

Deno.test("EventStoreStateMachine snapshot archive lets a follower that installed it read old events", async () => {
  const h = new Harness();
  for (let i = 0; i < 100; i++) ok(h.append("s", [ev(`e${i}`, "T", { i })]));
  h.setMetadata("s", { maxCount: 10 });
  ok(h.append("t", [ev("t0")]));
  const retain = h.sm.retainFrom();
  await h.storage.compact(retain - 1);
  const snapData = h.sm.snapshot();
  const snap = await h.storage.createSnapshot(
    h.index,
    h.storage.initialState().confState,
    snapData,
  );

  // A follower: its log is replaced by the snapshot (InstallSnapshot), then the state machine restores.
  const followerStorage = MemoryStorage.withVoters(["n1"]);
  followerStorage.applySnapshot(snap);
  const archive = new MemoryArchive();
  const follower = new EventStoreStateMachine({ storage: followerStorage, archive });
  follower.restore(snap.data);
  assert.equal(archive.size, 11);
  const events = follower.readStream("s", { limit: 100 }).events.map((e) => toRecordedEvent(e));
  assert.deepEqual(events.map((e) => e.id), Array.from({ length: 10 }, (_, i) => `e${90 + i}`));
  assert.deepEqual(events[0]!.data, { i: 90 });
  assert.equal(follower.readEvent("t", 0).id, "t0");
  // A restart of that follower from its own snapshot keeps reading from the archive.
  const again = new EventStoreStateMachine({ storage: followerStorage, archive });
  again.restore(follower.snapshot());
  assert.equal(again.readStream("s").events.length, 10);
});

Deno.test("EventStoreStateMachine.apply() runs keyed and unkeyed projections; restore replays after the checkpoint", () => {
  const count: ProjectionDefinition<number> = {
    name: "count",
    init: 0,
    apply: (n) => n + 1,
    snapshotEvery: 3,
  };
  const sums: ProjectionDefinition<number> = {
    name: "sums",
    init: 0,
    key: (e) => e.stream,
    apply: (s, e) => s + (e.data as { n: number }).n,
    snapshotEvery: 4,
  };
  const h = new Harness({ projections: [count, sums] });
  for (let i = 0; i < 10; i++) ok(h.append(`acc-${i % 2}`, [ev(`e${i}`, "Dep", { n: i })]));
  assert.equal(h.sm.projection("count").state(""), 10);
  assert.equal(h.sm.projection("sums").state("acc-0"), 0 + 2 + 4 + 6 + 8);
  assert.equal(h.sm.projection("sums").state("acc-1"), 1 + 3 + 5 + 7 + 9);
  assert.equal(h.sm.projection("sums").state("nope"), undefined);
  const snap = h.sm.snapshot();
  const fresh = new EventStoreStateMachine({ storage: h.storage, projections: [count, sums] });
  fresh.restore(snap);
  assert.equal(fresh.projection("count").state(""), 10);
  assert.equal(fresh.projection("sums").state("acc-1"), 25);
  assert.equal(fresh.projection("sums").position, 9);
  // Defined later, on a running state machine: catches up from the log.
  const late = new EventStoreStateMachine({ storage: h.storage });
  late.restore(snap);
  late.defineProjection(count);
  assert.equal(late.projection("count").state(""), 10);
});

Deno.test("EventStoreStateMachine stops a projection whose reducer throws and keeps the rest going", () => {
  const h = new Harness({
    projections: [{
      name: "fragile",
      init: 0,
      apply: (n: number, e) => {
        if (e.type === "Bad") throw new Error("boom");
        return n + 1;
      },
    }],
  });
  ok(h.append("s", [ev("a")]));
  ok(h.append("s", [ev("b", "Bad")]));
  ok(h.append("s", [ev("c")]));
  const p = h.sm.projection("fragile");
  assert.equal(p.state(""), 1);
  assert.match(p.error, /position 1: boom/);
  assert.equal(h.sm.lastPosition, 2);
});

Deno.test("EventStoreStateMachine reads events whose entries came through the envelope of another proposer", () => {
  const storage = MemoryStorage.withVoters(["n1"]);
  const sm = new EventStoreStateMachine({ storage });
  const payload = encodeAppend("s", [prepareEvent(ev("a", "T", 5))]);
  storage.append([{
    term: 2,
    index: 1,
    type: "normal",
    data: encodeEnvelope({ id: "n9:x:1", timestamp: 42, payload }),
  }]);
  sm.apply([{ index: 1, term: 2, id: "n9:x:1", timestamp: 42, payload }]);
  const e = sm.readEvent("s", 0);
  assert.equal(e.timestamp, 42);
  assert.equal(toRecordedEvent(e).data, 5);
});

/**
 * Appends the same batches `from` to `to` (100 events of about 60 bytes each, over 300
 * streams) to every harness: a few thousand batches make a state large enough for spares.
 */
function feedFilled(harnesses: Harness[], from: number, to: number): void {
  const payload = { note: "x".repeat(40) };
  for (let i = from; i < to; i++) {
    const events = Array.from({ length: 100 }, (_, k) => ({
      type: "Filled",
      data: payload,
      id: `e-${i}-${k}`,
    }));
    for (const h of harnesses) h.append(`s-${i % 300}`, events);
  }
}

/**
 * Two machines fed the same 1,500 appends, `b` after an (empty) restore so it
 * prepares no spare buffer, and `a`'s first snapshot, large enough for a spare.
 */
function largeTwins() {
  const a = new Harness(), b = new Harness();
  b.sm.restore(new Uint8Array(0));
  const feed = (from: number, to: number) => feedFilled([a, b], from, to);
  feed(0, 1500);
  const first = a.sm.snapshot();
  assert.ok(first.length >= 4 << 20, `a state large enough for a spare (${first.length} bytes)`);
  return { a, b, feed, first };
}

Deno.test("EventStoreStateMachine snapshots of a large state written into the prepared spare buffer are the same bytes, and stay intact", () => {
  // Two machines fed the same commands: `a` snapshots along the way (so it prepares a spare
  // buffer for the next snapshot), `b` only to compare. `b` starts from an (empty) snapshot,
  // after which a node prepares no spare before its next snapshot: its first is from fresh memory.
  const { a, b, feed, first } = largeTwins();
  const fresh = b.sm.snapshot();
  assert.ok(sameBytes(first, fresh), "same bytes from the spare prepared for a first snapshot");
  assert.notEqual(
    first.buffer.byteLength,
    fresh.buffer.byteLength,
    "a state that grew large prepared a spare before its first snapshot",
  );
  const firstCopy = first.slice();
  feed(1500, 1600);
  const fromSpare = a.sm.snapshot();
  assert.notEqual(fromSpare.buffer, first.buffer, "the spare is a buffer of its own");
  assert.equal(
    fromSpare.buffer.byteLength,
    Math.ceil(first.length * 1.25),
    "written into the spare (made 1.25 times the last snapshot's size)",
  );
  assert.ok(sameBytes(fromSpare, b.sm.snapshot()), "same bytes as from fresh memory");
  const fromSpareCopy = fromSpare.slice();
  // The state outgrows its spare: a snapshot from fresh memory, and a bigger spare next time.
  feed(1600, 2200);
  const outgrown = a.sm.snapshot();
  assert.ok(sameBytes(outgrown, b.sm.snapshot()), "same bytes when the spare was outgrown");
  feed(2200, 2250);
  assert.equal(a.sm.snapshot().buffer.byteLength, Math.ceil(outgrown.length * 1.5));
  assert.ok(sameBytes(first, firstCopy), "an earlier snapshot is never written over");
  assert.ok(sameBytes(fromSpare, fromSpareCopy), "nor one written into a spare");
  const restored = new Harness({ storage: a.storage });
  restored.sm.restore(fromSpare);
  assert.equal(restored.sm.snapshot().length, fromSpare.length);
  for (const stream of ["s-0", "s-7", "s-299"]) {
    const want = ids(b, stream).filter((id) => Number(id.split("-")[1]) < 1600);
    assert.deepEqual(ids(restored, stream), want, `${stream} restored`);
  }
  // A restored state (its memory all just touched) waits for its first snapshot.
  const again = new Harness({ storage: a.storage });
  again.sm.restore(fromSpare);
  const big = Array.from(
    { length: 100 },
    () => ({ type: "Filled", data: { note: "x".repeat(40) } }),
  );
  for (let i = 0; i < 100; i++) again.append("after-restore", big);
  const cold = again.sm.snapshot();
  assert.notEqual(cold.buffer.byteLength, Math.ceil(fromSpare.length * 1.25));
  for (let i = 0; i < 100; i++) again.append("after-restore", big);
  assert.equal(again.sm.snapshot().buffer.byteLength, Math.ceil(cold.length * 1.25));
});

Deno.test("EventStoreStateMachine writes its next snapshot into a released snapshot's buffer, and only then", () => {
  const { a, b, feed, first } = largeTwins();
  a.sm.snapshotReleased(new Uint8Array(first.length)); // not one of its buffers: ignored
  a.sm.snapshotReleased(first);
  feed(1500, 1550);
  const second = a.sm.snapshot();
  assert.equal(second.buffer, first.buffer, "written into the released buffer");
  assert.ok(sameBytes(second, b.sm.snapshot()), "the same bytes as from fresh memory");
  // Not released: the next one goes elsewhere, and the unreleased one stays intact.
  const secondCopy = second.slice();
  feed(1550, 1600);
  const third = a.sm.snapshot();
  assert.notEqual(third.buffer, second.buffer);
  assert.ok(sameBytes(second, secondCopy));
  assert.ok(sameBytes(third, b.sm.snapshot()));
  // A release that comes after a restore is of a state that is gone: ignored.
  a.sm.restore(third);
  a.sm.snapshotReleased(third);
  feed(1600, 1650);
  const fourth = a.sm.snapshot();
  assert.notEqual(fourth.buffer, third.buffer);
  // (A restored id table is laid out anew, so only the size compares.)
  assert.equal(fourth.length, b.sm.snapshot().length);
  assert.deepEqual(ids(a, "s-7"), ids(b, "s-7"));
});

Deno.test("EventStoreStateMachine with spareSnapshotBuffers off snapshots a large state from fresh memory", () => {
  // `off` snapshots from the start; `fresh1` and `fresh2` start from an (empty) snapshot, so
  // each one's first snapshot is written into fresh memory sized by the same estimate.
  const off = new Harness({ spareSnapshotBuffers: false });
  const fresh1 = new Harness(), fresh2 = new Harness();
  fresh1.sm.restore(new Uint8Array(0));
  fresh2.sm.restore(new Uint8Array(0));
  const feed = (from: number, to: number) => feedFilled([off, fresh1, fresh2], from, to);
  off.sm.snapshot();
  feed(0, 1500);
  const first = off.sm.snapshot();
  assert.ok(first.length >= 4 << 20, `a large state (${first.length} bytes)`);
  const want1 = fresh1.sm.snapshot();
  assert.ok(sameBytes(first, want1));
  assert.equal(first.buffer.byteLength, want1.buffer.byteLength, "no spare for the first");
  feed(1500, 1900);
  const second = off.sm.snapshot();
  const want2 = fresh2.sm.snapshot();
  assert.ok(sameBytes(second, want2));
  assert.equal(second.buffer.byteLength, want2.buffer.byteLength, "nor after a large one");
});

/** Byte equality without assert's diff (slow for megabytes). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test("EventStoreStateMachine timestamps never decrease, so a clock ahead cannot age later events", () => {
  const h = new Harness();
  const t0 = 1_700_000_000_000;
  h.now = t0;
  h.setMetadata("s", { maxAge: 3600 });
  ok(h.append("s", [ev("e1")], "any", t0));
  // A leader whose clock is two hours ahead, then one with the right time.
  ok(h.append("other", [ev("o1")], "any", t0 + 2 * 3600_000));
  ok(h.append("s", [ev("e2"), ev("e3")], "any", t0 + 1000));
  const all = h.sm.readAll().events;
  assert.deepEqual(all.map((e) => e.timestamp), [
    t0 + 2 * 3600_000,
    t0 + 2 * 3600_000,
    t0 + 2 * 3600_000,
  ]);
  // By log time e1 is two hours old and gone; e2 and e3 are not, on every node alike.
  h.now = t0 + 2000;
  assert.deepEqual(ids(h, "s"), ["e2", "e3"]);
});
