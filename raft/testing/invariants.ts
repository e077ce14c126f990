/**
 * Safety invariants of Raft (Raft §5.2–§5.4, Figure 3), checked incrementally
 * as a simulated cluster runs: every persisted write, applied entry, sent
 * message and role change is reported to an {@link InvariantChecker}, which
 * throws an {@link InvariantViolation} as soon as one does not hold.
 *
 * @module
 */

import type { Entry, HardState, Message, NodeId, ReadState, Role } from "../core/types.ts";
import type { MemoryStorage } from "../storage/memory_storage.ts";

/**
 * The invariants the checker knows:
 * - `election-safety`: at most one leader per term, across all history (§5.2).
 * - `log-matching`: two logs holding an entry with the same index and term hold
 *   the same entry and agree on everything before it (§5.3). Checked on
 *   persisted logs, at every write.
 * - `leader-completeness`: an entry committed in a term is in the log of every
 *   leader of a later term (§5.4).
 * - `state-machine-safety`: no two nodes commit or apply different entries at
 *   one index; a snapshot restores exactly the state its index had (§5.4.3).
 * - `monotonic-term`, `monotonic-commit`, `vote-once`: a node's persisted term
 *   and commit never go back, and it never changes its vote within a term,
 *   across restarts.
 * - `commit-durable`: a persisted commit index never exceeds the persisted log.
 * - `applied-le-committed`: a node applies only entries it knows committed.
 * - `read-index-safety`: a read index is at least every commit index any node
 *   had seen when the read was requested (thesis §6.4).
 * - `refused-not-appended`: a forwarded proposal whose refusal came back to
 *   its sender is never applied (the network did not deliver it twice).
 * - `liveness`: after faults heal, a leader is elected and a proposal commits
 *   on every member within a bounded number of ticks.
 * - `core-error`: the core threw (e.g. a `RaftInvariantError`).
 *
 * @example
 * ```ts
 * import type { InvariantName } from "./invariants.ts";
 * const n: InvariantName = "leader-completeness";
 * ```
 */
export type InvariantName =
  | "election-safety"
  | "log-matching"
  | "leader-completeness"
  | "state-machine-safety"
  | "monotonic-term"
  | "monotonic-commit"
  | "vote-once"
  | "commit-durable"
  | "applied-le-committed"
  | "read-index-safety"
  | "refused-not-appended"
  | "liveness"
  | "core-error";

/**
 * A broken invariant: which one, and what was seen.
 *
 * @example
 * ```ts
 * import { InvariantViolation } from "./invariants.ts";
 * const v = new InvariantViolation("election-safety", "n1 and n2 both lead term 3");
 * if (!(v.invariant === "election-safety" && v.message.includes("term 3"))) throw new Error("unexpected");
 * ```
 */
export class InvariantViolation extends Error {
  /** Which invariant broke. */
  readonly invariant: InvariantName;
  /** A violation of `invariant`, described by `message`. */
  constructor(invariant: InvariantName, message: string) {
    super(`${invariant}: ${message}`);
    this.name = "InvariantViolation";
    this.invariant = invariant;
  }
}

/**
 * One write to stable storage, as reported by the driver after performing it.
 *
 * @example
 * ```ts
 * import type { PersistedWrite } from "./invariants.ts";
 * const w: PersistedWrite = { entries: [], hardState: { term: 2, vote: "n1", commit: 0 } };
 * ```
 */
export interface PersistedWrite {
  /** Entries appended (they may have replaced a conflicting suffix). */
  readonly entries: readonly Entry[];
  /** The hard state written, if any. */
  readonly hardState?: HardState;
  /** Index of the snapshot installed before the entries, if any. */
  readonly snapshotIndex?: number;
}

