/**
 * A key-value state machine: the built-in example application, also used by
 * tests and benchmarks.
 *
 * @module
 */

import type { AppliedCommand, StateMachine } from "../node.ts";

/** A key-value command. */
export type KvCommand =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "append"; readonly key: string; readonly value: string }
  | { readonly op: "delete"; readonly key: string }
  | {
    readonly op: "cas";
    readonly key: string;
    readonly expected: string | null;
    readonly value: string;
  };

/** Result of applying a command. */
export interface KvResult {
  readonly ok: boolean;
  /** The value after the command (null when absent). */
  readonly value: string | null;
  /** The value before the command (null when absent). */
  readonly prev: string | null;
  readonly index: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes a command for `RaftNode.propose`.
 *
 * @example
 * ```ts
 * import { encodeKvCommand } from "./kv_state_machine.ts";
 * console.assert(encodeKvCommand({ op: "put", key: "a", value: "1" }).length > 0);
 * ```
 */
export function encodeKvCommand(c: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

/**
 * A map from string keys to string values.
 *
 * @example
 * ```ts
 * import { encodeKvCommand, KvStateMachine } from "./kv_state_machine.ts";
 * const kv = new KvStateMachine();
 * const [r] = kv.apply([{ index: 1, term: 1, id: "", timestamp: 0, payload: encodeKvCommand({ op: "put", key: "a", value: "1" }) }]);
 * console.assert(r?.ok && kv.get("a") === "1");
 * ```
 */
export class KvStateMachine implements StateMachine<KvResult> {
  #map = new Map<string, string>();
  #applied = 0;

  /** The value of `key`, or null. */
  get(key: string): string | null {
    return this.#map.get(key) ?? null;
  }

  /** Number of keys. */
  get size(): number {
    return this.#map.size;
  }

  /** Highest applied log index. */
  get appliedIndex(): number {
    return this.#applied;
  }

  apply(commands: readonly AppliedCommand[]): KvResult[] {
    return commands.map((c) => this.#applyOne(c));
  }

  #applyOne(c: AppliedCommand): KvResult {
    let cmd: KvCommand;
    try {
      cmd = JSON.parse(decoder.decode(c.payload));
    } catch {
      return { ok: false, value: null, prev: null, index: c.index };
    }
    if (c.index <= this.#applied) {
      // Already applied (replay after restore): report without changing state.
      const v = this.get(cmd.key);
      return { ok: true, value: v, prev: v, index: c.index };
    }
    this.#applied = c.index;
    const prev = this.get(cmd.key);
    switch (cmd.op) {
      case "put":
        this.#map.set(cmd.key, cmd.value);
        return { ok: true, value: cmd.value, prev, index: c.index };
      case "append": {
        const v = (prev ?? "") + cmd.value;
        this.#map.set(cmd.key, v);
        return { ok: true, value: v, prev, index: c.index };
      }
      case "delete":
        this.#map.delete(cmd.key);
        return { ok: true, value: null, prev, index: c.index };
      case "cas":
        if (prev !== cmd.expected) return { ok: false, value: prev, prev, index: c.index };
        this.#map.set(cmd.key, cmd.value);
        return { ok: true, value: cmd.value, prev, index: c.index };
      default:
        return { ok: false, value: null, prev: null, index: c.index };
    }
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify({ applied: this.#applied, entries: [...this.#map] }));
  }

  restore(data: Uint8Array): void {
    let s: { applied: number; entries: [string, string][] };
    try {
      s = JSON.parse(decoder.decode(data));
      if (!Array.isArray(s.entries) || typeof s.applied !== "number") throw new TypeError("shape");
    } catch {
      throw new RangeError(
        "Snapshot is not a key-value snapshot: it holds another application's state (raftlog serve --app)",
      );
    }
    this.#map = new Map(s.entries);
    this.#applied = s.applied;
  }
}
