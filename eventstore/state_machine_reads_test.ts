import assert from "node:assert/strict";
import type { ConfState, Entry } from "../raft/core/types.ts";
import { decodeEnvelope, encodeEnvelope } from "../raft/envelope.ts";
import { FileStorage } from "../raft/storage/file_storage.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import type { WritableStorage } from "../raft/storage/writable_storage.ts";
import { encodeAppend, encodeDelete, encodeSetMetadata, prepareEvent } from "./commands.ts";
import { EventStoreStateMachine, type RawEvent } from "./state_machine.ts";
import type { ReadAllOptions, ReadStreamOptions } from "./types.ts";

const CONF: ConfState = {
  voters: ["n1"],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};
const dec = new TextDecoder();

/** A small seeded PRNG (mulberry32), so a failure replays exactly. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

interface Written {
  readonly id: string;
  readonly stream: string;
  readonly type: string;
  readonly data: string;
  readonly metadata: string;
  readonly timestamp: number;
}

/**
 * A log of appends (1-40 events of 0-600 bytes each, to 6 streams, in
 * entries with proposal ids of varying length), plus a maxCount on one
 * stream and a soft delete of another. Returns the entries and, by
 * position, what each appended event holds.
 */
function workload(seed: number): { entries: Entry[]; byPosition: Written[] } {
  const rnd = prng(seed);
  const entries: Entry[] = [];
  const byPosition: Written[] = [];
  const push = (payload: Uint8Array) => {
    const index = entries.length + 1;
    const id = "n1:".padEnd(3 + rnd(30), "x");
    const timestamp = 1_000 + index;
    const data = encodeEnvelope({ id, timestamp, payload });
    entries.push({ index, term: 1, type: "normal", data });
    return timestamp;
  };
  for (let c = 0; c < 120; c++) {
    if (c === 40) push(encodeSetMetadata("s-2", { maxCount: 15 }));
    if (c === 90) push(encodeDelete("s-4"));
    const stream = `s-${rnd(6)}`;
    const n = 1 + rnd(40);
    const events = [];
    for (let k = 0; k < n; k++) {
      const id = `e${c}-${k}`;
      const type = k % 3 === 0 ? "Opened" : "Changed";
      const data = { k, pad: "y".repeat(rnd(600)) };
      const metadata = rnd(2) === 0 ? { by: "z".repeat(rnd(40)) } : undefined;
      events.push(prepareEvent({ id, type, data, ...(metadata ? { metadata } : {}) }, k));
      byPosition.push({
        id,
        stream,
        type,
        data: JSON.stringify(data),
        metadata: metadata === undefined ? "" : JSON.stringify(metadata),
        timestamp: 0,
      });
    }
    const ts = push(encodeAppend(stream, events));
    for (let k = byPosition.length - n; k < byPosition.length; k++) {
      byPosition[k] = { ...byPosition[k]!, timestamp: ts };
    }
  }
  return { entries, byPosition };
}

function applyAll(sm: EventStoreStateMachine, entries: readonly Entry[]): void {
  for (const e of entries) {
    const env = decodeEnvelope(e.data);
    sm.apply([{
      index: e.index,
      term: 1,
      id: env.id,
      timestamp: env.timestamp,
      payload: env.payload,
    }]);
  }
}

function checkEvent(e: RawEvent, w: Written[]): void {
  const x = w[e.position]!;
  assert.equal(e.id, x.id, `id at ${e.position}`);
  assert.equal(e.stream, x.stream);
  assert.equal(e.type, x.type);
  assert.equal(e.timestamp, x.timestamp);
  assert.equal(dec.decode(e.data), x.data, `data at ${e.position}`);
  assert.equal(dec.decode(e.metadata), x.metadata, `metadata at ${e.position}`);
}

const key = (e: RawEvent) => `${e.stream}/${e.revision}@${e.position}`;