interface LogRecord {
  readonly data: Uint8Array;
  readonly type: Entry["type"];
  readonly prevTerm: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const DECODER = new TextDecoder();

function show(d: Uint8Array): string {
  return JSON.stringify(DECODER.decode(d));
}

const TERM_SPAN = 4294967296;

/**
 * Checks Raft's safety invariants over a whole simulated history. The driver
 * calls the `on*` methods as things happen; each throws
 * {@link InvariantViolation} on the first violation.
 *
 * @example
 * ```ts
 * import { InvariantChecker, InvariantViolation } from "./invariants.ts";
 * const c = new InvariantChecker();
 * c.onRole("n1", "leader", 2);
 * let caught = "";
 * try {
 *   c.onRole("n2", "leader", 2);
 * } catch (e) {
 *   if (e instanceof InvariantViolation) caught = e.invariant;
 * }
 * if (!(caught === "election-safety")) throw new Error("unexpected");
 * ```
 */
export class InvariantChecker {
  readonly #leaderOfTerm = new Map<number, NodeId>();
  /** (index, term) -> the entry, from every persisted log ever. */
  readonly #log = new Map<number, LogRecord>();
  readonly #hard = new Map<NodeId, HardState>();
  readonly #storage = new Map<NodeId, MemoryStorage>();
  /** Per node: the commit index up to which committed entries were recorded. */
  readonly #recordedCommit = new Map<NodeId, number>();
  // Committed entries by index, and the lowest term any node had when it saw each committed.
  readonly #committedTerm: number[] = [];
  readonly #committedData: (Uint8Array | undefined)[] = [];
  readonly #commitTerm: number[] = [];
  #maxCommit = 0;
  // Applied entries by index: term, data, and the state machine hash after applying.
  readonly #appliedTerm: number[] = [];
  readonly #appliedData: (Uint8Array | undefined)[] = [];
  readonly #appliedHash: (number | undefined)[] = [];
  /** Current leaders -> [term, index up to which leader completeness was checked]. */
  readonly #leaders = new Map<NodeId, { term: number; checked: number }>();
  readonly #readFloor = new Map<string, number>();
  // Forwarded proposals, by context (the simulator makes it the proposal's text): those
  // refused, those the network delivered twice (a copy may be refused, another appended),
  // and the texts of every entry applied.
  readonly #refused = new Set<string>();
  readonly #duplicated = new Set<string>();
  readonly #appliedTexts = new Set<string>();

