/**
 * The state machine simulated nodes apply committed entries to: a key-value
 * map plus a running hash of every applied entry, so two nodes (or a node and
 * a snapshot) can be compared by index and hash alone.
 *
 * @module
 */

import type { Entry } from "../core/types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Folds `x` (32 bits) into an FNV-1a hash. */
function mix(h: number, x: number): number {
  h = Math.imul(h ^ (x & 0xff), 0x01000193);
  h = Math.imul(h ^ ((x >>> 8) & 0xff), 0x01000193);
  h = Math.imul(h ^ ((x >>> 16) & 0xff), 0x01000193);
  return Math.imul(h ^ (x >>> 24), 0x01000193) >>> 0;
}

/**
 * The running hash after applying `e` to a state whose hash is `h`.
 *
 * @example
 * ```ts
 * import { chainHash } from "./sim_state_machine.ts";
 * const e = { term: 1, index: 1, type: "normal" as const, data: new Uint8Array([1]) };
 * if (!(chainHash(0, e) === chainHash(0, e) && chainHash(0, e) !== chainHash(1, e))) throw new Error("unexpected");
 * ```
 */
export function chainHash(h: number, e: Entry): number {
  h = mix(mix(mix(h, e.index), e.term), e.type === "normal" ? 1 : 2);
  const d = e.data;
  for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
  return h >>> 0;
}

/**
 * Encodes a `set key value` command for {@link SimStateMachine}.
 *
 * @example
 * ```ts
 * import { encodeSet } from "./sim_state_machine.ts";
 * if (!(new TextDecoder().decode(encodeSet("k", "v")) === "k=v")) throw new Error("unexpected");
 * ```
 */
export function encodeSet(key: string, value: string): Uint8Array {
  return encoder.encode(`${key}=${value}`);
}

/**
 * A key-value state machine for simulations. Normal entries whose data is
 * `key=value` set a key; other entries (empty leader entries, membership
 * changes) only advance `applied` and the hash.
 *
 * Invariant: `applied` is the index of the last entry applied (or restored
 * from a snapshot), and entries are applied in index order without gaps.
 *
 * @example
 * ```ts
 * import { encodeSet, SimStateMachine } from "./sim_state_machine.ts";
 * const sm = new SimStateMachine();
 * sm.apply({ term: 1, index: 1, type: "normal", data: encodeSet("x", "1") });
 * const copy = SimStateMachine.restore(sm.snapshot());
 * if (!(copy.get("x") === "1" && copy.hash === sm.hash && copy.applied === 1)) throw new Error("unexpected");
 * ```
 */
export class SimStateMachine {
  /** Index of the last applied entry. */
  applied = 0;
  /** Running hash of every applied entry (see {@link chainHash}). */
  hash = 0;
  readonly #kv = new Map<string, string>();

  /** Applies the next entry; throws `RangeError` if it is not `applied + 1`. */
  apply(e: Entry): void {
    if (e.index !== this.applied + 1) {
      throw new RangeError(
        `Cannot apply entry ${e.index}: the state machine is at ${this.applied}`,
      );
    }
    this.applied = e.index;
    this.hash = chainHash(this.hash, e);
    if (e.type !== "normal" || e.data.length === 0) return;
    const s = decoder.decode(e.data);
    const eq = s.indexOf("=");
    if (eq > 0) this.#kv.set(s.slice(0, eq), s.slice(eq + 1));
  }

  /** The value of `key`, if set. */
  get(key: string): string | undefined {
    return this.#kv.get(key);
  }

  /** Number of keys. */
  size(): number {
    return this.#kv.size;
  }

  /** The whole state, for a Raft snapshot. */
  snapshot(): Uint8Array {
    return encoder.encode(
      JSON.stringify({ applied: this.applied, hash: this.hash, kv: [...this.#kv] }),
    );
  }

  /** Rebuilds a state machine from {@link SimStateMachine.snapshot} data; empty data is the empty state. */
  static restore(data: Uint8Array): SimStateMachine {
    const sm = new SimStateMachine();
    if (data.length === 0) return sm;
    const v = JSON.parse(decoder.decode(data)) as {
      applied: number;
      hash: number;
      kv: [string, string][];
    };
    sm.applied = v.applied;
    sm.hash = v.hash;
    for (const [k, val] of v.kv) sm.#kv.set(k, val);
    return sm;
  }
}
