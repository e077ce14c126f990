/**
 * Membership changes: single-server changes (Raft thesis §4.1) and joint
 * consensus (thesis §4.3), with learners.
 *
 * @module
 */

import type { TrackerConfig } from "./tracker/tracker.ts";
import type { NodeId } from "./types.ts";

/** One change to membership. */
export interface ConfChangeSingle {
  /** Add (or promote to) a voter, add (or demote to) a learner, or remove. */
  readonly type: "addVoter" | "addLearner" | "removeNode";
  /** The member changed. */
  readonly nodeId: NodeId;
}

/**
 * How a change is carried out:
 * - `auto`: one change is applied directly; several go through a joint
 *   configuration that is left automatically.
 * - `implicit`: always joint, left automatically.
 * - `explicit`: always joint; the application proposes an empty change to leave.
 */
export type ConfChangeTransition = "auto" | "implicit" | "explicit";

/**
 * A membership change. An empty `changes` list while joint means "leave the
 * joint configuration".
 *
 * @example
 * ```ts
 * import type { ConfChange } from "./confchange.ts";
 * const cc: ConfChange = { changes: [{ type: "addVoter", nodeId: "n4" }] };
 * ```
 */
export interface ConfChange {
  /** The changes, applied together. */
  readonly changes: readonly ConfChangeSingle[];
  /** How they are carried out. Default `auto`. */
  readonly transition?: ConfChangeTransition;
  /** Opaque to Raft; e.g. the new member's address. */
  readonly context?: string;
}

/**
 * A proposed membership change cannot be carried out (e.g. it would remove
 * every voter, or changes more than one voter without a joint configuration).
 *
 * @example
 * ```ts
 * import { ConfChangeError } from "./confchange.ts";
 * if (!(new ConfChangeError("no voters").name === "ConfChangeError")) throw new Error("unexpected result");
 * ```
 */
export class ConfChangeError extends RangeError {
  /** `message` says what is wrong with the change. */
  constructor(message: string) {
    super(`Invalid configuration change: ${message}`);
    this.name = "ConfChangeError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes a change as entry data.
 *
 * @example
 * ```ts
 * import { decodeConfChange, encodeConfChange } from "./confchange.ts";
 * const cc = { changes: [{ type: "removeNode" as const, nodeId: "n2" }] };
 * if (!(decodeConfChange(encodeConfChange(cc)).changes[0]?.nodeId === "n2")) throw new Error("unexpected result");
 * ```
 */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(cc));
}

/** Decodes entry data written by {@link encodeConfChange}; throws `ConfChangeError` on garbage. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch {
    throw new ConfChangeError("entry data is not a JSON configuration change");
  }
  if (typeof v !== "object" || v === null || !Array.isArray((v as ConfChange).changes)) {
    throw new ConfChangeError("entry data has no `changes` array");
  }
  for (const c of (v as ConfChange).changes) {
    if (
      typeof c?.nodeId !== "string" || c.nodeId === "" ||
      !["addVoter", "addLearner", "removeNode"].includes(c.type)
    ) {
      throw new ConfChangeError(`bad change ${JSON.stringify(c)}`);
    }
  }
  return v as ConfChange;
}

/** Whether `cc` enters a joint configuration, and if so whether it leaves automatically. */
export function entersJoint(cc: ConfChange): { joint: boolean; autoLeave: boolean } {
  const t = cc.transition ?? "auto";
  if (t !== "auto" || cc.changes.length > 1) {
    return { joint: true, autoLeave: t === "auto" || t === "implicit" };
  }
  return { joint: false, autoLeave: false };
}

/** Whether `cc` asks to leave the joint configuration. */
export function leavesJoint(cc: ConfChange): boolean {
  return cc.changes.length === 0;
}

interface MutableConfig {
  incoming: Set<NodeId>;
  outgoing: Set<NodeId>;
  learners: Set<NodeId>;
  learnersNext: Set<NodeId>;
  autoLeave: boolean;
}

function copy(cfg: TrackerConfig): MutableConfig {
  return {
    incoming: new Set(cfg.voters.incoming),
    outgoing: new Set(cfg.voters.outgoing),
    learners: new Set(cfg.learners),
    learnersNext: new Set(cfg.learnersNext),
    autoLeave: cfg.autoLeave,
  };
}

function freeze(c: MutableConfig): TrackerConfig {
  return {
    voters: { incoming: c.incoming, outgoing: c.outgoing },
    learners: c.learners,
    learnersNext: c.learnersNext,
    autoLeave: c.autoLeave,
  };
}

function applyChanges(c: MutableConfig, changes: readonly ConfChangeSingle[]): void {
  for (const ch of changes) {
    if (ch.nodeId === "") throw new ConfChangeError("node id must not be empty");
    switch (ch.type) {
      case "addVoter":
        c.learners.delete(ch.nodeId);
        c.learnersNext.delete(ch.nodeId);
        c.incoming.add(ch.nodeId);
        break;
      case "addLearner":
        if (c.learners.has(ch.nodeId)) break;
        c.incoming.delete(ch.nodeId);
        // A voter of the outgoing half can only become a learner once the joint config is left.
        if (c.outgoing.has(ch.nodeId)) c.learnersNext.add(ch.nodeId);
        else c.learners.add(ch.nodeId);
        break;
      case "removeNode":
        c.incoming.delete(ch.nodeId);
        c.learners.delete(ch.nodeId);
        c.learnersNext.delete(ch.nodeId);
        break;
    }
  }
  if (c.incoming.size === 0) throw new ConfChangeError("removing all voters is not allowed");
}

/**
 * The configuration that results from applying `cc` to `cfg`. Throws
 * `ConfChangeError` when `cc` is not allowed in `cfg`.
 *
 * @example
 * ```ts
 * import { applyConfChange } from "./confchange.ts";
 * const cfg = {
 *   voters: { incoming: new Set(["a", "b", "c"]), outgoing: new Set<string>() },
 *   learners: new Set<string>(), learnersNext: new Set<string>(), autoLeave: false,
 * };
 * const next = applyConfChange(cfg, { changes: [{ type: "addVoter", nodeId: "d" }] });
 * if (!(next.voters.incoming.size === 4)) throw new Error("unexpected result");
 * ```
 */
export function applyConfChange(cfg: TrackerConfig, cc: ConfChange): TrackerConfig {
  const joint = cfg.voters.outgoing.size > 0;
  if (leavesJoint(cc)) {
    if (!joint) throw new ConfChangeError("cannot leave a joint configuration: none is active");
    const c = copy(cfg);
    for (const id of c.learnersNext) c.learners.add(id);
    c.learnersNext.clear();
    c.outgoing.clear();
    c.autoLeave = false;
    return freeze(c);
  }
  if (joint) {
    throw new ConfChangeError("a joint configuration is active; leave it before the next change");
  }
  const { joint: enter, autoLeave } = entersJoint(cc);
  const c = copy(cfg);
  if (enter) {
    c.outgoing = new Set(c.incoming);
    applyChanges(c, cc.changes);
    c.autoLeave = autoLeave;
    return freeze(c);
  }
  applyChanges(c, cc.changes);
  let diff = 0;
  for (const id of c.incoming) if (!cfg.voters.incoming.has(id)) diff++;
  for (const id of cfg.voters.incoming) if (!c.incoming.has(id)) diff++;
  if (diff > 1) {
    throw new ConfChangeError("more than one voter changed without a joint configuration");
  }
  return freeze(c);
}
