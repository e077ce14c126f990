/**
 * A single read/write/compare-and-set register, with the semantics Jepsen's
 * etcd tests use: the register starts as `null` (Jepsen's `nil`, "never
 * written"), a read returns the current value, a write replaces it, and a cas
 * `[from, to]` that completed `"ok"` found `from` and stored `to`.
 *
 * @module
 */

import type { JsonCall, JsonCodec } from "./parse_json.ts";
import { accept, hashString, type Model, REJECT } from "./model.ts";

/**
 * A register value: a JSON scalar. `null` is the initial, never-written value.
 *
 * @example
 * ```ts
 * import type { RegisterValue } from "./model_register.ts";
 * const v: RegisterValue = 3;
 * ```
 */
export type RegisterValue = string | number | boolean | null;

/**
 * A register operation, in Jepsen's shape (`cas` carries `[from, to]`).
 *
 * @example
 * ```ts
 * import type { RegisterInput } from "./model_register.ts";
 * const ops: RegisterInput[] = [
 *   { f: "read" },
 *   { f: "write", value: 1 },
 *   { f: "cas", value: [1, 2] },
 * ];
 * ```
 */
export type RegisterInput =
  | { readonly f: "read" }
  | { readonly f: "write"; readonly value: RegisterValue }
  | { readonly f: "cas"; readonly value: readonly [RegisterValue, RegisterValue] };

/**
 * The output of a register operation: the value a read returned (a missing
 * output reads as `null`). Writes and cas operations have no output to check.
 *
 * @example
 * ```ts
 * import type { RegisterOutput } from "./model_register.ts";
 * const read: RegisterOutput = null;
 * ```
 */
export type RegisterOutput = RegisterValue;

const NULL_HASH = 0x6b43a9b5;
const TRUE_HASH = 0x2f1e7d13;
const FALSE_HASH = 0x1d8e4c27;

function hashValue(v: RegisterValue): number {
  if (v === null) return NULL_HASH;
  if (typeof v === "number") return Number.isInteger(v) ? v | 0 : hashString(String(v));
  if (typeof v === "boolean") return v ? TRUE_HASH : FALSE_HASH;
  return hashString(v);
}

/**
 * The register model. Its state is the register's value.
 *
 * @example
 * ```ts
 * import { registerModel } from "./model_register.ts";
 * const s0 = registerModel.init();
 * const w = registerModel.step(s0, { f: "write", value: 4 }, undefined);
 * if (!w.ok) throw new Error("write rejected");
 * const r = registerModel.step(w.state, { f: "read" }, 4);
 * if (!r.ok) throw new Error("read of the written value rejected");
 * if (registerModel.step(w.state, { f: "cas", value: [3, 5] }, undefined).ok) {
 *   throw new Error("cas with a wrong expected value accepted");
 * }
 * ```
 */
export const registerModel: Model<RegisterValue, RegisterInput, RegisterOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.f) {
      case "read":
        return (output ?? null) === state ? accept(state) : REJECT;
      case "write":
        return accept(input.value);
      case "cas":
        return input.value[0] === state ? accept(input.value[1]) : REJECT;
    }
  },
  stepUnknown(state, input) {
    switch (input.f) {
      case "read":
        return accept(state);
      case "write":
        return accept(input.value);
      case "cas":
        // A cas whose compare fails has no effect, which leaving it out covers.
        return input.value[0] === state ? accept(input.value[1]) : REJECT;
    }
  },
  readOnly: (input) => input.f === "read",
  equal: (a, b) => a === b,
  hash: hashValue,
};

function scalar(value: unknown, what: string): RegisterValue {
  if (
    value === null || typeof value === "string" || typeof value === "boolean" ||
    (typeof value === "number" && Number.isFinite(value))
  ) {
    return value;
  }
  throw new TypeError(`${what} must be a JSON scalar (string, number, boolean or null)`);
}

/**
 * Decodes JSON history records into register operations: `read` (value
 * ignored on invoke; the `ok` value is what was read), `write` (value), `cas`
 * (value `[from, to]`).
 *
 * @example
 * ```ts
 * import { registerJson } from "./model_register.ts";
 * const input = registerJson.input({ f: "cas", value: [1, 2] });
 * if (input.f !== "cas") throw new Error("unexpected");
 * ```
 */
export const registerJson: JsonCodec<RegisterInput, RegisterOutput> = {
  input(call: JsonCall): RegisterInput {
    switch (call.f) {
      case "read":
        return { f: "read" };
      case "write":
        return { f: "write", value: scalar(call.value, "write value") };
      case "cas": {
        const v = call.value;
        if (!Array.isArray(v) || v.length !== 2) {
          throw new TypeError("cas value must be [from, to]");
        }
        return { f: "cas", value: [scalar(v[0], "cas from"), scalar(v[1], "cas to")] };
      }
      default:
        throw new TypeError(`unknown register function "${call.f}" (expected read, write, cas)`);
    }
  },
  output(input, value) {
    return input.f === "read" ? scalar(value ?? null, "read result") : undefined;
  },
};
