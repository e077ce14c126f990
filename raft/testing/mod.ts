/**
 * Testing tools for raftlog and for users' own state machines.
 *
 * - A deterministic simulator: {@linkcode SimCluster} runs Raft nodes over a
 *   seeded {@linkcode SimNetwork} (drops, duplicates, delays, one-way and
 *   two-way partitions) with crashes that lose everything not persisted, and
 *   reports every write, message and applied entry to an
 *   {@linkcode InvariantChecker} (election safety, log matching, leader
 *   completeness, state machine safety, monotonic terms and commits, read
 *   index safety). {@linkcode runSeed} drives random schedules from a seed;
 *   {@linkcode awaitLiveness} checks that a healed cluster makes progress.
 * - A linearizability checker for recorded concurrent histories, with
 *   register, key-value and event-stream models.
 *
 * @example
 * ```ts
 * import { runSeed } from "./mod.ts";
 * const r = runSeed(7, { steps: 200 });
 * if (r.failure) throw new Error(`${r.failure.invariant}: ${r.failure.message}`);
 * ```
 *
 * @module
 */
export * from "./lincheck/mod.ts";
export * from "./invariants.ts";
export * from "./liveness.ts";
export * from "./network.ts";
export * from "./prng.ts";
export * from "./sim.ts";
export * from "./sim_cluster.ts";
export * from "./sim_state_machine.ts";
export * from "./trace.ts";
// The core's types the testing API takes and returns (also in the main entry point).
export type * from "../core/types.ts";
export type * from "../core/storage.ts";
export type { Config, Logger, ReadOnlyOption } from "../core/config.ts";
export type { ConfChange, ConfChangeSingle, ConfChangeTransition } from "../core/confchange.ts";
export type { PeerStatus, ProposeReceipt, RawNode, Status } from "../core/raw_node.ts";
export type { ProgressState } from "../core/tracker/progress.ts";
export type { MemoryStorage } from "../storage/memory_storage.ts";
export type { SaveOptions, StorageUpdate, WritableStorage } from "../storage/writable_storage.ts";
export type { EntrySliceReader } from "../storage/entry_slice.ts";
