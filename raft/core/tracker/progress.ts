/**
 * What the leader knows of one follower's log (Raft §5.3 `nextIndex` and
 * `matchIndex`) and how it replicates to it.
 *
 * @module
 */

import { Inflights } from "./inflights.ts";

/**
 * - `probe`: one append per heartbeat interval until the match point is found.
 * - `replicate`: appends are pipelined optimistically, bounded by {@link Inflights}.
 * - `snapshot`: a snapshot is in flight; nothing else is sent.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

/**
 * Replication progress of one peer.
 *
 * Invariant: `match < next`.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * const pr = new Progress(11, { maxInflight: 4, maxInflightBytes: 0, isLearner: false });
 * if (!(pr.maybeUpdate(10) && pr.match === 10 && pr.next === 11)) throw new Error("unexpected result");
 * ```
 */
export class Progress {
  /** Highest index known to be replicated on the peer. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = "probe";
  /** Index of the snapshot being sent while in `snapshot` state. */
  pendingSnapshot = 0;
  /** Highest commit index the peer reported having (from its responses). */
  knownCommit = 0;
  /** Heard from within the current election timeout (check-quorum, Raft thesis §6.2). */
  recentActive = false;
  /** In `probe` state: an append was sent and no answer arrived since the last heartbeat. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(
    next: number,
    opts: { maxInflight: number; maxInflightBytes: number; isLearner: boolean },
  ) {
    this.next = next;
    this.inflights = new Inflights(opts.maxInflight, opts.maxInflightBytes);
    this.isLearner = opts.isLearner;
  }

  #resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Back to probing from just after the match point (or after a sent snapshot). */
  becomeProbe(): void {
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.#resetState("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#resetState("probe");
      this.next = this.match + 1;
    }
  }

  /** Start pipelining from just after the match point. */
  becomeReplicate(): void {
    this.#resetState("replicate");
    this.next = this.match + 1;
  }

  /** A snapshot at `snapshotIndex` is being sent. */
  becomeSnapshot(snapshotIndex: number): void {
    this.#resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records that an append with `count` entries and `bytes` bytes was sent. */
  sentEntries(count: number, bytes: number): void {
    if (this.state === "replicate") {
      if (count > 0) {
        this.next += count;
        this.inflights.add(this.next - 1, bytes);
      }
      // A full window pauses the flow until an ack frees it or a heartbeat response
      // allows an empty probe (see isPaused).
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === "probe" && count > 0) {
      this.msgAppFlowPaused = true;
    }
  }

  /** The peer acknowledged `index`. Returns false if the ack is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * The peer rejected an append at `rejected`; its log may match up to
   * `matchHint`. Returns false if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** True when no append should be sent now. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.msgAppFlowPaused;
      case "replicate":
        // Not `inflights.full()`: if every append in the window was lost, only an
        // empty append (sent once a heartbeat response clears the pause) can get
        // an ack or a rejection that frees the window.
        return this.msgAppFlowPaused;
      case "snapshot":
        return true;
    }
  }
}
