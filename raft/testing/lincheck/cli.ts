/**
 * Command-line linearizability checker for recorded histories.
 *
 * ```sh
 * deno run --allow-read raft/testing/lincheck/cli.ts --model register --format jepsen etcd_*.log
 * ```
 *
 * Prints one verdict line per file (with the operations that could not be
 * placed when a history is not linearizable) and a summary line. Exit status: 0
 * if every history is linearizable, 1 if any is not, 2 on bad input (unknown
 * option, unreadable or malformed file), 3 if none is violated but some could
 * not be decided within `--max-steps` / `--timeout`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { checkHistory, type CheckOptions, type CheckResult } from "./check.ts";
import { formatOperation, HistoryParseError, type Operation } from "./history.ts";
import type { Model } from "./model.ts";
import { kvJson, kvModel } from "./model_kv.ts";
import { registerJson, registerModel } from "./model_register.ts";
import { streamJson, streamModel } from "./model_stream.ts";
import { parseJepsenLog } from "./parse_jepsen.ts";
import { type JsonCodec, parseJsonHistory } from "./parse_json.ts";
import { parseKvLog } from "./parse_kv.ts";

const USAGE =
  `Usage: lincheck --model register|kv|stream [--format jepsen|kv|json] [options] FILE...

Checks each history FILE for linearizability against the model.

  --model NAME      register (read/write/cas), kv (get/put/append per key),
                    stream (append with expected revision/read per stream)
  --format NAME     json (default; JSON array or JSON Lines, see parse_json.ts),
                    jepsen (Jepsen register log, model register),
                    kv (EDN map per line, model kv)
  --max-steps N     give up on a file after N search steps (verdict unknown)
  --timeout SECS    give up on a file after SECS seconds (verdict unknown)
  --time            print how long each file took
  -h, --help        show this help

Exit status: 0 all linearizable, 1 some not linearizable, 2 bad input,
3 none violated but some undecided.`;

/** How many unplaced and last-linearized operations a report lists. */
const REPORT_LIMIT = 8;

// deno-lint-ignore no-explicit-any
type AnyModel = Model<any, any, any>;

interface ModelEntry {
  readonly model: AnyModel;
  readonly json: JsonCodec<unknown, unknown>;
  /** The partition's key, for reports; undefined for unpartitioned models. */
  readonly label?: (op: Operation) => string;
}

const MODELS: Readonly<Record<string, ModelEntry>> = {
  register: { model: registerModel, json: registerJson as JsonCodec<unknown, unknown> },
  kv: {
    model: kvModel,
    json: kvJson as JsonCodec<unknown, unknown>,
    label: (op) => `key ${JSON.stringify((op.input as { key: string }).key)}`,
  },
  stream: {
    model: streamModel,
    json: streamJson as JsonCodec<unknown, unknown>,
    label: (op) => `stream ${JSON.stringify((op.input as { stream: string }).stream)}`,
  },
};

const FORMATS: Readonly<Record<string, { readonly model?: string }>> = {
  json: {},
  jepsen: { model: "register" },
  kv: { model: "kv" },
};

/**
 * Where {@linkcode main} writes and reads; defaults to the console and the file system.
 *
 * @example
 * ```ts
 * import type { CliIo } from "./cli.ts";
 * const lines: string[] = [];
 * const io: CliIo = { stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) };
 * ```
 */
export interface CliIo {
  /** Receives each line of normal output. */
  readonly stdout?: (line: string) => void;
  /** Receives each line of error output. */
  readonly stderr?: (line: string) => void;
  /** Reads a history file. */
  readonly readTextFile?: (path: string) => Promise<string>;
  /** Milliseconds from an arbitrary origin, for `--timeout` and `--time`. */
  readonly now?: () => number;
}

/**
 * Runs the checker CLI with `args` (without the program name) and returns the
 * exit status: 0 all linearizable, 1 some not, 2 bad input, 3 some undecided.
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * const out: string[] = [];
 * const status = await main(["--help"], { stdout: (l) => out.push(l) });
 * if (status !== 0 || !out[0]?.startsWith("Usage: lincheck")) throw new Error("unexpected");
 * ```
 */