  /** Starts tracking a node whose stable storage is `storage`. */
  register(id: NodeId, storage: MemoryStorage): void {
    this.#storage.set(id, storage);
    const hs = storage.hardState();
    if (!this.#hard.has(id)) this.#hard.set(id, hs);
    if (!this.#recordedCommit.has(id)) this.#recordedCommit.set(id, 0);
  }

  /** The highest commit index any node has persisted. */
  maxCommit(): number {
    return this.#maxCommit;
  }

  /** The term of the committed entry at `index`, if recorded. */
  committedTerm(index: number): number | undefined {
    return this.#committedTerm[index];
  }

  /** The data of the committed entry at `index`, if recorded. */
  committedData(index: number): Uint8Array | undefined {
    return this.#committedData[index];
  }

  /** A node shows `role` in `term` (from a Ready's soft state). */
  onRole(id: NodeId, role: Role, term: number): void {
    if (role !== "leader") {
      this.#leaders.delete(id);
      return;
    }
    this.#claimLeadership(id, term);
    const cur = this.#leaders.get(id);
    if (cur === undefined || cur.term !== term) this.#leaders.set(id, { term, checked: 0 });
  }

  /** A node stopped (crashed or retired): it leads nothing any more. */
  onDown(id: NodeId): void {
    this.#leaders.delete(id);
  }

  #claimLeadership(id: NodeId, term: number): void {
    const other = this.#leaderOfTerm.get(term);
    if (other === undefined) this.#leaderOfTerm.set(term, id);
    else if (other !== id) {
      throw new InvariantViolation("election-safety", `${other} and ${id} both lead term ${term}`);
    }
  }

  /** The network delivers `m` twice. */
  onDuplicate(m: Message): void {
    if (m.type === "prop" && m.context !== undefined) this.#duplicated.add(m.context);
  }

  /**
   * `id` learned that a proposal it forwarded under `context` was refused: it
   * must never be applied anywhere (unless a second copy of it was sent).
   */
  onRefused(id: NodeId, context: string): void {
    if (this.#duplicated.has(context)) return;
    if (this.#appliedTexts.has(context)) {
      throw new InvariantViolation(
        "refused-not-appended",
        `${id} was told ${JSON.stringify(context)} was refused, but it was applied`,
      );
    }
    this.#refused.add(context);
  }

  /** A node sent `m`. Appends, heartbeats and snapshots are sent only by a leader of `m.term`. */
  onSend(m: Message): void {
    if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") {
      this.#claimLeadership(m.from, m.term);
    }
  }

  /** The driver has written `w` to `id`'s storage (snapshot, then entries, then hard state). */
  afterPersist(id: NodeId, w: PersistedWrite): void {
    const s = this.#storage.get(id);
    if (s === undefined) throw new RangeError(`Node ${id} is not registered`);
    this.#checkLogMatching(id, s, w.entries);
    const hs = w.hardState;
    if (hs === undefined) return;
    const prev = this.#hard.get(id)!;
    if (hs.term < prev.term) {
      throw new InvariantViolation(
        "monotonic-term",
        `${id} persisted term ${hs.term} after ${prev.term}`,
      );
    }
    if (hs.term === prev.term && prev.vote !== "" && hs.vote !== prev.vote) {
      throw new InvariantViolation(
        "vote-once",
        `${id} voted for ${prev.vote} and then ${hs.vote || "nobody"} in term ${hs.term}`,
      );
    }
    if (hs.commit < prev.commit) {
      throw new InvariantViolation(
        "monotonic-commit",
        `${id} persisted commit ${hs.commit} after ${prev.commit}`,
      );
    }
    if (hs.commit > s.lastIndex()) {
      throw new InvariantViolation(
        "commit-durable",
        `${id} persisted commit ${hs.commit} but its log ends at ${s.lastIndex()}`,
      );
    }
    this.#hard.set(id, hs);
    this.#recordCommitted(id, s, hs);
  }

  #checkLogMatching(id: NodeId, s: MemoryStorage, entries: readonly Entry[]): void {
    const first = s.firstIndex();
    for (const e of entries) {
      if (e.index < first) continue;
      const prevTerm = s.term(e.index - 1);
      const key = e.index * TERM_SPAN + e.term;
      const rec = this.#log.get(key);
      if (rec === undefined) {
        this.#log.set(key, { data: e.data, type: e.type, prevTerm });
      } else if (rec.prevTerm !== prevTerm || rec.type !== e.type || !sameBytes(rec.data, e.data)) {
        throw new InvariantViolation(
          "log-matching",
          `${id} persisted entry ${e.index}/t${e.term} ${show(e.data)} after term ${prevTerm}; ` +
            `another log has ${show(rec.data)} after term ${rec.prevTerm}`,
        );
      }
    }
  }

