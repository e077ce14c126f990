/**
 * The leader lease for lease-based reads (Raft thesis §6.4.1). A heartbeat
 * round sent at tick T and acknowledged by a quorum proves that no other
 * leader can be elected before T + electionTimeout on the followers' clocks:
 * each of them reset its election timer after T and ignores votes while it
 * hears from a leader (§4.2.3). The lease therefore runs from the round's
 * SEND tick, for the election timeout minus a bound on clock drift.
 *
 * @module
 */

import type { NodeId } from "./types.ts";

/** Read contexts starting with this prefix are reserved for lease rounds. */
export const LEASE_CONTEXT_PREFIX = "~lease:";

/**
 * Lease bookkeeping of one leader term.
 *
 * @example
 * ```ts
 * import { LeaderLease } from "./lease.ts";
 * const lease = new LeaderLease();
 * const ctx = lease.startRound(5, "n1");
 * lease.ack(ctx, "n2", (acks) => acks.size >= 2);
 * if (!(lease.holds(10, 8) && !lease.holds(13, 8))) throw new Error("unexpected result");
 * ```
 */
export class LeaderLease {
  #rounds = new Map<string, { tick: number; acks: Set<NodeId> }>();
  /** Send tick of the newest round a quorum acknowledged. */
  #validFrom = -Infinity;

  /** Starts a round at `tick`; `self` acks at once. Returns the heartbeat context. */
  startRound(tick: number, self: NodeId): string {
    const ctx = `${LEASE_CONTEXT_PREFIX}${tick}`;
    if (!this.#rounds.has(ctx)) this.#rounds.set(ctx, { tick, acks: new Set([self]) });
    // Rounds older than a few heartbeats will not extend anything; drop them to bound memory.
    if (this.#rounds.size > 64) {
      const oldest = this.#rounds.keys().next().value;
      if (oldest !== undefined) this.#rounds.delete(oldest);
    }
    return ctx;
  }

  /** Records `id`'s ack of round `ctx`; extends the lease once a quorum acked. */
  ack(ctx: string, id: NodeId, isQuorum: (acks: ReadonlySet<NodeId>) => boolean): void {
    const round = this.#rounds.get(ctx);
    if (round === undefined) return;
    round.acks.add(id);
    if (!isQuorum(round.acks)) return;
    this.#validFrom = Math.max(this.#validFrom, round.tick);
    for (const [k, r] of this.#rounds) if (r.tick <= round.tick) this.#rounds.delete(k);
  }

  /** True while `now - validFrom < duration`. */
  holds(now: number, duration: number): boolean {
    return now - this.#validFrom < duration;
  }
}
