/**
 * Projections: pure reducers over every committed event, run by the state
 * machine as it applies, so every node computes the same state. A keyed
 * projection keeps one state per key (per aggregate).
 *
 * Checkpoints: every `snapshotEvery` events a projection serializes the
 * states that changed (JSON) into its checkpoint. Raft snapshots carry the
 * checkpoints, not the live states, so taking a snapshot costs no reducer
 * work; a restoring node parses the checkpoint and replays the few events
 * after it from the log. The state machine keeps those events in the log
 * (retention) until a later checkpoint covers them.
 *
 * @module
 */

import type { ByteReader, ByteWriter } from "./_bytes.ts";
import type { RecordedEvent } from "./types.ts";

/**
 * A projection. `apply` must be pure and deterministic (no clock, no
 * randomness, no I/O) and states must be JSON values. When `key` is given the
 * projection keeps one state per key; events for which it returns undefined
 * are skipped.
 *
 * @example
 * ```ts
 * import type { ProjectionDefinition } from "./projections.ts";
 * const balances: ProjectionDefinition<number> = {
 *   name: "balances",
 *   init: 0,
 *   key: (e) => e.stream,
 *   apply: (s, e) => e.type === "Deposited" ? s + (e.data as { amount: number }).amount : s,
 *   snapshotEvery: 500,
 * };
 * ```
 */
export interface ProjectionDefinition<S> {
  /** The projection's name (`GET /projections/{name}`). */
  readonly name: string;
  /** The state before any event (per key for keyed projections). */
  readonly init: S;
  /** The state after `event`: pure, so every node computes the same (return a new state rather than change `state`). */
  apply(state: S, event: RecordedEvent): S;
  /** For a keyed projection: the key `event` belongs to, or undefined to skip it. */
  key?(event: RecordedEvent): string | undefined;
  /** Checkpoint every this many events. Default 1000. */
  readonly snapshotEvery?: number;
}

/**
 * A projection's checkpoint as stored in a snapshot.
 *
 * @example
 * ```ts
 * import type { ProjectionCheckpoint } from "./projections.ts";
 * const c: ProjectionCheckpoint = { name: "p", position: -1, error: "", states: [["", "0"]] };
 * ```
 */
export interface ProjectionCheckpoint {
  /** The projection's name. */
  readonly name: string;
  /** Last position the states include, or -1. */
  readonly position: number;
  /** Why the projection stopped, or "". */
  readonly error: string;
  /** Key and JSON state. */
  readonly states: readonly (readonly [string, string])[];
}

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/**
 * Throws `TypeError` unless `def` is a usable projection definition.
 *
 * @example
 * ```ts
 * import { validateProjection } from "./projections.ts";
 * validateProjection({ name: "count", init: 0, apply: (n) => n + 1 });
 * ```
 */
export function validateProjection<S>(def: ProjectionDefinition<S>): void {
  if (def === null || typeof def !== "object") {
    throw new TypeError("A projection definition must be an object");
  }
  if (typeof def.name !== "string" || !NAME.test(def.name)) {
    throw new TypeError(
      `Projection name ${JSON.stringify(def.name)} must be 1-100 letters, digits, _ . -`,
    );
  }
  if (typeof def.apply !== "function") {
    throw new TypeError(`Projection ${def.name} has no apply function`);
  }
  if (def.key !== undefined && typeof def.key !== "function") {
    throw new TypeError(`Projection ${def.name}: key must be a function`);
  }
  const every = def.snapshotEvery;
  if (every !== undefined && (!Number.isSafeInteger(every) || every < 1)) {
    throw new RangeError(`Projection ${def.name}: snapshotEvery must be a positive integer`);
  }
  try {
    JSON.stringify(def.init);
  } catch {
    throw new TypeError(`Projection ${def.name}: init is not JSON-serializable`);
  }
}

/**
 * Runs one projection: folds events into its states and keeps its checkpoint.
 *
 * @example
 * ```ts
 * import { ProjectionRunner } from "./projections.ts";
 * const r = new ProjectionRunner({ name: "count", init: 0, apply: (n: number) => n + 1 });
 * r.handle({ id: "a", stream: "s", type: "T", data: null, metadata: null, revision: 0, position: 0, timestamp: 0 });
 * console.assert(r.state("") === 1 && r.position === 0);
 * ```
 */
export class ProjectionRunner<S> {
  /** The projection it runs. */
  readonly definition: ProjectionDefinition<S>;
  readonly #every: number;
  #states = new Map<string, S>();
  #position = -1;
  #error = "";
  #cpPosition = -1;
  #cpJson = new Map<string, string>();
  #cpError = "";
  #dirty = new Set<string>();
  #since = 0;

  /** A runner of `definition` from its initial state; throws for a bad definition. */
  constructor(definition: ProjectionDefinition<S>) {
    validateProjection(definition);
    this.definition = definition;
    this.#every = definition.snapshotEvery ?? 1000;
  }

