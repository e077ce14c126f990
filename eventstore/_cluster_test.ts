/**
 * Test helper: three (or more) real `RaftNode`s running the event store in
 * one process, on a fake clock, over an in-memory network that can drop,
 * delay, reorder and partition messages. Everything random comes from one
 * seed, so a failing run replays from its seed.
 *
 * @module
 */

import type { Clock } from "../raft/clock.ts";
import type { Message, NodeId } from "../raft/core/types.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { SimRandom } from "../raft/testing/prng.ts";
import { MemoryArchive } from "./archive.ts";
import { EventStore } from "./event_store.ts";
import type { ProjectionDefinition } from "./projections.ts";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  every: number;
  live: boolean;
}

/** A clock that moves only when told to. */
export class FakeClock implements Clock {
  #now = 1_700_000_000_000;
  #seq = 0;
  #timers: Timer[] = [];

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): () => void {
    const t: Timer = {
      at: this.#now + Math.max(0, ms),
      seq: this.#seq++,
      fn,
      every: 0,
      live: true,
    };
    this.#timers.push(t);
    return () => void (t.live = false);
  }

  every(ms: number, fn: () => void): () => void {
    const t: Timer = { at: this.#now + ms, seq: this.#seq++, fn, every: ms, live: true };
    this.#timers.push(t);
    return () => void (t.live = false);
  }

  /** Fires every timer due within `ms`, in time order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => t.live);
      let next: Timer | undefined;
      for (const t of this.#timers) {
        if (
          t.at <= target &&
          (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))
        ) {
          next = t;
        }
      }
      if (next === undefined) break;
      this.#now = next.at;
      if (next.every > 0) {
        next.at += next.every;
        next.seq = this.#seq++;
      } else next.live = false;
      next.fn();
    }
    this.#now = target;
  }
}

/** Network faults. */
export interface Faults {
  /** Probability that a message is lost. */
  drop: number;
  /** Largest delivery delay in ms (uniform from 0). */
  maxDelay: number;
}

/** Options of {@link TestCluster.start}. */
export interface ClusterOptions {
  readonly size?: number;
  readonly snapshotEvery?: number;
  readonly snapshotKeep?: number;
  // deno-lint-ignore no-explicit-any
  readonly projections?: readonly ProjectionDefinition<any>[];
}

/** A cluster of event stores on one fake clock and network. */
export class TestCluster {
  readonly clock = new FakeClock();
  readonly rand: SimRandom;
  readonly ids: NodeId[];
  readonly stores = new Map<NodeId, EventStore>();
  faults: Faults = { drop: 0, maxDelay: 0 };
  /** Nodes cut off from every other node. */
  readonly isolated = new Set<NodeId>();

  private constructor(seed: number, ids: NodeId[]) {
    this.rand = new SimRandom(seed);
    this.ids = ids;
  }

  readonly storages = new Map<NodeId, MemoryStorage>();
  readonly archives = new Map<NodeId, MemoryArchive>();
  #options: ClusterOptions = {};

  static async start(seed: number, options: ClusterOptions = {}): Promise<TestCluster> {
    const ids = Array.from({ length: options.size ?? 3 }, (_, i) => `n${i + 1}`);
    const c = new TestCluster(seed, ids);
    c.#options = options;
    for (const id of ids) {
      c.storages.set(id, MemoryStorage.withVoters(ids));
      c.archives.set(id, new MemoryArchive());
      await c.#startNode(id);
    }
    return c;
  }

  async #startNode(id: NodeId): Promise<void> {
    const o = this.#options;
    const store = await EventStore.start({
      id,
      storage: this.storages.get(id)!,
      archive: this.archives.get(id)!,
      transport: { send: (ms) => this.#send(ms) },
      clock: this.clock,
      tickMs: 10,
      requestTimeoutMs: 1500,
      snapshotEvery: o.snapshotEvery ?? 50,
      snapshotKeep: o.snapshotKeep ?? 10,
      ...(o.projections !== undefined ? { projections: o.projections } : {}),
      raft: {
        seed: this.rand.int(2 ** 30) + 1,
        electionTick: 10,
        heartbeatTick: 1,
      },
    });
    this.stores.set(id, store);
  }

  /** Stops a node (it loses nothing: its storage is kept) and starts it again on the same storage. */
  async restart(id: NodeId): Promise<void> {
    await this.store(id).stop();
    await this.#startNode(id);
  }

  #send(messages: readonly Message[]): void {
    for (const m of messages) {
      if (this.isolated.has(m.from) || this.isolated.has(m.to)) continue;
      if (this.faults.drop > 0 && this.rand.chance(this.faults.drop)) continue;
      const delay = this.faults.maxDelay > 0 ? this.rand.int(this.faults.maxDelay + 1) : 0;
      this.clock.after(delay, () => {
        if (this.isolated.has(m.from) || this.isolated.has(m.to)) return;
        this.stores.get(m.to)?.node.step(m);
      });
    }
  }

  store(id: NodeId): EventStore {
    return this.stores.get(id)!;
  }

  /** The node that believes it leads (and is not isolated), if any. */
  leader(): NodeId | undefined {
    return this.ids.find((id) => this.store(id).node.role === "leader" && !this.isolated.has(id));
  }

  /** Advances fake time by `ms` in steps, letting every node's loop run between steps. */
  async run(ms: number, step = 5): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(step);
      await new Promise((r) => setTimeout(r, 0));
    }
  }

  /** Runs until `cond` holds or `ms` of fake time pass; returns whether it held. */
  async runUntil(cond: () => boolean, ms: number, step = 5): Promise<boolean> {
    for (let t = 0; t < ms; t += step) {
      if (cond()) return true;
      this.clock.advance(step);
      await new Promise((r) => setTimeout(r, 0));
    }
    return cond();
  }

  async stop(): Promise<void> {
    for (const s of this.stores.values()) await s.stop();
  }
}
