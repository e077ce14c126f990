/**
 * A linearizability checker for recorded concurrent histories.
 *
 * Record what concurrent clients invoked and what came back (or that the
 * outcome is unknown), pick a sequential model, and ask whether some order of
 * the operations, each placed between its invocation and its return, explains
 * every result. The search is Wing & Gong's as refined by Lowe, memoized on
 * (linearized set, model state) as Knossos and Porcupine do, and partitioned by
 * key where the model allows.
 *
 * Models: a read/write/cas register ({@linkcode registerModel}), a string
 * key-value map with get/put/append ({@linkcode kvModel}), and an append-only
 * event stream with expected revisions ({@linkcode streamModel}). Histories can be
 * built in code ({@linkcode HistoryRecorder}) or parsed from Jepsen logs, EDN kv
 * logs, or the JSON format documented in `parse_json.ts`.
 *
 * @example
 * ```ts
 * import { checkHistory, HistoryRecorder, registerModel } from "./mod.ts";
 * import type { RegisterInput, RegisterOutput } from "./mod.ts";
 *
 * const rec = new HistoryRecorder<RegisterInput, RegisterOutput>();
 * const w = rec.invoke("client-1", { f: "write", value: 1 });
 * rec.ok(w);
 * const r = rec.invoke("client-2", { f: "read" });
 * rec.ok(r, null); // a read that began after the write returned sees nothing
 * const result = checkHistory(registerModel, rec.history());
 * if (result.ok) throw new Error("stale read not caught");
 * // The read is the operation that could not be placed after the write.
 * if (result.unplaced?.[0]?.input.f !== "read") throw new Error("unexpected report");
 * ```
 *
 * @module
 */

export {
  checkHistory,
  type CheckOptions,
  type CheckResult,
  type PartitionResult,
  type Verdict,
} from "./check.ts";
export {
  type EventDecoder,
  type EventType,
  formatOperation,
  type HistoryEvent,
  HistoryParseError,
  HistoryRecorder,
  type Operation,
  type OperationStatus,
  pairEvents,
  type PairEventsOptions,
} from "./history.ts";
export {
  accept,
  determinize,
  hashString,
  mixHash,
  type Model,
  type NondeterministicModel,
  REJECT,
  type StepResult,
} from "./model.ts";
export { type KvInput, kvJson, kvModel, type KvOutput, type KvState } from "./model_kv.ts";
export {
  type RegisterInput,
  registerJson,
  registerModel,
  type RegisterOutput,
  type RegisterValue,
} from "./model_register.ts";
export {
  type AppendOutput,
  type ExpectedRevision,
  type StreamInput,
  streamJson,
  streamModel,
  type StreamOutput,
  type StreamState,
} from "./model_stream.ts";
export { parseJepsenLog, type ParseJepsenOptions } from "./parse_jepsen.ts";
export {
  type JsonCall,
  type JsonCodec,
  parseJsonHistory,
  type ParseJsonOptions,
  rawJson,
} from "./parse_json.ts";
export { parseKvLog, type ParseKvOptions } from "./parse_kv.ts";
