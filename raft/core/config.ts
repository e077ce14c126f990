/**
 * Configuration of one Raft node.
 *
 * @module
 */

import type { Storage } from "./storage.ts";
import type { NodeId } from "./types.ts";

/** A structured log line from the core. The core never prints; the driver decides. */
export type Logger = (
  level: "debug" | "info" | "warn",
  message: string,
  fields?: Record<string, unknown>,
) => void;

/**
 * How read-index requests are confirmed:
 * - `safe`: a heartbeat round to a quorum confirms leadership (Raft thesis §6.4).
 * - `leaseBased`: served from the leader lease; relies on bounded clock drift
 *   and requires `checkQuorum` (thesis §6.4.1).
 */
export type ReadOnlyOption = "safe" | "leaseBased";

/**
 * Configuration of a node. Only `id` and `storage` are required.
 *
 * @example
 * ```ts
 * import type { Config } from "./config.ts";
 * import { MemoryStorage } from "../storage/memory_storage.ts";
 * const cfg: Config = { id: "n1", storage: MemoryStorage.withVoters(["n1"]) };
 * ```
 */
export interface Config {
  /** This node's id. */
  readonly id: NodeId;
  /** Where the node's log, hard state and snapshot are read from. */
  readonly storage: Storage;
  /** Ticks without hearing from a leader before campaigning; the timeout is randomized in [electionTick, 2*electionTick). Default 10. */
  readonly electionTick?: number;
  /** Ticks between leader heartbeats. Must be below `electionTick`. Default 1. */
  readonly heartbeatTick?: number;
  /** Last index already applied by the state machine at start. Default: the snapshot index. */
  readonly applied?: number;
  /** Most bytes of entries in one append message. Default 1 MiB. */
  readonly maxSizePerMsg?: number;
  /** Most append messages in flight per follower when pipelining. Default 256. */
  readonly maxInflightMsgs?: number;
  /**
   * Most bytes of entries in flight per follower; 0 = unlimited. Default 16 MiB: a follower far
   * behind is caught up a window at a time, not with everything the message count allows at once.
   */
  readonly maxInflightBytes?: number;
  /** Most bytes of uncommitted entries the leader accepts; more proposals are dropped. Default 64 MiB. */
  readonly maxUncommittedEntriesSize?: number;
  /** Most bytes of committed entries handed out in one Ready. Default 64 MiB. */
  readonly maxCommittedSizePerReady?: number;
  /** Pre-vote phase before elections (Raft thesis §9.6). Default true. */
  readonly preVote?: boolean;
  /** Leader steps down when it has not heard from a quorum for an election timeout (thesis §6.2). Default true. */
  readonly checkQuorum?: boolean;
  /** Refuse proposals on followers instead of forwarding them to the leader. Default false. */
  readonly disableProposalForwarding?: boolean;
  /** How read-index requests are confirmed. Default `safe`. */
  readonly readOnlyOption?: ReadOnlyOption;
  /**
   * Bound on how many ticks the clocks of two nodes may drift apart within an
   * election timeout; the leader lease is `electionTick - maxClockDriftTicks`.
   * Default 2.
   */
  readonly maxClockDriftTicks?: number;
  /** Seed of the election-jitter PRNG. Default: a hash of `id`. */
  readonly seed?: number;
  /**
   * A leader removed from the configuration (or made a learner) steps down
   * once a quorum of the voters knows the change committed, and takes no proposals from
   * the moment it appends that change. Default true.
   */
  readonly stepDownOnRemoval?: boolean;
  /** Receives log lines. Default: none. */
  readonly logger?: Logger;
}

/** A {@link Config} with every default filled in. */
export type ResolvedConfig = Required<Omit<Config, "logger" | "applied" | "seed">> & {
  readonly logger: Logger | undefined;
  readonly applied: number | undefined;
  readonly seed: number | undefined;
};

/**
 * Fills defaults and validates; throws `RangeError` on bad values.
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * import { MemoryStorage } from "../storage/memory_storage.ts";
 * if (!(resolveConfig({ id: "n1", storage: new MemoryStorage() }).electionTick === 10)) throw new Error("unexpected result");
 * ```
 */
export function resolveConfig(c: Config): ResolvedConfig {
  const r: ResolvedConfig = {
    id: c.id,
    storage: c.storage,
    electionTick: c.electionTick ?? 10,
    heartbeatTick: c.heartbeatTick ?? 1,
    applied: c.applied,
    maxSizePerMsg: c.maxSizePerMsg ?? 1024 * 1024,
    maxInflightMsgs: c.maxInflightMsgs ?? 256,
    maxInflightBytes: c.maxInflightBytes ?? 16 * 1024 * 1024,
    maxUncommittedEntriesSize: c.maxUncommittedEntriesSize ?? 64 * 1024 * 1024,
    maxCommittedSizePerReady: c.maxCommittedSizePerReady ?? 64 * 1024 * 1024,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    readOnlyOption: c.readOnlyOption ?? "safe",
    maxClockDriftTicks: c.maxClockDriftTicks ?? 2,
    seed: c.seed,
    stepDownOnRemoval: c.stepDownOnRemoval ?? true,
    logger: c.logger,
  };
  if (typeof r.id !== "string" || r.id === "") {
    throw new RangeError("Config.id must be a non-empty string");
  }
  if (!Number.isInteger(r.heartbeatTick) || r.heartbeatTick <= 0) {
    throw new RangeError(`Config.heartbeatTick must be a positive integer, got ${r.heartbeatTick}`);
  }
  if (!Number.isInteger(r.electionTick) || r.electionTick <= r.heartbeatTick) {
    throw new RangeError(
      `Config.electionTick (${r.electionTick}) must be an integer greater than heartbeatTick (${r.heartbeatTick})`,
    );
  }
  if (!Number.isInteger(r.maxInflightMsgs) || r.maxInflightMsgs <= 0) {
    throw new RangeError(
      `Config.maxInflightMsgs must be a positive integer, got ${r.maxInflightMsgs}`,
    );
  }
  if (r.maxSizePerMsg <= 0) throw new RangeError("Config.maxSizePerMsg must be positive");
  if (
    !Number.isInteger(r.maxClockDriftTicks) || r.maxClockDriftTicks < 0 ||
    r.maxClockDriftTicks >= r.electionTick
  ) {
    throw new RangeError(
      `Config.maxClockDriftTicks must be an integer in [0, electionTick), got ${r.maxClockDriftTicks}`,
    );
  }
  if (r.readOnlyOption === "leaseBased" && !r.checkQuorum) {
    throw new RangeError("Config.readOnlyOption 'leaseBased' requires checkQuorum");
  }
  return r;
}
