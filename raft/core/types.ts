/**
 * Data types shared by every part of the Raft core: entries, hard state,
 * membership, snapshots and the message union.
 *
 * @module
 */

/** A node id. Ids are short strings such as `"n1"`; the empty string means "no node". */
export type NodeId = string;

/** The id that means "no node" (no vote cast, no leader known). */
export const NO_NODE: NodeId = "";

/** What an entry carries: an application command or a membership change. */
export type EntryType = "normal" | "confChange";

/**
 * One log entry. `data` is opaque to Raft; for `confChange` entries it is the
 * encoded {@link ConfChange} (see `encodeConfChange` in `confchange.ts`).
 *
 * @example
 * ```ts
 * import type { Entry } from "./types.ts";
 * const e: Entry = { term: 1, index: 1, type: "normal", data: new Uint8Array() };
 * ```
 */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/**
 * The state a node must persist before it answers any message that depends on
 * it (Raft §5.1, Figure 2 "Persistent state on all servers").
 *
 * @example
 * ```ts
 * import type { HardState } from "./types.ts";
 * const hs: HardState = { term: 3, vote: "n1", commit: 10 };
 * ```
 */
export interface HardState {
  readonly term: number;
  /** Candidate voted for in `term`, or {@link NO_NODE}. */
  readonly vote: NodeId;
  readonly commit: number;
}

/** The hard state of a node that has never run. */
export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NO_NODE, commit: 0 };

/**
 * Cluster membership. With joint consensus (Raft thesis §4.3) `votersOutgoing`
 * holds the old voter set while the configuration is joint.
 *
 * @example
 * ```ts
 * import type { ConfState } from "./types.ts";
 * const cs: ConfState = { voters: ["n1", "n2", "n3"], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
 * ```
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** The old voters while in a joint configuration; empty otherwise. */
  readonly votersOutgoing: readonly NodeId[];
  /** Voters of the old configuration that become learners when the joint configuration is left. */
  readonly learnersNext: readonly NodeId[];
  /** Leave the joint configuration automatically once it is committed. */
  readonly autoLeave: boolean;
}

/** Metadata of a snapshot: the last index and term it covers and the membership at that index. */
export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

/**
 * A snapshot of the state machine covering the log up to `metadata.index`.
 *
 * @example
 * ```ts
 * import type { Snapshot } from "./types.ts";
 * const s: Snapshot = {
 *   metadata: { index: 0, term: 0, confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
 *   data: new Uint8Array(),
 * };
 * ```
 */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

/** A role a node can be in. Pre-candidate is the pre-vote phase (Raft thesis §9.6). */
export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** Volatile state that callers may want to observe: who leads and in which role this node is. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/**
 * The answer to a read-index request: once the node has applied `index`, a read
 * tagged `context` reflects every write committed before the request began
 * (Raft thesis §6.4).
 */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

/** A proposal forwarded under `context` that a leader (or ex-leader) refused. */
export interface RefusedProposal {
  readonly context: string;
  readonly reason: string;
}

