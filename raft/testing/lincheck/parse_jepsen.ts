/**
 * Reads Jepsen register logs, the format of the etcd histories published with
 * Knossos and Porcupine: one event per line,
 *
 * ```text
 * INFO  jepsen.util - 3	:invoke	:cas	[1 4]
 * INFO  jepsen.util - 3	:ok	:cas	[1 4]
 * ```
 *
 * i.e. `jepsen.util - <process> <:type> <:f> <value>` with fields separated by
 * tabs or spaces, where `<value>` is EDN (`nil`, a number, `[from to]`,
 * `:timed-out`). Blank lines are skipped; any other line is an error.
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
import { type RegisterInput, registerJson, type RegisterOutput } from "./model_register.ts";

/** Options of {@linkcode parseJepsenLog}. */
export interface ParseJepsenOptions {
  /** File name used in error messages. */
  readonly source?: string;
}

const LINE = /jepsen\.util\s+-\s+(\S+)\s+:(\S+)\s+:(\S+)\s*(.*)$/;
const TYPES: ReadonlySet<string> = new Set(["invoke", "ok", "fail", "info"]);

/**
 * Parses a Jepsen register log into register operations (for
 * `registerModel`). Throws {@linkcode HistoryParseError} naming the source and
 * line of anything it cannot read.
 *
 * @example
 * ```ts
 * import { parseJepsenLog } from "./parse_jepsen.ts";
 * const ops = parseJepsenLog([
 *   "INFO  jepsen.util - 0\t:invoke\t:write\t3",
 *   "INFO  jepsen.util - 1\t:invoke\t:read\tnil",
 *   "INFO  jepsen.util - 0\t:ok\t:write\t3",
 *   "INFO  jepsen.util - 1\t:ok\t:read\t3",
 * ].join("\n"), { source: "etcd.log" });
 * if (ops.length !== 2 || ops[1]?.output !== 3) throw new Error("unexpected");
 * ```
 */
export function parseJepsenLog(
  text: string,
  options: ParseJepsenOptions = {},
): Operation<RegisterInput, RegisterOutput>[] {
  const source = options.source;
  const events: HistoryEvent[] = [];
  // Logs saved on Windows end their lines with \r\n.
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    const where = source === undefined ? { line: i + 1 } : { source, line: i + 1 };
    const m = LINE.exec(line);
    if (m === null) {
      throw new HistoryParseError(
        `expected "jepsen.util - <process> :<type> :<f> <value>", got ${JSON.stringify(line)}`,
        where,
      );
    }
    const [, processText, type, f, valueText] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    if (!TYPES.has(type)) {
      throw new HistoryParseError(
        `unknown type :${type} (expected :invoke, :ok, :fail, :info)`,
        where,
      );
    }
    let value: unknown;
    try {
      value = valueText === "" ? null : ednToJson(readEdn(valueText));
    } catch (err) {
      throw new HistoryParseError(
        `bad value ${JSON.stringify(valueText)}: ${(err as Error).message}`,
        where,
      );
    }
    const process = /^\d+$/.test(processText) ? Number(processText) : processText;
    events.push({ process, type: type as EventType, f, value, line: i + 1 });
  }
  return pairEvents(events, {
    input: (e) => registerJson.input({ f: e.f, value: e.value }),
    output: (input, e) => registerJson.output(input, e.value),
  }, source === undefined ? {} : { source });
}
