/**
 * raftlog: a Raft consensus library whose committed log doubles as an event store.
 *
 * Layers, from the bottom:
 * - The pure core: drive a {@link RawNode} with `tick()`, `step(message)` and
 *   `propose(data)`, then act on each `Ready` it returns (persist, send,
 *   apply, `advance`). No I/O, no clock, deterministic from a seed.
 * - Storage: {@link MemoryStorage} for tests, {@link FileStorage} for
 *   durable, checksummed log segments with atomic hard state and snapshots.
 * - The async node: {@link RaftNode} runs the Ready loop and resolves
 *   `propose()` promises with your {@link StateMachine}'s results.
 * - HTTP: {@link serveNode} serves peer traffic and client routes with Hono.
 *
 * @example
 * ```ts
 * import { MemoryStorage, RaftNode } from "./mod.ts";
 *
 * const node = await RaftNode.start({
 *   id: "n1",
 *   storage: MemoryStorage.withVoters(["n1"]),
 *   transport: { send() {} },
 *   stateMachine: {
 *     apply: (cmds) => cmds.map((c) => new TextDecoder().decode(c.payload).toUpperCase()),
 *     snapshot: () => new Uint8Array(),
 *     restore: () => {},
 *   },
 *   tickMs: 5,
 * });
 * await node.waitForLeader(2000);
 * console.assert((await node.propose(new TextEncoder().encode("hi"))) === "HI");
 * await node.stop();
 * ```
 *
 * @module
 */

export * from "./raft/core/types.ts";
export { confStateOf } from "./raft/core/conf_state.ts";
export * from "./raft/core/errors.ts";
export * from "./raft/core/storage.ts";
export type { Config, Logger, ReadOnlyOption } from "./raft/core/config.ts";
export {
  type ConfChange,
  ConfChangeError,
  type ConfChangeSingle,
  type ConfChangeTransition,
  decodeConfChange,
  encodeConfChange,
} from "./raft/core/confchange.ts";
export {
  type PeerStatus,
  type ProposeReceipt,
  RawNode,
  type Status,
} from "./raft/core/raw_node.ts";
export type { ProgressState } from "./raft/core/tracker/progress.ts";
export * from "./raft/storage/memory_storage.ts";
export type {
  SaveOptions,
  StorageUpdate,
  WritableStorage,
} from "./raft/storage/writable_storage.ts";
export { FileStorage, type FileStorageOptions } from "./raft/storage/file_storage.ts";
export type { StorageLogger } from "./raft/storage/file_storage_options.ts";
export type { EntrySliceReader } from "./raft/storage/entry_slice.ts";
export { type Clock, systemClock } from "./raft/clock.ts";
export {
  type AppliedCommand,
  type BackupData,
  type NodeBackup,
  type NodeEvents,
  type NodeOptions,
  type NodeStatus,
  RaftNode,
  type StateMachine,
  type Transport,
} from "./raft/node.ts";
export { OutcomeUnknownError, StoppedError, TimeoutError } from "./raft/node_errors.ts";
export { type Log, type ServedNode, serveNode, type ServeOptions } from "./transport/server.ts";
export type { Histogram, NodeMetrics } from "./transport/metrics.ts";
export {
  HttpTransport,
  type HttpTransportOptions,
  type TransportFeedback,
} from "./transport/peer_transport.ts";
export type { FastRoute } from "./transport/fast_route.ts";
export {
  type AppendOptions,
  type DeleteOptions,
  EventStore,
  type EventStoreOptions,
  type EventStoreStartOptions,
  type ProjectionView,
  type StorageQuota,
  type SubscriptionItem,
} from "./eventstore/event_store.ts";
export {
  type CommandResult,
  EventStoreStateMachine,
  type EventStoreStateMachineOptions,
  type MetadataResult,
  type RawEvent,
  type RawReadResult,
  toRecordedEvent,
} from "./eventstore/state_machine.ts";
// The HTTP client, the store's errors and types, and stream name and expected revision checks.
export * from "./client.ts";
export type {
  ProjectionCheckpoint,
  ProjectionDefinition,
  ProjectionRunner,
} from "./eventstore/projections.ts";
export type {
  RawSubscriptionItem,
  RawSubscriptionPage,
  SubscribeOptions,
} from "./eventstore/subscription.ts";
export type { LogReaderOptions } from "./eventstore/log_reader.ts";
export type { AppendLimits } from "./eventstore/commands.ts";
export {
  type ArchivedEntry,
  type EntryArchive,
  FileArchive,
  MemoryArchive,
} from "./eventstore/archive.ts";
export {
  eventJson,
  eventStoreRoutes,
  type EventStoreRoutesOptions,
} from "./transport/eventstore_routes.ts";
export {
  listMembers,
  type Member,
  memberRoutes,
  type MemberRoutesOptions,
  type MembersBody,
} from "./transport/member_routes.ts";
export {
  MemberClient,
  type MemberClientOptions,
  MemberRequestError,
} from "./transport/member_client.ts";
