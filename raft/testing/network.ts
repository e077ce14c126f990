/**
 * A simulated network between Raft nodes: pure, deterministic and seeded.
 * Messages are delivered after a random delay (which also reorders them), and
 * may be dropped, duplicated, or cut off by a partition.
 *
 * @module
 */

import type { Message, NodeId } from "../core/types.ts";
import type { SimRandom } from "./prng.ts";

/**
 * How unreliable the network is. Probabilities are per message.
 *
 * @example
 * ```ts
 * import type { NetworkFaults } from "./network.ts";
 * const flaky: NetworkFaults = { drop: 0.1, duplicate: 0.05, maxDelay: 5 };
 * ```
 */
export interface NetworkFaults {
  /** Probability that a message is lost. */
  readonly drop: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  readonly duplicate: number;
  /** Messages arrive 1 to `maxDelay` steps after they are sent. At least 1. */
  readonly maxDelay: number;
}

/**
 * A reliable network: nothing lost or duplicated, every message arrives in the next step.
 *
 * @example
 * ```ts
 * import { RELIABLE } from "./network.ts";
 * if (!(RELIABLE.drop === 0 && RELIABLE.maxDelay === 1)) throw new Error("unexpected");
 * ```
 */
export const RELIABLE: NetworkFaults = { drop: 0, duplicate: 0, maxDelay: 1 };

/**
 * Why a message was not delivered.
 *
 * @example
 * ```ts
 * import type { LossReason } from "./network.ts";
 * const r: LossReason = "partition";
 * ```
 */
export type LossReason = "drop" | "partition";

/**
 * What one step of the network yields: messages to deliver (in delivery
 * order) and messages lost on the way.
 *
 * @example
 * ```ts
 * import type { Delivery } from "./network.ts";
 * const d: Delivery = { delivered: [], lost: [] };
 * ```
 */
export interface Delivery {
  /** Messages to deliver, in delivery order. */
  readonly delivered: Message[];
  /** Messages lost on the way, and why. */
  readonly lost: { readonly message: Message; readonly reason: LossReason }[];
}

/**
 * The network. Time is the caller's step counter: {@link SimNetwork.send} at
 * step `s` schedules delivery at a step in `[s + 1, s + maxDelay]`, and
 * {@link SimNetwork.take} at step `t` yields everything due at `t`, shuffled.
 * Reachability is a directed relation: `cut(a, b)` stops messages from `a` to
 * `b` only, so asymmetric partitions are possible. A partition applies when a
 * message would be delivered.
 *
 * @example
 * ```ts
 * import { SimNetwork } from "./network.ts";
 * import { SimRandom } from "./prng.ts";
 * const net = new SimNetwork(new SimRandom(1));
 * net.send({ type: "timeoutNow", from: "n1", to: "n2", term: 1 }, 0);
 * net.cut("n1", "n2");
 * const d = net.take(1);
 * if (!(d.delivered.length === 0 && d.lost[0]?.reason === "partition")) throw new Error("unexpected");
 * ```
 */
export class SimNetwork {
  readonly #rng: SimRandom;
  readonly #queue = new Map<number, Message[]>();
  /** from -> set of nodes it cannot reach. */
  readonly #blocked = new Map<NodeId, Set<NodeId>>();
  #inFlight = 0;
  /** Current fault settings; assign to change them. */
  faults: NetworkFaults;
  /** Called with each message the network delivers twice. */
  onDuplicate: ((m: Message) => void) | undefined;

  /** A network drawing its random choices from `rng`, with `faults` at the start. */
  constructor(rng: SimRandom, faults: NetworkFaults = RELIABLE) {
    this.#rng = rng;
    this.faults = faults;
  }

  /** Queues `m`, sent at step `now`. */
  send(m: Message, now: number): void {
    this.#enqueue(m, now);
    if (this.#rng.chance(this.faults.duplicate)) {
      this.onDuplicate?.(m);
      this.#enqueue(m, now);
    }
  }

  #enqueue(m: Message, now: number): void {
    const at = now + 1 + this.#rng.int(Math.max(1, this.faults.maxDelay));
    let bucket = this.#queue.get(at);
    if (bucket === undefined) {
      bucket = [];
      this.#queue.set(at, bucket);
    }
    bucket.push(m);
    this.#inFlight++;
  }

  /** Removes and returns everything due at step `now` (due earlier too), in random order. */
  take(now: number): Delivery {
    const delivered: Message[] = [];
    const lost: { message: Message; reason: LossReason }[] = [];
    const due: Message[] = [];
    for (const [at, bucket] of this.#queue) {
      if (at > now) continue;
      for (const m of bucket) due.push(m);
      this.#queue.delete(at);
    }
    this.#inFlight -= due.length;
    this.#rng.shuffle(due);
    for (const m of due) {
      if (!this.canReach(m.from, m.to)) lost.push({ message: m, reason: "partition" });
      else if (this.#rng.chance(this.faults.drop)) lost.push({ message: m, reason: "drop" });
      else delivered.push(m);
    }
    return { delivered, lost };
  }

  /**
   * Removes and returns up to `max` messages to `to` due by step `by`, as
   * {@link SimNetwork.take} does (the others stay queued).
   */
  takeFor(to: NodeId, by: number, max: number): Delivery {
    const due: Message[] = [];
    for (const [at, bucket] of this.#queue) {
      if (at > by) continue;
      for (let i = 0; i < bucket.length && due.length < max;) {
        if (bucket[i]!.to === to) due.push(...bucket.splice(i, 1));
        else i++;
      }
      if (bucket.length === 0) this.#queue.delete(at);
    }
    this.#inFlight -= due.length;
    const delivered: Message[] = [];
    const lost: { message: Message; reason: LossReason }[] = [];
    for (const m of due) {
      if (!this.canReach(m.from, m.to)) lost.push({ message: m, reason: "partition" });
      else if (this.#rng.chance(this.faults.drop)) lost.push({ message: m, reason: "drop" });
      else delivered.push(m);
    }
    return { delivered, lost };
  }

  /** Number of messages still on the way. */
  inFlight(): number {
    return this.#inFlight;
  }

  /** True unless messages from `from` to `to` are cut. */
  canReach(from: NodeId, to: NodeId): boolean {
    const b = this.#blocked.get(from);
    return b === undefined || !b.has(to);
  }

  /** Stops messages from `from` to `to` (one direction only). */
  cut(from: NodeId, to: NodeId): void {
    let b = this.#blocked.get(from);
    if (b === undefined) {
      b = new Set();
      this.#blocked.set(from, b);
    }
    b.add(to);
  }

  /** Stops messages between `a` and `b` in both directions. */
  cutBoth(a: NodeId, b: NodeId): void {
    this.cut(a, b);
    this.cut(b, a);
  }

  /** Splits `groups` from each other: only nodes of the same group reach each other. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]!) for (const b of groups[j]!) this.cut(a, b);
      }
    }
  }

  /** Cuts `id` off from every node in `others`, both ways. */
  isolate(id: NodeId, others: readonly NodeId[]): void {
    for (const o of others) if (o !== id) this.cutBoth(id, o);
  }

  /** True if any link is cut. */
  partitioned(): boolean {
    for (const b of this.#blocked.values()) if (b.size > 0) return true;
    return false;
  }

  /** Removes every partition. */
  heal(): void {
    this.#blocked.clear();
  }

  /** A readable list of cut links, e.g. `["n1>n2", "n2>n1"]`. */
  describeCuts(): string[] {
    const out: string[] = [];
    for (const [from, tos] of this.#blocked) for (const to of tos) out.push(`${from}>${to}`);
    return out.sort();
  }
}
