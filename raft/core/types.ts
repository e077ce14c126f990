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
  /** Term of the leader that created the entry. */
  readonly term: number;
  /** Position in the log, from 1. */
  readonly index: number;
  /** An application command or a membership change. */
  readonly type: EntryType;
  /** The command's bytes (opaque to Raft), or the encoded membership change. */
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
  /** The latest term this node has seen. */
  readonly term: number;
  /** Candidate voted for in `term`, or {@link NO_NODE}. */
  readonly vote: NodeId;
  /** Highest log index known to be committed. */
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
  /** Members whose votes count (the new set while joint). */
  readonly voters: readonly NodeId[];
  /** Members that receive the log but do not vote. */
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
  /** The last log index the snapshot covers. */
  readonly index: number;
  /** The term of the entry at `index`. */
  readonly term: number;
  /** The membership as of `index`. */
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
  /** What the snapshot covers. */
  readonly metadata: SnapshotMetadata;
  /** The state machine's serialized state (opaque to Raft). */
  readonly data: Uint8Array;
}

/** A role a node can be in. Pre-candidate is the pre-vote phase (Raft thesis §9.6). */
export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** Volatile state that callers may want to observe: who leads and in which role this node is. */
export interface SoftState {
  /** The leader this node knows of, or {@link NO_NODE}. */
  readonly leader: NodeId;
  /** This node's role. */
  readonly role: Role;
}

/**
 * The answer to a read-index request: once the node has applied `index`, a read
 * tagged `context` reflects every write committed before the request began
 * (Raft thesis §6.4).
 */
export interface ReadState {
  /** The commit index the read must wait for. */
  readonly index: number;
  /** The tag the read-index request was made with. */
  readonly context: string;
}

/** A proposal forwarded under `context` that a leader (or ex-leader) refused. */
export interface RefusedProposal {
  /** The tag the proposal was forwarded with. */
  readonly context: string;
  /** Why it was refused. */
  readonly reason: string;
}

/** Fields every message carries. `term` 0 marks a local message. */
export interface MessageBase {
  /** The sender. */
  readonly from: NodeId;
  /** The receiver. */
  readonly to: NodeId;
  /** The sender's term (0 for a local message). */
  readonly term: number;
}

/** AppendEntries (Raft §5.3): `entries` follow the entry at (`index`, `logTerm`). */
export interface AppendMessage extends MessageBase {
  /** An append. */
  readonly type: "app";
  /** Index of the entry just before `entries`. */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly logTerm: number;
  /** The entries to append (none for a probe). */
  readonly entries: readonly Entry[];
  /** The leader's commit index. */
  readonly commit: number;
}

/**
 * Reply to an append. On success `index` is the last index now known to match.
 * On rejection `index` is the rejected `index` of the request and
 * (`rejectHint`, `logTerm`) point to where the follower's log may match
 * (fast backtracking, Raft §5.3 "optimization").
 */
export interface AppendResponseMessage extends MessageBase {
  /** A reply to an append. */
  readonly type: "appResp";
  /** The matching index (success) or the rejected request's `index`. */
  readonly index: number;
  /** True when the follower's log did not match at the request's `index`. */
  readonly reject: boolean;
  /** On rejection, an index at or below which the follower's log may match. */
  readonly rejectHint: number;
  /** On rejection, the term of the follower's entry at `rejectHint`. */
  readonly logTerm: number;
  /** The sender's commit index after handling the request (0 when unknown). */
  readonly commit?: number;
}

/** Heartbeat: asserts leadership and carries the commit index the follower can safely use. */
export interface HeartbeatMessage extends MessageBase {
  /** A heartbeat. */
  readonly type: "heartbeat";
  /** The commit index the follower may use (at most what it is known to have). */
  readonly commit: number;
  /** Read-index round this heartbeat confirms, or "" for none. */
  readonly context: string;
}

/** Reply to a heartbeat. */
export interface HeartbeatResponseMessage extends MessageBase {
  /** A reply to a heartbeat. */
  readonly type: "heartbeatResp";
  /** The heartbeat's read-index round, echoed. */
  readonly context: string;
  /** The sender's commit index after handling the heartbeat (0 when unknown). */
  readonly commit?: number;
}

/**
 * RequestVote (Raft §5.2) or pre-vote (thesis §9.6). A pre-vote carries the
 * term the sender would campaign in, without having incremented its own.
 */
export interface VoteMessage extends MessageBase {
  /** A vote or a pre-vote request. */
  readonly type: "vote" | "preVote";
  /** The candidate's last log index. */
  readonly index: number;
  /** The term of the candidate's last entry. */
  readonly logTerm: number;
  /** Set by leadership transfer: ignore leader leases (thesis §3.10). */
  readonly transfer: boolean;
}

/** Reply to a vote or pre-vote. */
export interface VoteResponseMessage extends MessageBase {
  /** A reply to a vote or pre-vote request. */
  readonly type: "voteResp" | "preVoteResp";
  /** True when the vote is refused. */
  readonly reject: boolean;
}

/** InstallSnapshot (Raft §7). */
export interface SnapshotMessage extends MessageBase {
  /** A snapshot for a follower that needs entries the leader no longer has. */
  readonly type: "snap";
  /** The snapshot to install. */
  readonly snapshot: Snapshot;
}

/**
 * A proposal forwarded from a follower to the leader. With a `context`, a node
 * that refuses it says so with a {@link ProposeRefusedMessage}.
 */
export interface ProposeMessage extends MessageBase {
  /** A forwarded proposal. */
  readonly type: "prop";
  /** The entries proposed (their term and index are set by the leader). */
  readonly entries: readonly Entry[];
  /** A tag the sender can match a refusal with. */
  readonly context?: string;
}

/**
 * A forwarded proposal (its `context`) was refused and appended nowhere, for
 * `reason` (the leader is busy or transferring, or the receiver no longer leads).
 */
export interface ProposeRefusedMessage extends MessageBase {
  /** A refusal of a forwarded proposal. */
  readonly type: "propRefused";
  /** The proposal's tag. */
  readonly context: string;
  /** Why it was refused. */
  readonly reason: string;
}

/** A read-index request, local or forwarded to the leader by a follower. */
export interface ReadIndexMessage extends MessageBase {
  /** A read-index request. */
  readonly type: "readIndex";
  /** The request's tag, returned with the answer. */
  readonly context: string;
}

/** The leader's answer to a forwarded read-index request. */
export interface ReadIndexResponseMessage extends MessageBase {
  /** The answer to a read-index request. */
  readonly type: "readIndexResp";
  /** The commit index the read must wait for. */
  readonly index: number;
  /** The request's tag. */
  readonly context: string;
}

/** Leadership transfer: the target should campaign at once (thesis §3.10). */
export interface TimeoutNowMessage extends MessageBase {
  /** Campaign now. */
  readonly type: "timeoutNow";
}

/** A request, local or forwarded to the leader, to hand leadership to `transferee`. */
export interface TransferLeaderMessage extends MessageBase {
  /** A leadership transfer request. */
  readonly type: "transferLeader";
  /** The node to hand leadership to. */
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
