/**
 * The sequential specification a history is checked against, plus helpers for
 * writing one: step results, hashing, and a powerset adapter for models whose
 * operations may lead to several states.
 *
 * @module
 */

import type { Operation } from "./history.ts";

/**
 * The outcome of applying one operation to a model state: either the
 * operation is allowed (with its result) and leads to `state`, or it is not.
 *
 * @example
 * ```ts
 * import { accept, REJECT, type StepResult } from "./model.ts";
 * const yes: StepResult<number> = accept(1);
 * const no: StepResult<number> = REJECT;
 * if (!yes.ok || no.ok) throw new Error("unexpected");
 * ```
 */
export type StepResult<State> =
  | { readonly ok: true; readonly state: State }
  | { readonly ok: false };

/**
 * The shared "not allowed" step result (no allocation per rejected step).
 *
 * @example
 * ```ts
 * import { REJECT } from "./model.ts";
 * if (REJECT.ok) throw new Error("REJECT must not be ok");
 * ```
 */
export const REJECT: StepResult<never> = Object.freeze({ ok: false });

/**
 * An allowed step leading to `state`.
 *
 * @example
 * ```ts
 * import { accept } from "./model.ts";
 * const r = accept("x");
 * if (!r.ok || r.state !== "x") throw new Error("unexpected");
 * ```
 */
export function accept<State>(state: State): StepResult<State> {
  return { ok: true, state };
}

/**
 * A sequential specification. States must be treated as immutable: `step`
 * returns a new state and never modifies its argument, because the checker
 * keeps old states to backtrack to.
 *
 * @example
 * ```ts
 * import { accept, REJECT, type Model } from "./model.ts";
 * type In = { f: "inc" } | { f: "get" };
 * const counter: Model<number, In, number> = {
 *   init: () => 0,
 *   step: (s, input, output) =>
 *     input.f === "inc" ? accept(s + 1) : output === s ? accept(s) : REJECT,
 *   stepUnknown: (s, input) => accept(input.f === "inc" ? s + 1 : s),
 *   readOnly: (input) => input.f === "get",
 *   equal: (a, b) => a === b,
 *   hash: (s) => s,
 * };
 * ```
 */
export interface Model<State, Input, Output> {
  /** The state before any operation. */
  init(): State;
  /**
   * Applies an operation that completed (`"ok"`) with `output` (absent if its
   * completion carried none). Rejects if that output is impossible in `state`.
   */
  step(state: State, input: Input, output: Output | undefined): StepResult<State>;
  /**
   * Applies an operation whose outcome is unknown (`"info"`), so any output is
   * acceptable. Because the checker may also leave such an operation out, return
   * {@linkcode REJECT} when it could not have had an effect in `state` (e.g. a
   * compare-and-set whose compare fails): that prunes the search without losing
   * histories.
   */
  stepUnknown(state: State, input: Input): StepResult<State>;
  /**
   * True if the operation never changes the state. Unknown-outcome read-only
   * operations constrain nothing and are removed before the search.
   */
  readOnly?(input: Input): boolean;
  /** State equality, used with {@linkcode Model.hash} to memoize search points. */
  equal(a: State, b: State): boolean;
  /** A 32-bit integer hash consistent with `equal`. */
  hash(state: State): number;
  /**
   * Splits a history into independent sub-histories (e.g. one per key) that are
   * each checked alone; linearizability is compositional (Herlihy & Wing), so the
   * whole is linearizable iff every part is.
   */
  partition?(
    history: readonly Operation<Input, Output>[],
  ): readonly (readonly Operation<Input, Output>[])[];
}

/**
 * A specification whose operations may lead to several states (e.g. a queue
 * whose dequeue order is unspecified). Turn it into a {@linkcode Model} with
 * {@linkcode determinize}.
 *
 * @example
 * ```ts
 * import type { NondeterministicModel } from "./model.ts";
 * // A register where a write may be silently dropped.
 * const lossy: NondeterministicModel<number, { f: "write"; value: number }, never> = {
 *   init: () => 0,
 *   step: (s, input) => [s, input.value],
 *   stepUnknown: (s, input) => [s, input.value],
 *   equal: (a, b) => a === b,
 *   hash: (s) => s,
 * };
 * ```
 */
