/**
 * Recorded concurrent histories: the operations a linearizability check reads,
 * how invoke/completion events are paired into operations, and a recorder for
 * tests that produce histories themselves.
 *
 * Time is any monotonic number (an event index, a simulator tick); only its
 * order matters. An operation whose outcome is unknown has `return: Infinity`.
 *
 * @module
 */

/**
 * How an operation ended, in Jepsen's terms.
 *
 * - `"ok"`: it completed and took effect at some instant between `call` and `return`.
 * - `"fail"`: it completed and certainly did not take effect; the checker drops it.
 * - `"info"`: the outcome is unknown (a timeout, a crash, or no completion by the
 *   end of the history). It may have taken effect at any instant after `call`, or
 *   never, and its output is unknown.
 *
 * @example
 * ```ts
 * import type { OperationStatus } from "./history.ts";
 * const status: OperationStatus = "info";
 * ```
 */
export type OperationStatus = "ok" | "fail" | "info";

/**
 * One operation of a concurrent history.
 *
 * Invariant: `call < return`; `return` is `Infinity` when `status` is `"info"`.
 *
 * @example
 * ```ts
 * import type { Operation } from "./history.ts";
 * const read: Operation<{ f: "read" }, number> = {
 *   process: 1,
 *   input: { f: "read" },
 *   output: 3,
 *   call: 10,
 *   return: 14,
 *   status: "ok",
 * };
 * ```
 */
export interface Operation<Input = unknown, Output = unknown> {
  /** The client (Jepsen "process") that issued it; one operation in flight per process. */
  readonly process: number | string;
  /** What was asked, e.g. `{ f: "write", value: 3 }`. */
  readonly input: Input;
  /** What the completion reported; absent when unknown (`"info"`) or irrelevant. */
  readonly output?: Output;
  /** When it was invoked. */
  readonly call: number;
  /** When it completed; `Infinity` if the outcome is unknown. */
  readonly return: number;
  /** How it ended. */
  readonly status: OperationStatus;
  /** Line (or entry) of the invoke in the source file, for messages. */
  readonly line?: number;
}

/**
 * The kind of a raw history event: an invocation or one of its completions.
 *
 * @example
 * ```ts
 * import type { EventType } from "./history.ts";
 * const t: EventType = "invoke";
 * ```
 */
export type EventType = "invoke" | OperationStatus;

/**
 * A raw history event in Jepsen's shape, before invokes are paired with completions.
 *
 * @example
 * ```ts
 * import type { HistoryEvent } from "./history.ts";
 * const e: HistoryEvent = { process: 0, type: "invoke", f: "write", value: 3, line: 1 };
 * ```
 */
export interface HistoryEvent {
  /** The client that issued the operation. */
  readonly process: number | string;
  /** Invocation or completion kind. */
  readonly type: EventType;
  /** The function, e.g. `"read"`, `"append"`. */
  readonly f: string;
  /** The key the operation addresses, for keyed models. */
  readonly key?: string;
  /** The argument (on invoke) or the result (on completion). */
  readonly value: unknown;
  /** Line (or entry number) in the source, for messages. */
  readonly line?: number;
}

/**
 * A history file (or one of its lines) could not be understood.
 *
 * @example
 * ```ts
 * import { HistoryParseError } from "./history.ts";
 * const e = new HistoryParseError("unknown type :foo", { source: "a.log", line: 3 });
 * if (e.message !== "a.log:3: unknown type :foo") throw new Error(e.message);
 * ```
 */
export class HistoryParseError extends Error {
  /** The file or label the history came from, if known. */
  readonly source: string | undefined;
  /** The 1-based line (or entry) that is wrong, if known. */
  readonly line: number | undefined;

  /** Builds the error; the message is prefixed with `source:line: `. */
  constructor(message: string, options: { source?: string; line?: number } = {}) {
    const where = [options.source, options.line].filter((p) => p !== undefined).join(":");
    super(where === "" ? message : `${where}: ${message}`);
    this.name = "HistoryParseError";
    this.source = options.source;
    this.line = options.line;
  }
}

