/**
 * A key-value map of strings with `get`, `put` and `append` (concatenation).
 * A key never written reads as the empty string. Keys are independent, so the
 * model partitions histories by key and its state is the value of one key.
 *
 * @module
 */

import type { Operation } from "./history.ts";
import { accept, hashString, type Model, REJECT } from "./model.ts";
import type { JsonCall, JsonCodec } from "./parse_json.ts";

/**
 * A key-value operation.
 *
 * @example
 * ```ts
 * import type { KvInput } from "./model_kv.ts";
 * const ops: KvInput[] = [
 *   { f: "put", key: "a", value: "x" },
 *   { f: "append", key: "a", value: "y" },
 *   { f: "get", key: "a" },
 * ];
 * ```
 */
export type KvInput =
  | { readonly f: "get"; readonly key: string }
  | { readonly f: "put" | "append"; readonly key: string; readonly value: string };

/**
 * The output of a key-value operation: the value a `get` returned (a missing
 * output reads as `""`); `put` and `append` have none to check.
 *
 * @example
 * ```ts
 * import type { KvOutput } from "./model_kv.ts";
 * const got: KvOutput = "xy";
 * ```
 */
export type KvOutput = string;

function partitionByKey(
  history: readonly Operation<KvInput, KvOutput>[],
): Operation<KvInput, KvOutput>[][] {
  const parts = new Map<string, Operation<KvInput, KvOutput>[]>();
  for (const op of history) {
    const part = parts.get(op.input.key);
    if (part === undefined) parts.set(op.input.key, [op]);
    else part.push(op);
  }
  return [...parts.values()];
}

/**
 * The state of one key: its value and the value's {@linkcode hashString} hash,
 * kept alongside so an append re-hashes only the appended text.
 *
 * @example
 * ```ts
 * import type { KvState } from "./model_kv.ts";
 * import { hashString } from "./model.ts";
 * const s: KvState = { value: "ab", hash: hashString("ab") };
 * ```
 */
export interface KvState {
  /** The key's current value ("" if never written). */
  readonly value: string;
  /** `hashString(value)`. */
  readonly hash: number;
}

const EMPTY: KvState = { value: "", hash: hashString("") };

function put(value: string): KvState {
  return { value, hash: hashString(value) };
}

// FNV-1a continues from the previous hash, so appending hashes only `suffix`.
function append(state: KvState, suffix: string): KvState {
  return { value: state.value + suffix, hash: hashString(suffix, state.hash) };
}

/**
 * The key-value model; its state is the value of the partition's one key.
 *
 * @example
 * ```ts
 * import { kvModel } from "./model_kv.ts";
 * const a = kvModel.step(kvModel.init(), { f: "append", key: "k", value: "x" }, undefined);
 * if (!a.ok || !kvModel.step(a.state, { f: "get", key: "k" }, "x").ok) {
 *   throw new Error("get after append should see the appended value");
 * }
 * ```
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => EMPTY,
  step(state, input, output) {
    switch (input.f) {
      case "get":
        return (output ?? "") === state.value ? accept(state) : REJECT;
      case "put":
        return accept(put(input.value));
      case "append":
        return accept(append(state, input.value));
    }
  },
  stepUnknown(state, input) {
    switch (input.f) {
      case "get":
        return accept(state);
      case "put":
        return accept(put(input.value));
      case "append":
        return accept(append(state, input.value));
    }
  },
  readOnly: (input) => input.f === "get",
  equal: (a, b) => a.hash === b.hash && a.value === b.value,
  hash: (state) => state.hash,
  partition: partitionByKey,
};

function text(value: unknown, what: string): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  return value;
}

/**
 * Decodes JSON history records into key-value operations: `get`, `put` and
 * `append` with a string `key` and (for `put`/`append`) a string `value`; the
 * `ok` value of a `get` is the string read (`null` reads as `""`).
 *
 * @example
 * ```ts
 * import { kvJson } from "./model_kv.ts";
 * const input = kvJson.input({ f: "append", key: "k", value: "x" });
 * if (input.f !== "append") throw new Error("unexpected");
 * ```
 */
export const kvJson: JsonCodec<KvInput, KvOutput> = {
  input(call: JsonCall): KvInput {
    const key = text(call.key, `${call.f} "key"`);
    switch (call.f) {
      case "get":
        return { f: "get", key };
      case "put":
      case "append":
        return { f: call.f, key, value: text(call.value, `${call.f} value`) };
      default:
        throw new TypeError(`unknown key-value function "${call.f}" (expected get, put, append)`);
    }
  },
  output(input, value) {
    return input.f === "get" ? text(value ?? "", "get result") : undefined;
  },
};