export interface NondeterministicModel<State, Input, Output> {
  /** The possible states before any operation (usually one). */
  init(): State;
  /** All states the operation may lead to with this output; empty if impossible. */
  step(state: State, input: Input, output: Output | undefined): readonly State[];
  /** All states an operation with unknown outcome may lead to. */
  stepUnknown(state: State, input: Input): readonly State[];
  /** As {@linkcode Model.readOnly}. */
  readOnly?(input: Input): boolean;
  /** State equality. */
  equal(a: State, b: State): boolean;
  /** A 32-bit integer hash consistent with `equal`. */
  hash(state: State): number;
  /** As {@linkcode Model.partition}. */
  partition?(
    history: readonly Operation<Input, Output>[],
  ): readonly (readonly Operation<Input, Output>[])[];
}

/**
 * Turns a nondeterministic model into a deterministic one over sets of states
 * (the powerset construction): an operation is allowed if it is allowed from at
 * least one state in the set, and leads to the set of all resulting states.
 *
 * @example
 * ```ts
 * import { determinize } from "./model.ts";
 * const model = determinize<number, { f: "write"; value: number }, never>({
 *   init: () => 0,
 *   step: (s, input) => [s, input.value],
 *   stepUnknown: (s, input) => [s, input.value],
 *   equal: (a, b) => a === b,
 *   hash: (s) => s,
 * });
 * const r = model.step(model.init(), { f: "write", value: 2 }, undefined);
 * if (!r.ok || r.state.length !== 2) throw new Error("expected two possible states");
 * ```
 */
export function determinize<State, Input, Output>(
  model: NondeterministicModel<State, Input, Output>,
): Model<readonly State[], Input, Output> {
  const collect = (
    states: readonly State[],
    next: (s: State) => readonly State[],
  ): StepResult<readonly State[]> => {
    const out: State[] = [];
    for (const s of states) {
      for (const n of next(s)) {
        if (!out.some((o) => model.equal(o, n))) out.push(n);
      }
    }
    return out.length === 0 ? REJECT : accept(out);
  };
  const result: Model<readonly State[], Input, Output> = {
    init: () => [model.init()],
    step: (states, input, output) => collect(states, (s) => model.step(s, input, output)),
    stepUnknown: (states, input) => collect(states, (s) => model.stepUnknown(s, input)),
    equal: (a, b) => a.length === b.length && a.every((x) => b.some((y) => model.equal(x, y))),
    // Order-insensitive: sets with the same members hash alike.
    hash: (states) => {
      let h = 0;
      for (const s of states) h = (h + mixHash(model.hash(s))) | 0;
      return h;
    },
  };
  const readOnly = model.readOnly;
  if (readOnly !== undefined) result.readOnly = (input) => readOnly.call(model, input);
  const partition = model.partition;
  if (partition !== undefined) result.partition = (history) => partition.call(model, history);
  return result;
}

/**
 * FNV-1a hash of a string's UTF-16 code units, as a 32-bit signed integer.
 * `seed` continues a previous hash, so `hashString(b, hashString(a))` equals
 * `hashString(a + b)`.
 *
 * @example
 * ```ts
 * import { hashString } from "./model.ts";
 * if (hashString("ab") !== hashString("b", hashString("a"))) throw new Error("not incremental");
 * ```
 */
export function hashString(s: string, seed: number = 0x811c9dc5 | 0): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  return h;
}

/**
 * Scrambles a 32-bit integer (a murmur3 finalizer), for combining hashes.
 *
 * @example
 * ```ts
 * import { mixHash } from "./model.ts";
 * if (mixHash(1) === mixHash(2)) throw new Error("collision");
 * ```
 */
export function mixHash(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
