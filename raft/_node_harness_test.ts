/**
 * Pieces for node-level tests: a storage whose writes can be held back or
 * given work to do while they are in flight, a transport that records what
 * is sent, and a way to let pending callbacks run.
 *
 * @module
 */
import type { InitialState } from "./core/storage.ts";
import { type ConfChangeSingle, encodeConfChange } from "./core/confchange.ts";
import type { ConfState, Entry, Message, Snapshot } from "./core/types.ts";
import assert from "node:assert/strict";
import { type NodeOptions, RaftNode } from "./node.ts";
import type { Clock } from "./clock.ts";
import { MemoryStorage } from "./storage/memory_storage.ts";
import type { SaveOptions, StorageUpdate, WritableStorage } from "./storage/writable_storage.ts";

/** A MemoryStorage whose saves wait while blocked, and may run `onSave` first. */
export class GatedStorage implements WritableStorage {
  readonly inner: MemoryStorage;
  #gate: Promise<void> | undefined;
  #release: (() => void) | undefined;
  /** Saves waiting for {@link GatedStorage.release}. */
  waiting = 0;
  /** Runs at each save before it completes (requests that arrive during a slow write). */
  onSave: (() => Promise<void> | void) | undefined;
  constructor(inner: MemoryStorage) {
    this.inner = inner;
  }
  /** Holds the next saves until {@link GatedStorage.release}. */
  block(): void {
    this.#gate = new Promise((r) => (this.#release = r));
  }
  release(): void {
    const r = this.#release;
    this.#gate = undefined;
    this.#release = undefined;
    r?.();
  }
  initialState(): InitialState {
    return this.inner.initialState();
  }
  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    return this.inner.entries(lo, hi, maxBytes);
  }
  term(i: number): number {
    return this.inner.term(i);
  }
  firstIndex(): number {
    return this.inner.firstIndex();
  }
  lastIndex(): number {
    return this.inner.lastIndex();
  }
  snapshot(): Snapshot {
    return this.inner.snapshot();
  }
  async save(u: StorageUpdate, o?: SaveOptions): Promise<void> {
    if (this.onSave !== undefined) await this.onSave();
    if (this.#gate !== undefined) {
      this.waiting++;
      await this.#gate;
      this.waiting--;
    }
    return this.inner.save(u, o);
  }
  createSnapshot(index: number, cs: ConfState, data: Uint8Array): Promise<Snapshot> {
    return this.inner.createSnapshot(index, cs, data);
  }
  compact(i: number): Promise<void> {
    return this.inner.compact(i);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A transport that keeps what it is given. */
export class RecordingTransport {
  sent: Message[] = [];
  send(ms: readonly Message[]): void {
    this.sent.push(...ms);
  }
  take(): Message[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
}

/** Lets pending promise callbacks and zero-delay timers run, `n` rounds. */
export async function settle(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setTimeout(r, 0));
}

/** A state machine that stores nothing. */
export const nullMachine = {
  apply: (c: readonly unknown[]) => c.map(() => null),
  snapshot: () => new Uint8Array(),
  restore: () => {},
};

/** Makes n1 leader: it campaigns and n2 grants its (pre-)votes, read from `t`. */
export async function winElection(node: RaftNode, t: RecordingTransport): Promise<void> {
  node.campaign();
  await settle();
  for (let round = 0; round < 2 && node.role !== "leader"; round++) {
    const req = t.take().find((m) => (m.type === "preVote" || m.type === "vote") && m.to === "n2");
    assert.ok(req !== undefined && (req.type === "vote" || req.type === "preVote"));
    node.step({
      type: req.type === "vote" ? "voteResp" : "preVoteResp",
      from: "n2",
      to: "n1",
      term: req.term,
      reject: false,
    });
    await settle();
  }
  assert.equal(node.role, "leader");
}

/**
 * Starts a node for a test: voters n1..n3 in memory unless `storage` says
 * otherwise, 10 ms ticks on `clock`, no snapshots, a state machine that
 * stores nothing.
 */
export function startTestNode(o: {
  id: string;
  clock: Clock;
  transport?: NodeOptions<unknown>["transport"];
  storage?: NodeOptions<unknown>["storage"];
  raft?: NodeOptions<unknown>["raft"];
}): Promise<RaftNode<unknown>> {
  return RaftNode.start<unknown>({
    id: o.id,
    storage: o.storage ?? MemoryStorage.withVoters(["n1", "n2", "n3"]),
    transport: o.transport ?? { send() {} },
    clock: o.clock,
    tickMs: 10,
    snapshotEvery: 0,
    stateMachine: nullMachine,
    ...(o.raft !== undefined ? { raft: o.raft } : {}),
  });
}

/**
 * An append from leader n1 to n2 in term 2, after the bootstrap log (entries
 * 1..3 of term 1) unless `index`/`logTerm` say otherwise.
 */
export function appendFromN1(
  o: { entries?: Entry[]; commit: number; index?: number; logTerm?: number; term?: number },
): Message {
  return {
    type: "app",
    from: "n1",
    to: "n2",
    term: o.term ?? 2,
    index: o.index ?? 3,
    logTerm: o.logTerm ?? 1,
    entries: o.entries ?? [],
    commit: o.commit,
  };
}

/** An append from leader n1 (term 2) of a membership change at index 4, committed. */
export function confChangeFromN1(change: ConfChangeSingle): Message {
  return appendFromN1({
    commit: 4,
    entries: [{
      term: 2,
      index: 4,
      type: "confChange",
      data: encodeConfChange({ changes: [change] }),
    }],
  });
}
