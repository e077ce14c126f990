/**
 * ReadIndex bookkeeping (Raft thesis §6.4): reads wait for a heartbeat round
 * confirming leadership; one round confirms every read queued before it.
 *
 * @module
 */

import type { NodeId } from "./types.ts";

/** A read waiting for its heartbeat round. */
export interface ReadIndexStatus {
  /** The commit index when the read arrived. */
  readonly index: number;
  readonly context: string;
  /** Who asked: this node (local read) or a follower. */
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

/**
 * Pending read-index requests in arrival order.
 *
 * @example
 * ```ts
 * import { ReadOnly } from "./read_only.ts";
 * const ro = new ReadOnly();
 * ro.addRequest(7, "r1", "n1");
 * ro.recvAck("n2", "r1");
 * if (!(ro.advance("r1").length === 1)) throw new Error("unexpected result");
 * ```
 */
export class ReadOnly {
  #pending = new Map<string, ReadIndexStatus>();
  #queue: string[] = [];

  /** Queues a read at commit index `index`; a duplicate context is ignored. */
  addRequest(index: number, context: string, from: NodeId): void {
    if (this.#pending.has(context)) return;
    this.#pending.set(context, { index, context, from, acks: new Set() });
    this.#queue.push(context);
  }

  /** Records a heartbeat ack for the round of `context`; returns who acked so far. */
  recvAck(id: NodeId, context: string): ReadonlySet<NodeId> | undefined {
    const rs = this.#pending.get(context);
    if (rs === undefined) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Dequeues every read up to and including `context` (its round confirms them all). */
  advance(context: string): ReadIndexStatus[] {
    const i = this.#queue.indexOf(context);
    if (i < 0) return [];
    const done = this.#queue.splice(0, i + 1);
    const out: ReadIndexStatus[] = [];
    for (const ctx of done) {
      const rs = this.#pending.get(ctx);
      if (rs !== undefined) out.push(rs);
      this.#pending.delete(ctx);
    }
    return out;
  }

  /** Context of the newest pending read, or undefined. */
  lastPendingContext(): string | undefined {
    return this.#queue[this.#queue.length - 1];
  }

  /** Number of pending reads. */
  size(): number {
    return this.#queue.length;
  }
}
