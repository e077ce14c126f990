/**
 * The JSON history format, written by raftlog's simulator and chaos suites and
 * read by the lincheck CLI.
 *
 * A history is either a JSON array of events or JSON Lines (one event object per
 * line; blank lines are ignored), in real-time order:
 *
 * ```json
 * {"process": 1, "type": "invoke", "f": "write", "value": 3}
 * {"process": 2, "type": "invoke", "f": "read", "value": null}
 * {"process": 1, "type": "ok", "f": "write", "value": 3}
 * {"process": 2, "type": "info", "f": "read", "value": null}
 * ```
 *
 * - `process` (number or string): the client; it has at most one operation in flight.
 * - `type`: `"invoke"` starts an operation; `"ok"` (took effect), `"fail"` (did not
 *   take effect) or `"info"` (unknown outcome) completes the process's pending one.
 *   An invoke never completed counts as `"info"`.
 * - `f`: the function, e.g. `"read"`, `"write"`, `"cas"`, `"get"`, `"put"`,
 *   `"append"`; the completion repeats the invoke's `f`.
 * - `key` (optional string): the register key or stream name, for keyed models.
 * - `value`: on invoke the argument, on `"ok"` the result (what a read returned);
 *   on `"fail"` and `"info"` it is ignored. A missing `value` is `null`.
 *
 * Invokes are paired with completions per process as Jepsen does; an event's time
 * is its position. Each model documents the `f` and `value` shapes it accepts
 * through its {@linkcode JsonCodec} (`registerJson`, `kvJson`, `streamJson`).
 * Positions in error messages are line numbers for JSON Lines and 1-based entry
 * numbers for a JSON array.
 *
 * @module
 */

import {
  type EventType,
  type HistoryEvent,
  HistoryParseError,
  type Operation,
  pairEvents,
} from "./history.ts";

/**
 * The model-independent part of a JSON operation, as passed to a codec.
 *
 * @example
 * ```ts
 * import type { JsonCall } from "./parse_json.ts";
 * const call: JsonCall = { f: "append", key: "orders-1", value: { events: ["e1"] } };
 * ```
 */
export interface JsonCall {
  /** The function. */
  readonly f: string;
  /** The key or stream, if the event had one. */
  readonly key?: string;
  /** The invoke's value. */
  readonly value: unknown;
}

/**
 * Turns JSON calls and results into a model's typed input and output. Methods
 * throw `TypeError` for malformed values; the parser adds file and line.
 *
 * @example
 * ```ts
 * import type { JsonCodec } from "./parse_json.ts";
 * const counter: JsonCodec<{ f: "inc" | "get" }, number> = {
 *   input(call) {
 *     if (call.f !== "inc" && call.f !== "get") throw new TypeError(`unknown f ${call.f}`);
 *     return { f: call.f };
 *   },
 *   output: (_input, value) => Number(value),
 * };
 * ```
 */
export interface JsonCodec<Input, Output> {
  /** The input, from the invoke's `f`, `key` and `value`. */
  input(call: JsonCall): Input;
  /** The output of an `"ok"` completion, from its `value`; `undefined` if none to check. */
  output(input: Input, value: unknown): Output | undefined;
}

/**
 * The identity codec: inputs stay `JsonCall`s, outputs stay raw JSON values.
 *
 * @example
 * ```ts
 * import { parseJsonHistory, rawJson } from "./parse_json.ts";
 * const ops = parseJsonHistory('[{"process":0,"type":"invoke","f":"x","value":1}]', rawJson);
 * if (ops[0]?.input.f !== "x") throw new Error("unexpected");
 * ```
 */
export const rawJson: JsonCodec<JsonCall, unknown> = {
  input: (call) => call,
  output: (_input, value) => value,
};

/** Options of {@linkcode parseJsonHistory}. */
export interface ParseJsonOptions {
  /** File name used in error messages. */
  readonly source?: string;
}

const TYPES: ReadonlySet<string> = new Set(["invoke", "ok", "fail", "info"]);

function toEvent(raw: unknown, line: number): HistoryEvent {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new TypeError("expected an event object");
  }
  const r = raw as Record<string, unknown>;
  const { process, type, f, key } = r;
  if (typeof process !== "number" && typeof process !== "string") {
    throw new TypeError('"process" must be a number or a string');
  }
  if (typeof type !== "string" || !TYPES.has(type)) {
    throw new TypeError(
      `"type" must be "invoke", "ok", "fail" or "info", got ${JSON.stringify(type)}`,
    );
  }
  if (typeof f !== "string") throw new TypeError('"f" must be a string');
  if (key !== undefined && typeof key !== "string") {
    throw new TypeError('"key" must be a string when present');
  }
  const base = { process, type: type as EventType, f, value: r.value ?? null, line };
  return key === undefined ? base : { ...base, key };
}

/**
 * Parses a JSON (array) or JSON Lines history into operations, decoding each
 * call and result with `codec`. Throws {@linkcode HistoryParseError} naming the
 * source and line (or entry) for malformed input.
 *
 * @example
 * ```ts
 * import { parseJsonHistory } from "./parse_json.ts";
 * import { registerJson } from "./model_register.ts";
 * const text = [
 *   '{"process": 0, "type": "invoke", "f": "write", "value": 1}',
 *   '{"process": 0, "type": "ok", "f": "write", "value": 1}',
 *   '{"process": 1, "type": "invoke", "f": "read", "value": null}',
 *   '{"process": 1, "type": "ok", "f": "read", "value": 1}',
 * ].join("\n");
 * const ops = parseJsonHistory(text, registerJson, { source: "h.jsonl" });
 * if (ops.length !== 2 || ops[1]?.output !== 1) throw new Error("unexpected");
 * ```
 */
export function parseJsonHistory<Input, Output>(
  text: string,
  codec: JsonCodec<Input, Output>,
  options: ParseJsonOptions = {},
): Operation<Input, Output>[] {
  const where = (line?: number) => {
    const w: { source?: string; line?: number } = {};
    if (options.source !== undefined) w.source = options.source;
    if (line !== undefined) w.line = line;
    return w;
  };
  const raws: { raw: unknown; line: number }[] = [];
  if (text.trimStart().startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new HistoryParseError(`invalid JSON: ${(err as Error).message}`, where());
    }
    if (!Array.isArray(parsed)) throw new HistoryParseError("expected a JSON array", where());
    parsed.forEach((raw, i) => raws.push({ raw, line: i + 1 }));
  } else {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const t = lines[i]!.trim();
      if (t === "") continue;
      try {
        raws.push({ raw: JSON.parse(t), line: i + 1 });
      } catch (err) {
        throw new HistoryParseError(`invalid JSON: ${(err as Error).message}`, where(i + 1));
      }
    }
  }
  const events = raws.map(({ raw, line }) => {
    try {
      return toEvent(raw, line);
    } catch (err) {
      throw new HistoryParseError((err as Error).message, where(line));
    }
  });
  return pairEvents(events, {
    input: (e) =>
      codec.input(
        e.key === undefined ? { f: e.f, value: e.value } : { f: e.f, key: e.key, value: e.value },
      ),
    output: (input, e) => codec.output(input, e.value),
  }, options.source === undefined ? {} : { source: options.source });
}