/** Every read of `sm` returns what `ref` returns, with the bodies the log holds. */
function compareReads(sm: EventStoreStateMachine, ref: EventStoreStateMachine, w: Written[]) {
  for (let s = 0; s < 6; s++) {
    const name = `s-${s}`;
    const info = ref.streamInfo(name);
    if (info === undefined || !info.exists) continue;
    for (const direction of ["forward", "backward"] as const) {
      const cases: [number | undefined, number][] = [
        [undefined, 1000],
        [0, 1],
        [3, 7],
        [info.lastRevision, 20],
      ];
      for (const [from, limit] of cases) {
        const opts: ReadStreamOptions = {
          direction,
          limit,
          ...(from === undefined ? {} : { from }),
        };
        const got = sm.readStream(name, opts);
        const want = ref.readStream(name, opts);
        assert.deepEqual(
          got.events.map(key),
          want.events.map(key),
          `${name} ${JSON.stringify(opts)}`,
        );
        assert.equal(got.next, want.next);
        for (const e of got.events) checkEvent(e, w);
      }
    }
    for (let r = 0; r <= info.lastRevision; r++) {
      let want: RawEvent | undefined;
      try {
        want = ref.readEvent(name, r);
      } catch {
        assert.throws(() => sm.readEvent(name, r));
        continue;
      }
      const got = sm.readEvent(name, r);
      assert.equal(key(got), key(want));
      checkEvent(got, w);
    }
  }
  for (const direction of ["forward", "backward"] as const) {
    for (
      const opts of [{ limit: 1000 }, { limit: 7 }, { limit: 1 }, { type: "Opened", limit: 50 }, {
        prefix: "s-1",
        limit: 30,
      }]
    ) {
      let from: number | undefined = undefined;
      for (let page = 0; page < 4; page++) {
        const o: ReadAllOptions = { ...opts, direction, ...(from === undefined ? {} : { from }) };
        const got = sm.readAll(o);
        const want = ref.readAll(o);
        assert.deepEqual(got.events.map(key), want.events.map(key), JSON.stringify(o));
        for (const e of got.events) checkEvent(e, w);
        if (want.next === null) break;
        from = want.next;
      }
    }
  }
  for (let p = 0; p <= ref.lastPosition; p++) {
    if (ref.positionInfo(p)!.alive) checkEvent(sm.eventAt(p), w);
  }
}

async function save(storage: WritableStorage, entries: readonly Entry[]): Promise<void> {
  for (let i = 0; i < entries.length; i += 7) {
    const batch = entries.slice(i, i + 7);
    await storage.save({
      entries: batch,
      hardState: { term: 1, vote: "n1", commit: batch[batch.length - 1]!.index },
    });
  }
}

Deno.test("EventStoreStateMachine reads events from FileStorage by byte range, uncached, before and after a restart", async () => {
  for (const seed of [1, 2, 3]) {
    const { entries, byPosition } = workload(seed);
    const dir = await Deno.makeTempDir({ prefix: "raftlog-sm-reads-" });
    try {
      const mem = MemoryStorage.withVoters(["n1"]);
      mem.append(entries);
      const ref = new EventStoreStateMachine({ storage: mem });
      applyAll(ref, entries);
      const file = await FileStorage.open(dir, { bootstrap: CONF, cacheBytes: 0 });
      try {
        await save(file, entries);
        const sm = new EventStoreStateMachine({ storage: file, cache: { cacheEntries: 0 } });
        applyAll(sm, entries);
        compareReads(sm, ref, byPosition);
        const cached = new EventStoreStateMachine({ storage: file });
        applyAll(cached, entries);
        compareReads(cached, ref, byPosition);
      } finally {
        await file.close();
      }
      // A restarted node restores the snapshot and reads everything from the files.
      const reopened = await FileStorage.open(dir, { cacheBytes: 0 });
      try {
        const sm = new EventStoreStateMachine({ storage: reopened, cache: { cacheEntries: 0 } });
        sm.restore(ref.snapshot());
        compareReads(sm, ref, byPosition);
      } finally {
        await reopened.close();
      }
    } catch (err) {
      throw new Error(`seed ${seed}: ${err instanceof Error ? err.message : err}`, { cause: err });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("EventStoreStateMachine reads on MemoryStorage without the command cache match the cached reads", () => {
  const { entries, byPosition } = workload(7);
  const mem = MemoryStorage.withVoters(["n1"]);
  mem.append(entries);
  const ref = new EventStoreStateMachine({ storage: mem });
  applyAll(ref, entries);
  const sm = new EventStoreStateMachine({ storage: mem, cache: { cacheEntries: 0 } });
  applyAll(sm, entries);
  compareReads(sm, ref, byPosition);
});
