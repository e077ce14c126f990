/**
 * raftlog: a Raft consensus library whose committed log doubles as an event store.
 *
 * The core is pure and deterministic: drive a {@link RawNode} with `tick()`,
 * `step(message)` and `propose(data)`, then act on each `Ready` it produces.
 *
 * @module
 */

export * from "./raft/core/types.ts";
export * from "./raft/core/errors.ts";
export * from "./raft/core/storage.ts";
export * from "./raft/storage/memory_storage.ts";