  /** Name of the projection. */
  get name(): string {
    return this.definition.name;
  }

  /** Last position folded in (or skipped by `key`), or -1. */
  get position(): number {
    return this.#position;
  }

  /** Position the checkpoint covers, or -1. */
  get checkpointPosition(): number {
    return this.#cpPosition;
  }

  /** Why the projection stopped (a reducer threw), or "" while it runs. */
  get error(): string {
    return this.#error;
  }

  /** True when the projection keeps a state per key. */
  get keyed(): boolean {
    return this.definition.key !== undefined;
  }

  /** Number of keys with a state. */
  get keyCount(): number {
    return this.#states.size;
  }

  /** State of `key` ("" for an unkeyed projection); undefined when the key has none. */
  state(key: string): S | undefined {
    if (!this.keyed && key === "") return this.#states.get("") ?? this.definition.init;
    return this.#states.get(key);
  }

  /** Folds one event in. Events must come in position order; earlier ones are ignored. */
  handle(event: RecordedEvent): void {
    if (event.position <= this.#position) return;
    this.#position = event.position;
    if (this.#error === "") {
      try {
        const key = this.definition.key ? this.definition.key(event) : "";
        if (key !== undefined) {
          if (typeof key !== "string") throw new TypeError(`key returned ${typeof key}`);
          // Each key starts from its own copy of init: a reducer that changes its state in
          // place must not change every other key's start.
          const prev = this.#states.get(key) ?? copyOf(this.definition.init);
          this.#states.set(key, this.definition.apply(prev, event));
          this.#dirty.add(key);
        }
      } catch (e) {
        this.#error = `Reducer failed at position ${event.position}: ${
          e instanceof Error ? e.message : String(e)
        }`;
      }
    }
    if (++this.#since >= this.#every) this.checkpoint();
  }

  /** Serializes the changed states into the checkpoint. */
  checkpoint(): void {
    for (const key of this.#dirty) {
      this.#cpJson.set(key, JSON.stringify(this.#states.get(key)) ?? "null");
    }
    this.#dirty.clear();
    this.#cpPosition = this.#position;
    this.#cpError = this.#error;
    this.#since = 0;
  }

  /** The checkpoint (for a snapshot). */
  snapshotCheckpoint(): ProjectionCheckpoint {
    return {
      name: this.name,
      position: this.#cpPosition,
      error: this.#cpError,
      states: [...this.#cpJson],
    };
  }

  /** Replaces the states with a checkpoint's; events after it must be handled again. */
  restore(cp: ProjectionCheckpoint): void {
    this.#states = new Map(cp.states.map(([k, json]) => [k, JSON.parse(json) as S]));
    this.#cpJson = new Map(cp.states);
    this.#position = cp.position;
    this.#cpPosition = cp.position;
    this.#error = cp.error;
    this.#cpError = cp.error;
    this.#dirty.clear();
    this.#since = 0;
  }

  /** Back to the initial state (no events). */
  reset(): void {
    this.restore({ name: this.name, position: -1, error: "", states: [] });
  }
}

/**
 * Writes a checkpoint.
 *
 * @example
 * ```ts
 * import { ByteReader, ByteWriter } from "./_bytes.ts";
 * import { readCheckpoint, writeCheckpoint } from "./projections.ts";
 * const w = new ByteWriter();
 * writeCheckpoint(w, { name: "p", position: 3, error: "", states: [["k", "1"]] });
 * console.assert(readCheckpoint(new ByteReader(w.finish())).states[0]![1] === "1");
 * ```
 */
export function writeCheckpoint(w: ByteWriter, cp: ProjectionCheckpoint): void {
  w.string(cp.name);
  w.f64(cp.position);
  w.string(cp.error);
  w.u32(cp.states.length);
  for (const [k, json] of cp.states) {
    w.string(k);
    w.string(json);
  }
}

/**
 * Reads a checkpoint written by {@link writeCheckpoint}.
 *
 * @example
 * ```ts
 * import { ByteReader, ByteWriter } from "./_bytes.ts";
 * import { readCheckpoint, writeCheckpoint } from "./projections.ts";
 * const w = new ByteWriter();
 * writeCheckpoint(w, { name: "p", position: -1, error: "", states: [] });
 * console.assert(readCheckpoint(new ByteReader(w.finish())).position === -1);
 * ```
 */
export function readCheckpoint(r: ByteReader): ProjectionCheckpoint {
  const name = r.string();
  const position = r.f64();
  const error = r.string();
  const n = r.u32();
  const states: [string, string][] = [];
  for (let i = 0; i < n; i++) {
    const k = r.string();
    states.push([k, r.string()]);
  }
  return { name, position, error, states };
}

function copyOf<T>(v: T): T {
  return typeof v === "object" && v !== null ? structuredClone(v) : v;
}