/**
 * How {@linkcode pairEvents} turns the events of one operation into its input and output.
 *
 * @example
 * ```ts
 * import type { EventDecoder } from "./history.ts";
 * const decoder: EventDecoder<{ f: string; value: unknown }, unknown> = {
 *   input: (invoke) => ({ f: invoke.f, value: invoke.value }),
 *   output: (_input, completion) => completion.value,
 * };
 * ```
 */
export interface EventDecoder<Input, Output> {
  /** The operation's input, from its invoke event. Throw `TypeError` if malformed. */
  input(invoke: HistoryEvent): Input;
  /**
   * The output of an `ok` completion, or `undefined` if the operation has none
   * worth checking. Throw `TypeError` if malformed.
   */
  output(input: Input, completion: HistoryEvent): Output | undefined;
}

/** Options of {@linkcode pairEvents}. */
export interface PairEventsOptions {
  /** File name or label used in error messages. */
  readonly source?: string;
}

/**
 * Pairs invoke events with their completions per process, as Jepsen does.
 *
 * Events must be in real-time order; an event's time is its index in `events`.
 * An invoke without a completion by the end becomes an `"info"` operation. A
 * completion's `f` must match its invoke's. Throws {@linkcode HistoryParseError}
 * naming the line for a completion without an invoke, a second invoke while one
 * is in flight, or a decoder error. Operations are returned in invocation order.
 *
 * @example
 * ```ts
 * import { pairEvents } from "./history.ts";
 * const ops = pairEvents([
 *   { process: 0, type: "invoke", f: "read", value: null },
 *   { process: 1, type: "invoke", f: "write", value: 1 },
 *   { process: 0, type: "ok", f: "read", value: 1 },
 * ], {
 *   input: (e) => ({ f: e.f, value: e.value }),
 *   output: (_input, e) => e.value,
 * });
 * if (ops.length !== 2 || ops[1]?.status !== "info") throw new Error("unexpected");
 * ```
 */
export function pairEvents<Input, Output>(
  events: readonly HistoryEvent[],
  decoder: EventDecoder<Input, Output>,
  options: PairEventsOptions = {},
): Operation<Input, Output>[] {
  const source = options.source;
  const where = (e: HistoryEvent, i: number) => {
    const line = e.line ?? i + 1;
    return source === undefined ? { line } : { source, line };
  };
  const decode = <T>(e: HistoryEvent, i: number, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof HistoryParseError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new HistoryParseError(message, where(e, i));
    }
  };
  interface Pending {
    readonly slot: number;
    readonly event: HistoryEvent;
    readonly input: Input;
    readonly call: number;
  }
  const inFlight = new Map<number | string, Pending>();
  const slots: (Operation<Input, Output> | Pending)[] = [];
  const pendingToInfo = (p: Pending): Operation<Input, Output> => {
    const line = p.event.line;
    const op = {
      process: p.event.process,
      input: p.input,
      call: p.call,
      return: Infinity,
      status: "info" as const,
    };
    return line === undefined ? op : { ...op, line };
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type === "invoke") {
      if (inFlight.has(e.process)) {
        throw new HistoryParseError(
          `process ${e.process} invokes ${e.f} while its previous operation is still in flight`,
          where(e, i),
        );
      }
      const input = decode(e, i, () => decoder.input(e));
      const pending: Pending = { slot: slots.length, event: e, input, call: i };
      slots.push(pending);
      inFlight.set(e.process, pending);
      continue;
    }
    const pending = inFlight.get(e.process);
    if (pending === undefined) {
      throw new HistoryParseError(
        `process ${e.process} completes ${e.f} (${e.type}) without a preceding invoke`,
        where(e, i),
      );
    }
    if (pending.event.f !== e.f) {
      throw new HistoryParseError(
        `process ${e.process} completes ${e.f} but invoked ${pending.event.f}`,
        where(e, i),
      );
    }
    inFlight.delete(e.process);
    if (e.type === "info") {
      slots[pending.slot] = pendingToInfo(pending);
      continue;
    }
    const base = {
      process: e.process,
      input: pending.input,
      call: pending.call,
      return: i,
      status: e.type,
    };
    const output = e.type === "ok"
      ? decode(e, i, () => decoder.output(pending.input, e))
      : undefined;
    const withOutput = output === undefined ? base : { ...base, output };
    const line = pending.event.line;
    slots[pending.slot] = line === undefined ? withOutput : { ...withOutput, line };
  }
  for (const pending of inFlight.values()) slots[pending.slot] = pendingToInfo(pending);
  return slots as Operation<Input, Output>[];
}