  #recordCommitted(id: NodeId, s: MemoryStorage, hs: HardState): void {
    const from = Math.max(this.#recordedCommit.get(id)!, s.firstIndex() - 1);
    for (let i = from + 1; i <= hs.commit; i++) {
      const t = s.term(i);
      const d = s.entries(i, i + 1)[0]!.data;
      const known = this.#committedTerm[i];
      if (known === undefined) {
        this.#committedTerm[i] = t;
        this.#committedData[i] = d;
        this.#commitTerm[i] = hs.term;
      } else if (known !== t || !sameBytes(this.#committedData[i]!, d)) {
        throw new InvariantViolation(
          "state-machine-safety",
          `${id} committed ${i}/t${t} ${show(d)} but ${i}/t${known} ${
            show(this.#committedData[i]!)
          } was committed before`,
        );
      } else if (hs.term < this.#commitTerm[i]!) {
        this.#commitTerm[i] = hs.term;
      }
    }
    this.#recordedCommit.set(id, Math.max(this.#recordedCommit.get(id)!, hs.commit));
    if (hs.commit > this.#maxCommit) this.#maxCommit = hs.commit;
  }

  /** `id`'s state machine applied `e`; its running hash is now `hash`. */
  onApply(id: NodeId, e: Entry, hash: number): void {
    const commit = this.#hard.get(id)?.commit ?? 0;
    if (e.index > commit) {
      throw new InvariantViolation(
        "applied-le-committed",
        `${id} applied ${e.index} but its persisted commit is ${commit}`,
      );
    }
    if (e.type === "normal" && e.data.length > 0) {
      const text = DECODER.decode(e.data);
      if (this.#refused.has(text)) {
        throw new InvariantViolation(
          "refused-not-appended",
          `${id} applied ${e.index}/t${e.term} ${show(e.data)}, a proposal refused earlier`,
        );
      }
      this.#appliedTexts.add(text);
    }
    const t = this.#appliedTerm[e.index];
    if (t === undefined) {
      this.#appliedTerm[e.index] = e.term;
      this.#appliedData[e.index] = e.data;
      this.#appliedHash[e.index] = hash;
      return;
    }
    if (t !== e.term || !sameBytes(this.#appliedData[e.index]!, e.data)) {
      throw new InvariantViolation(
        "state-machine-safety",
        `${id} applied ${e.index}/t${e.term} ${
          show(e.data)
        }; another node applied ${e.index}/t${t} ${show(this.#appliedData[e.index]!)}`,
      );
    }
    if (this.#appliedHash[e.index] !== hash) {
      throw new InvariantViolation(
        "state-machine-safety",
        `${id} reached a different state at ${e.index} than another node (hash ${hash} vs ${
          this.#appliedHash[e.index]
        })`,
      );
    }
  }

  /** `id`'s state machine was restored from a snapshot at `index` with running hash `hash`. */
  onRestore(id: NodeId, index: number, hash: number): void {
    if (index === 0) return;
    const h = this.#appliedHash[index];
    if (h === undefined) this.#appliedHash[index] = hash;
    else if (h !== hash) {
      throw new InvariantViolation(
        "state-machine-safety",
        `${id} restored a snapshot at ${index} whose state differs from what was applied there`,
      );
    }
  }

  /** A read with `context` was requested; it must not return an index below any commit seen so far. */
  onReadRequest(context: string): void {
    this.#readFloor.set(context, this.#maxCommit);
  }

  /** A read index answer reached `id`. */
  onReadState(id: NodeId, rs: ReadState): void {
    const floor = this.#readFloor.get(rs.context);
    if (floor === undefined) return;
    this.#readFloor.delete(rs.context);
    if (rs.index < floor) {
      throw new InvariantViolation(
        "read-index-safety",
        `${id} got read index ${rs.index} for ${rs.context}, but ${floor} was committed before the read`,
      );
    }
  }

  /**
   * Checks leader completeness for every current leader: its log (persisted;
   * the driver calls this between steps, when nothing is pending) holds every
   * entry committed in an earlier term. Compacted entries count as held.
   */
  checkLeaders(): void {
    for (const [id, l] of this.#leaders) {
      if (l.checked >= this.#maxCommit) continue;
      const s = this.#storage.get(id)!;
      const first = s.firstIndex();
      const last = s.lastIndex();
      for (let i = Math.max(l.checked + 1, first); i <= this.#maxCommit; i++) {
        const t = this.#committedTerm[i];
        if (t === undefined || this.#commitTerm[i]! >= l.term) continue;
        if (i > last || s.term(i) !== t) {
          throw new InvariantViolation(
            "leader-completeness",
            `${id} leads term ${l.term} without entry ${i}/t${t}, committed in term ${
              this.#commitTerm[i]
            } (its log ends at ${last})`,
          );
        }
      }
      l.checked = this.#maxCommit;
    }
  }
}
