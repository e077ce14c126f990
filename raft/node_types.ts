/**
 * The types a node is started with and reports through: its options, the
 * state machine and transport it drives, the events it emits and its status.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { Config } from "./core/config.ts";
import type { ConfState, Message, NodeId, Role, SnapshotMetadata } from "./core/types.ts";
import type { WritableStorage } from "./storage/writable_storage.ts";

/** A committed command, as handed to the state machine. */
export interface AppliedCommand {
  /** The entry's log index. */
  readonly index: number;
  /** The entry's term. */
  readonly term: number;
  /** Proposal id (unique per proposal), or "" when the entry carried none. */
  readonly id: string;
  /**
   * When the command was proposed (ms since the epoch), as recorded in the
   * log: by the leader's clock, also for proposals a follower forwarded.
   */
  readonly timestamp: number;
  /** The bytes given to `propose`. */
  readonly payload: Uint8Array;
}

/**
 * The application's state machine. `apply` gets committed commands in log
 * order, each exactly once per process lifetime (after a restart, commands
 * after the last snapshot are applied again: make `apply` idempotent by
 * `index`, or restore from the snapshot first).
 *
 * @example
 * ```ts
 * import type { AppliedCommand, StateMachine } from "./node.ts";
 * class Counter implements StateMachine<number> {
 *   n = 0;
 *   apply(cmds: readonly AppliedCommand[]): number[] { return cmds.map(() => ++this.n); }
 *   snapshot(): Uint8Array { return new TextEncoder().encode(String(this.n)); }
 *   restore(data: Uint8Array): void { this.n = Number(new TextDecoder().decode(data)); }
 * }
 * ```
 */
export interface StateMachine<R> {
  /** Applies commands in order and returns one result per command. */
  apply(commands: readonly AppliedCommand[]): R[] | Promise<R[]>;
  /** Serializes the state after the last applied command. */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  /** Replaces the state with a snapshot's. */
  restore(data: Uint8Array): void | Promise<void>;
  /** Lowest log index that must stay in the log (e.g. retention); compaction never goes past it. */
  retainFrom?(): number;
  /**
   * A buffer {@link StateMachine.snapshot} returned is no longer used: the
   * snapshot is on disk in storage that keeps no reference to it
   * (`WritableStorage.releasesSnapshotData`). The state machine may write a
   * later snapshot into it (fresh memory costs a page fault per page on
   * first write). Not called for storage that may hold the buffer.
   */
  snapshotReleased?(data: Uint8Array): void;
  /**
   * The whole state after the last applied command, for a backup: what
   * {@link StateMachine.restore} needs on a node whose log starts after it
   * (a cluster restored from the backup). Without it, backups use
   * {@link StateMachine.snapshot}, which must then hold the whole state.
   */
  backup?(): BackupData | Promise<BackupData>;
}

/**
 * A backup's data: the bytes, or chunks made as they are read, so that a
 * large state is never in memory whole. The chunks are the data in order.
 * Whoever stops reading before the end calls `return()`, so the state
 * machine lets go of what it kept for the backup.
 */
export type BackupData = Uint8Array | AsyncIterableIterator<Uint8Array>;

/**
 * A node's state at one applied index, from {@link RaftNode.backup}: enough
 * to start a new cluster with that state (see `restoreDataDir`).
 */
export interface NodeBackup {
  /** The applied index the state is as of, its term, and the membership there. */
  readonly metadata: SnapshotMetadata;
  /** The state machine's backup (or snapshot) at `metadata.index`. */
  readonly data: BackupData;
}

/**
 * How messages leave the node. Delivery is best effort (Raft retries), but a
 * message must not be delivered twice: a proposal forwarded to the leader is
 * failed at once when the leader refuses it, which is only sure to mean "not
 * appended" if no second copy of it was.
 */
export interface Transport {
  /** Queues messages for their destinations. Must not throw for unreachable peers. */
  send(messages: readonly Message[]): void;
}

/** Events a node emits (go-raft's set). */
export interface NodeEvents {
  /** This node's role changed. */
  stateChange: { readonly role: Role; readonly term: number };
  /** The leader this node knows of changed (`leader` is "" when none is known). */
  leaderChange: { readonly leader: NodeId; readonly term: number };
  /** This node's term changed. */
  termChange: { readonly term: number };
  /** The commit index moved. */
  commit: { readonly index: number };
  /** A member was added (`context`: the change's context, e.g. its URL). */
  addPeer: { readonly id: NodeId; readonly context: string; readonly learner: boolean };
  /** A member was removed. */
  removePeer: { readonly id: NodeId };
  /** This node was removed from the cluster. */
  removed: { readonly id: NodeId };
  /** A heartbeat to `peer` was answered after `ms` milliseconds. */
  roundTrip: { readonly peer: NodeId; readonly ms: number };
  /** Something an operator should know about, e.g. heartbeat round trips near the election timeout. */
  warning: { readonly message: string };
  /** The node stopped; `error` is set when it stopped because of a failure. */
  stopped: { readonly error?: unknown };
}

/** Options of {@link RaftNode.start}. */
export interface NodeOptions<R> {
  /** This node's id. */
  readonly id: NodeId;
  /** Where the log, hard state and snapshots are kept. */
  readonly storage: WritableStorage;
  /** How messages reach the other nodes. */
  readonly transport: Transport;
  /** What committed commands are applied to. */
  readonly stateMachine: StateMachine<R>;
  /** Time source for ticks and timeouts. Default the system clock. */
  readonly clock?: Clock;
  /** Milliseconds per Raft tick. Default 10. */
  readonly tickMs?: number;
  /**
   * Core options (electionTick, heartbeatTick, preVote, checkQuorum, ...).
   * Defaults here: electionTick 30 and heartbeatTick 5, i.e. with 10 ms ticks a
   * heartbeat every 50 ms and an election timeout of 300-600 ms.
   */
  readonly raft?: Omit<Config, "id" | "storage" | "applied">;
  /** Default proposal/read timeout in ms. Default 10,000. */
  readonly requestTimeoutMs?: number;
  /**
   * Take a snapshot every this many applied entries (plus up to half as many
   * more, different on each member, so members do not all snapshot at once),
   * once the entries applied since the last snapshot also add up to at least
   * its size (so a large state is not serialized again after a few small
   * entries: snapshot work stays proportional to the log's growth). Default
   * 10,000; 0 disables.
   */
  readonly snapshotEvery?: number;
  /** Entries kept in the log behind a snapshot for slow followers. Default 5,000. */
  readonly snapshotKeep?: number;
  /** URL of each known peer, for leader hints in errors. */
  readonly peerUrls?: Readonly<Record<NodeId, string>>;
}

/** A node's state for monitoring. */
export interface NodeStatus {
  /** This node's id. */
  readonly id: NodeId;
  /** Its role. */
  readonly role: Role;
  /** Its term. */
  readonly term: number;
  /** The leader it knows of, or "". */
  readonly leader: NodeId;
  /** Its commit index. */
  readonly commit: number;
  /** The last index its state machine applied. */
  readonly applied: number;
  /** The last index in its log. */
  readonly lastIndex: number;
  /** The first index still in its log (entries before are in the snapshot). */
  readonly firstIndex: number;
  /** The membership it applied last. */
  readonly confState: ConfState;
  /** Per-member replication progress; only on the leader. */
  readonly members: readonly {
    id: NodeId;
    match: number;
    next: number;
    state: string;
    learner: boolean;
  }[];
}