/** Fields every message carries. `term` 0 marks a local message. */
interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** AppendEntries (Raft §5.3): `entries` follow the entry at (`index`, `logTerm`). */
export interface AppendMessage extends MessageBase {
  readonly type: "app";
  readonly index: number;
  readonly logTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * Reply to an append. On success `index` is the last index now known to match.
 * On rejection `index` is the rejected `index` of the request and
 * (`rejectHint`, `logTerm`) point to where the follower's log may match
 * (fast backtracking, Raft §5.3 "optimization").
 */
export interface AppendResponseMessage extends MessageBase {
  readonly type: "appResp";
  readonly index: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly logTerm: number;
  /** The sender's commit index after handling the request (0 when unknown). */
  readonly commit?: number;
}

/** Heartbeat: asserts leadership and carries the commit index the follower can safely use. */
export interface HeartbeatMessage extends MessageBase {
  readonly type: "heartbeat";
  readonly commit: number;
  /** Read-index round this heartbeat confirms, or "" for none. */
  readonly context: string;
}

/** Reply to a heartbeat. */
export interface HeartbeatResponseMessage extends MessageBase {
  readonly type: "heartbeatResp";
  readonly context: string;
  /** The sender's commit index after handling the heartbeat (0 when unknown). */
  readonly commit?: number;
}

/**
 * RequestVote (Raft §5.2) or pre-vote (thesis §9.6). A pre-vote carries the
 * term the sender would campaign in, without having incremented its own.
 */
export interface VoteMessage extends MessageBase {
  readonly type: "vote" | "preVote";
  readonly index: number;
  readonly logTerm: number;
  /** Set by leadership transfer: ignore leader leases (thesis §3.10). */
  readonly transfer: boolean;
}

/** Reply to a vote or pre-vote. */
export interface VoteResponseMessage extends MessageBase {
  readonly type: "voteResp" | "preVoteResp";
  readonly reject: boolean;
}

/** InstallSnapshot (Raft §7). */
export interface SnapshotMessage extends MessageBase {
  readonly type: "snap";
  readonly snapshot: Snapshot;
}

/**
 * A proposal forwarded from a follower to the leader. With a `context`, a node
 * that refuses it says so with a {@link ProposeRefusedMessage}.
 */
export interface ProposeMessage extends MessageBase {
  readonly type: "prop";
  readonly entries: readonly Entry[];
  readonly context?: string;
}

/**
 * A forwarded proposal (its `context`) was refused and appended nowhere, for
 * `reason` (the leader is busy or transferring, or the receiver no longer leads).
 */
export interface ProposeRefusedMessage extends MessageBase {
  readonly type: "propRefused";
  readonly context: string;
  readonly reason: string;
}

/** A read-index request, local or forwarded to the leader by a follower. */
export interface ReadIndexMessage extends MessageBase {
  readonly type: "readIndex";
  readonly context: string;
}

/** The leader's answer to a forwarded read-index request. */
export interface ReadIndexResponseMessage extends MessageBase {
  readonly type: "readIndexResp";
  readonly index: number;
  readonly context: string;
}

/** Leadership transfer: the target should campaign at once (thesis §3.10). */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: "timeoutNow";
}

/** A request, local or forwarded to the leader, to hand leadership to `transferee`. */
export interface TransferLeaderMessage extends MessageBase {
  readonly type: "transferLeader";
  readonly transferee: NodeId;
}

/**
 * Every message a node sends to another node. Local inputs (ticks, proposals,
 * status reports) are methods on `RawNode`, not messages.
 *
 * @example
 * ```ts
 * import type { Message } from "./types.ts";
 * const m: Message = { type: "heartbeat", from: "n1", to: "n2", term: 4, commit: 7, context: "" };
 * ```
 */
export type Message =
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | SnapshotMessage
  | ProposeMessage
  | ProposeRefusedMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage
  | TimeoutNowMessage
  | TransferLeaderMessage;

/** The `type` tag of a {@link Message}. */
export type MessageType = Message["type"];

/**
 * Everything a node must act on, produced by `RawNode.ready()`.
 *
 * The contract (in this order):
 * 1. Persist `snapshot` (if any), then `entries` and `hardState` (if any). When
 *    `mustSync` is true the write must be durable (fsync) before step 2.
 * 2. Send `messages`. Exception (Raft thesis §10.2.1): when
 *    `canSendBeforePersist` is true the messages may be sent while the write of
 *    step 1 is still in flight; the leader counts its own log only after
 *    `advance`, so this never commits an entry that is not on a quorum of disks.
 * 3. Apply `committedEntries` to the state machine, in order, and serve `readStates`
 *    once their index is applied.
 * 4. Call `advance(ready)`.
 *
 * @example
 * ```ts
 * import type { Ready } from "./types.ts";
 * function handle(rd: Ready): number {
 *   return rd.entries.length + rd.committedEntries.length + rd.messages.length;
 * }
 * ```
 */
export interface Ready {
  /** Present when leader or role changed since the last Ready. */
  readonly softState?: SoftState;
  /** Present when term, vote or commit changed since the last Ready. */
  readonly hardState?: HardState;
  /** Read-index answers; serve each once `index` is applied. */
  readonly readStates: readonly ReadState[];
  /** Proposals this node forwarded (with a context) that were refused: fail them. */
  readonly refusedProposals: readonly RefusedProposal[];
  /** Entries to append to stable storage (they may replace a conflicting suffix). */
  readonly entries: readonly Entry[];
  /** A snapshot to install in stable storage before `entries`. */
  readonly snapshot?: Snapshot;
  /** Entries known committed, to apply in order. Already persisted (earlier or in this Ready). */
  readonly committedEntries: readonly Entry[];
  /** Messages to send once step 1 is done (see `canSendBeforePersist`). */
  readonly messages: readonly Message[];
  /** True when term, vote or entries changed: the write must be fsynced before sending. */
  readonly mustSync: boolean;
  /** True when no message depends on this Ready's write (leader, term and vote unchanged). */
  readonly canSendBeforePersist: boolean;
}
