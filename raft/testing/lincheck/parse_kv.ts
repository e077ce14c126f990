/**
 * Reads key-value histories written as one EDN map per line, the format of
 * the kv-append histories published with Porcupine:
 *
 * ```text
 * {:process 3, :type :invoke, :f :append, :key "4", :value "x 3 1 y"}
 * {:process 3, :type :ok, :f :append, :key "4", :value "x 3 1 y"}
 * ```
 *
 * `:type` is `:invoke`, `:ok`, `:fail` or `:info`; `:f` is `:get`, `:put` or
 * `:append`; the `:value` of a `get`'s `:ok` line is what was read. Blank lines
 * are skipped.
 *
 * @module
 */

import { ednToJson, readEdn } from "./_edn.ts";
import {
  type EventType,
  type HistoryEvent,
  HistoryParseError,
  type Operation,
  pairEvents,
} from "./history.ts";
import { type KvInput, kvJson, type KvOutput } from "./model_kv.ts";

/** Options of {@linkcode parseKvLog}. */
export interface ParseKvOptions {
  /** File name used in error messages. */
  readonly source?: string;
}

/** `{:process N, :type :T, :f :F, :key "K", :value nil|"V"}` with no escapes in strings. */
const CANONICAL =
  /^\{:process (\d+), :type :([a-z]+), :f :([a-z]+), :key "([^"\\]*)", :value (?:nil|"([^"\\]*)")\}$/;

const TYPES: ReadonlySet<string> = new Set([":invoke", ":ok", ":fail", ":info"]);

/**
 * Parses a key-value EDN history into operations for `kvModel`. Throws
 * {@linkcode HistoryParseError} naming the source and line of anything it
 * cannot read.
 *
 * @example
 * ```ts
 * import { parseKvLog } from "./parse_kv.ts";
 * const ops = parseKvLog([
 *   '{:process 0, :type :invoke, :f :get, :key "1", :value nil}',
 *   '{:process 0, :type :ok, :f :get, :key "1", :value ""}',
 * ].join("\n"));
 * if (ops.length !== 1 || ops[0]?.output !== "") throw new Error("unexpected");
 * ```
 */
export function parseKvLog(
  text: string,
  options: ParseKvOptions = {},
): Operation<KvInput, KvOutput>[] {
  const source = options.source;
  const events: HistoryEvent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    const where = source === undefined ? { line: i + 1 } : { source, line: i + 1 };
    let map: unknown;
    const fast = CANONICAL.exec(line);
    if (fast !== null) {
      // The common shape, read without the general EDN reader (several times faster).
      const [, process, type, f, key, value] = fast as unknown as string[];
      map = { process: Number(process), type: `:${type}`, f: `:${f}`, key, value: value ?? null };
    } else {
      try {
        map = ednToJson(readEdn(line));
      } catch (err) {
        throw new HistoryParseError(`not an EDN map: ${(err as Error).message}`, where);
      }
    }
    if (typeof map !== "object" || map === null || Array.isArray(map)) {
      throw new HistoryParseError("expected an EDN map {:process …, :type …, :f …}", where);
    }
    const { process, type, f, key, value } = map as Record<string, unknown>;
    if (typeof process !== "number" && typeof process !== "string") {
      throw new HistoryParseError(":process must be a number or a string", where);
    }
    if (typeof type !== "string" || !TYPES.has(type)) {
      throw new HistoryParseError(
        `:type must be :invoke, :ok, :fail or :info, got ${String(type)}`,
        where,
      );
    }
    if (typeof f !== "string" || !f.startsWith(":")) {
      throw new HistoryParseError(":f must be a keyword such as :get", where);
    }
    if (key !== undefined && typeof key !== "string") {
      throw new HistoryParseError(":key must be a string", where);
    }
    const event = {
      process,
      type: type.slice(1) as EventType,
      f: f.slice(1),
      value: value ?? null,
      line: i + 1,
    };
    events.push(key === undefined ? event : { ...event, key });
  }
  return pairEvents(events, {
    input: (e) =>
      kvJson.input(
        e.key === undefined ? { f: e.f, value: e.value } : { f: e.f, key: e.key, value: e.value },
      ),
    output: (input, e) => kvJson.output(input, e.value),
  }, source === undefined ? {} : { source });
}