/**
 * Records a history as a test drives concurrent clients, with a logical clock
 * (each invoke and completion is one tick), so no wall clock is read.
 *
 * @example
 * ```ts
 * import { HistoryRecorder } from "./history.ts";
 * const rec = new HistoryRecorder<{ f: string; value?: number }, number>();
 * const w = rec.invoke(1, { f: "write", value: 1 });
 * const r = rec.invoke(2, { f: "read" });
 * rec.ok(w);
 * rec.ok(r, 1);
 * const history = rec.history();
 * if (history.length !== 2) throw new Error("expected two operations");
 * ```
 */
export class HistoryRecorder<Input = unknown, Output = unknown> {
  #time = 0;
  #slots: (
    | Operation<Input, Output>
    | { readonly process: number | string; readonly input: Input; readonly call: number }
  )[] = [];
  #open = new Set<number>();

  /** Records an invocation by `process` and returns a handle for its completion. */
  invoke(process: number | string, input: Input): number {
    const handle = this.#slots.length;
    this.#slots.push({ process, input, call: this.#time++ });
    this.#open.add(handle);
    return handle;
  }

  /** Records that the operation completed and took effect, with its output. */
  ok(handle: number, output?: Output): void {
    const p = this.#take(handle);
    const op = { ...p, return: this.#time++, status: "ok" as const };
    this.#slots[handle] = output === undefined ? op : { ...op, output };
  }

  /** Records that the operation completed without taking effect. */
  fail(handle: number): void {
    const p = this.#take(handle);
    this.#slots[handle] = { ...p, return: this.#time++, status: "fail" };
  }

  /** Records that the operation's outcome is unknown (timeout, crash). */
  info(handle: number): void {
    const p = this.#take(handle);
    this.#slots[handle] = { ...p, return: Infinity, status: "info" };
  }

  /** The history so far; operations still open are reported as `"info"`. */
  history(): Operation<Input, Output>[] {
    return this.#slots.map((s, i) =>
      this.#open.has(i)
        ? { ...s, return: Infinity, status: "info" as const }
        : s as Operation<Input, Output>
    );
  }

  #take(handle: number) {
    if (!this.#open.has(handle)) {
      throw new RangeError(`Cannot complete operation ${handle}: it is not in flight`);
    }
    this.#open.delete(handle);
    const p = this.#slots[handle]!;
    return { process: p.process, input: p.input, call: p.call };
  }
}

/**
 * A one-line description of an operation for reports, e.g.
 * `process 3 {"f":"read"} -> 4 (ok, call 12, return 15)`.
 *
 * @example
 * ```ts
 * import { formatOperation } from "./history.ts";
 * const s = formatOperation({
 *   process: 3, input: { f: "read" }, output: 4, call: 12, return: 15, status: "ok",
 * });
 * if (!s.startsWith("process 3")) throw new Error(s);
 * ```
 */
export function formatOperation(op: Operation): string {
  const output = op.status === "ok" && op.output !== undefined ? ` -> ${stringify(op.output)}` : "";
  const end = op.return === Infinity ? "no return" : `return ${op.return}`;
  const line = op.line === undefined ? "" : `, line ${op.line}`;
  return `process ${op.process} ${
    stringify(op.input)
  }${output} (${op.status}, call ${op.call}, ${end}${line})`;
}

function stringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
