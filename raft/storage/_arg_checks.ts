/**
 * Checks of the arguments a {@link FileStorage} is called with: each
 * returns the argument, typed, or throws `TypeError`/`RangeError` naming
 * what is wrong.
 *
 * @module
 */

import type { ConfState, Entry, HardState, Snapshot } from "../core/types.ts";
import { MAX_PAYLOAD_BYTES } from "./record.ts";

/** `value` as an index: a non-negative safe integer. */
export function checkIndex(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new TypeError(`${name} must be a safe integer, got ${String(value)}`);
  }
  if (value < 0) throw new RangeError(`${name} must not be negative, got ${value}`);
  return value;
}

/** `entries` as a save's entries: consecutive indexes, terms that do not decrease. */
export function checkEntries(entries: unknown): readonly Entry[] {
  if (!Array.isArray(entries)) throw new TypeError("update.entries must be an array");
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Partial<Entry> | null;
    if (typeof e !== "object" || e === null) {
      throw new TypeError(`update.entries[${i}] must be an entry object`);
    }
    checkIndex(e.index, `update.entries[${i}].index`);
    checkIndex(e.term, `update.entries[${i}].term`);
    if (e.type !== "normal" && e.type !== "confChange") {
      throw new TypeError(
        `update.entries[${i}].type must be "normal" or "confChange", got ${String(e.type)}`,
      );
    }
    if (!(e.data instanceof Uint8Array)) {
      throw new TypeError(`update.entries[${i}].data must be a Uint8Array`);
    }
    if (e.data.byteLength > MAX_PAYLOAD_BYTES - 18) {
      throw new RangeError(`update.entries[${i}] is too large: ${e.data.byteLength} bytes`);
    }
    if (e.index === 0 || (i > 0 && e.index !== (entries[0] as Entry).index + i)) {
      throw new RangeError(
        `update.entries must have consecutive indexes from 1 up: entries[${i}] has index ${e.index}`,
      );
    }
    if (i > 0 && (e as Entry).term < (entries[i - 1] as Entry).term) {
      throw new RangeError(
        `update.entries terms must not decrease: entries[${i}] has term ${e.term} after ${
          (entries[i - 1] as Entry).term
        }`,
      );
    }
  }
  return entries as readonly Entry[];
}

/** `hs` as a save's hard state. */
export function checkHardState(hs: unknown): HardState {
  if (typeof hs !== "object" || hs === null) {
    throw new TypeError("update.hardState must be a hard state object");
  }
  const h = hs as Partial<HardState>;
  checkIndex(h.term, "update.hardState.term");
  checkIndex(h.commit, "update.hardState.commit");
  if (typeof h.vote !== "string") throw new TypeError("update.hardState.vote must be a string");
  if (h.vote.length > 16384) throw new RangeError("update.hardState.vote is too long");
  return h as HardState;
}

/** `cs` as a membership; `name` says which argument it is. */
export function checkConfState(cs: unknown, name: string): ConfState {
  const ok = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
  const c = cs as Partial<ConfState> | null;
  if (
    typeof c !== "object" || c === null || !ok(c.voters) || !ok(c.learners) ||
    !ok(c.votersOutgoing) || !ok(c.learnersNext) || typeof c.autoLeave !== "boolean"
  ) {
    throw new TypeError(
      `${name} must be a ConfState ({voters, learners, votersOutgoing, learnersNext: string[], autoLeave: boolean})`,
    );
  }
  return c as ConfState;
}

/** `snap` as a save's snapshot. */
export function checkSnapshot(snap: unknown): Snapshot {
  const s = snap as Partial<Snapshot> | null;
  if (
    typeof s !== "object" || s === null || typeof s.metadata !== "object" || s.metadata === null
  ) {
    throw new TypeError("update.snapshot must be a snapshot object");
  }
  checkIndex(s.metadata.index, "update.snapshot.metadata.index");
  checkIndex(s.metadata.term, "update.snapshot.metadata.term");
  checkConfState(s.metadata.confState, "update.snapshot.metadata.confState");
  if (!(s.data instanceof Uint8Array)) {
    throw new TypeError("update.snapshot.data must be a Uint8Array");
  }
  return s as Snapshot;
}