export async function main(args: readonly string[], io: CliIo = {}): Promise<number> {
  const stdout = io.stdout ?? ((line: string) => console.log(line));
  const stderr = io.stderr ?? ((line: string) => console.error(line));
  const readTextFile = io.readTextFile ?? ((path: string) => Deno.readTextFile(path));
  const now = io.now ?? (() => performance.now());
  const usageError = (message: string): number => {
    stderr(`lincheck: ${message}`);
    stderr("Run with --help for usage.");
    return 2;
  };

  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        model: { type: "string" },
        format: { type: "string", default: "json" },
        "max-steps": { type: "string" },
        timeout: { type: "string" },
        time: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    for (const line of USAGE.split("\n")) stdout(line);
    return 0;
  }
  if (values.model === undefined) return usageError("--model is required");
  const entry = MODELS[values.model];
  if (entry === undefined) {
    return usageError(`unknown model "${values.model}" (expected register, kv or stream)`);
  }
  const format = FORMATS[values.format];
  if (format === undefined) {
    return usageError(`unknown format "${values.format}" (expected json, jepsen or kv)`);
  }
  if (format.model !== undefined && format.model !== values.model) {
    return usageError(
      `format ${values.format} holds ${format.model} histories, not ${values.model}`,
    );
  }
  const maxSteps = values["max-steps"] === undefined ? undefined : Number(values["max-steps"]);
  if (maxSteps !== undefined && !(Number.isInteger(maxSteps) && maxSteps > 0)) {
    return usageError(`--max-steps must be a positive integer, got "${values["max-steps"]}"`);
  }
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeout !== undefined && !(timeout > 0)) {
    return usageError(`--timeout must be a positive number of seconds, got "${values.timeout}"`);
  }
  if (positionals.length === 0) return usageError("no history files given");

  const parse = (text: string, source: string): Operation[] => {
    switch (values.format) {
      case "jepsen":
        return parseJepsenLog(text, { source });
      case "kv":
        return parseKvLog(text, { source });
      default:
        return parseJsonHistory(text, entry.json, { source });
    }
  };

  let linearizable = 0, violated = 0, unknown = 0, broken = 0;
  const started = now();
  for (const path of positionals) {
    const fileStart = now();
    let history: Operation[];
    try {
      history = parse(await readTextFile(path), path);
    } catch (err) {
      broken++;
      if (err instanceof HistoryParseError) stderr(`lincheck: error: ${err.message}`);
      else stderr(`lincheck: error: cannot read ${path}: ${(err as Error).message}`);
      continue;
    }
    const options: CheckOptions = {
      ...(maxSteps === undefined ? {} : { maxSteps }),
      ...(timeout === undefined ? {} : {
        shouldStop: () => now() - fileStart > timeout * 1000,
      }),
    };
    const result = checkHistory(entry.model, history, options);
    const took = values.time ? ` [${(now() - fileStart).toFixed(0)} ms]` : "";
    const lines = report(path, history.length, result, entry);
    lines[0] += took;
    for (const line of lines) stdout(line);
    if (result.verdict === "linearizable") linearizable++;
    else if (result.verdict === "not-linearizable") violated++;
    else unknown++;
  }
  const checked = linearizable + violated + unknown;
  let summary =
    `lincheck: ${checked} histories, ${linearizable} linearizable, ${violated} not linearizable`;
  if (unknown > 0) summary += `, ${unknown} unknown`;
  if (broken > 0) summary += `, ${broken} unreadable`;
  if (values.time) summary += ` (${((now() - started) / 1000).toFixed(2)} s)`;
  stdout(summary);
  return broken > 0 ? 2 : violated > 0 ? 1 : unknown > 0 ? 3 : 0;
}

function report(
  path: string,
  count: number,
  result: CheckResult,
  entry: ModelEntry,
): string[] {
  if (result.verdict === "linearizable") {
    return [`${path}: linearizable (${count} operations)`];
  }
  const culprit = result.partitions.find((p) => p.verdict === result.verdict);
  const prefix = result.longestPrefix ?? [];
  const unplaced = result.unplaced ?? [];
  const where = culprit === undefined
    ? ""
    : entry.label !== undefined && culprit.operations[0] !== undefined
    ? ` in ${entry.label(culprit.operations[0])}`
    : "";
  const size = culprit?.operations.length ?? count;
  if (result.verdict === "unknown") {
    return [
      `${path}: unknown${where} (stopped after ${result.steps} steps; ` +
      `linearized ${prefix.length} of ${size} operations so far)`,
    ];
  }
  const lines = [
    `${path}: not linearizable${where} (longest linearizable prefix: ${prefix.length} of ${size} ` +
    `operations; ${unplaced.length} could not be placed next)`,
  ];
  const tail = prefix.slice(-REPORT_LIMIT);
  if (tail.length < prefix.length) lines.push(`  ... ${prefix.length - tail.length} earlier`);
  for (const op of tail) lines.push(`  linearized: ${formatOperation(op)}`);
  for (const op of unplaced.slice(0, REPORT_LIMIT)) {
    lines.push(`  could not place: ${formatOperation(op)}`);
  }
  if (unplaced.length > REPORT_LIMIT) lines.push(`  ... ${unplaced.length - REPORT_LIMIT} more`);
  return lines;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
