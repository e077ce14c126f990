/**
 * Runs random simulation schedules and reports broken invariants.
 *
 * ```
 * deno task sim [--seeds N] [--steps M] [--seed S] [--start S0] [--nodes K] [--jobs J] [--lease] [--verbose]
 * ```
 *
 * Runs seeds `S0 .. S0+N-1` (default 1..100), or exactly seed `S` with
 * `--seed`. Each violation prints its seed, the invariant, the last events of
 * the trace and the command that reproduces it; the run then exits 1. The
 * last line is always `sim: N seeds, M steps each, V violations`. Seeds run on
 * `J` workers (default: up to 2) when the script may read its own directory
 * (`--allow-read`); otherwise on the main thread. `--lease` runs every node
 * with lease-based reads (see `SimOptions.leaseReads`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_STEPS, runSeed, type SimOptions, type SimResult } from "./sim.ts";
import type { WorkerJob } from "./_sim_worker.ts";

const USAGE =
  "usage: deno task sim [--seeds N] [--steps M] [--seed S] [--start S0] [--nodes K] [--jobs J] [--lease] [--verbose]";
const DETAILED = 5;

interface Args {
  readonly seeds: number[];
  readonly options: SimOptions;
  readonly jobs: number;
  readonly verbose: boolean;
  readonly reproduce: (seed: number) => string;
}

function int(name: string, v: string | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new RangeError(`--${name} must be an integer >= ${min}, got ${v}`);
  }
  return n;
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: "string" },
      steps: { type: "string" },
      seed: { type: "string" },
      start: { type: "string" },
      nodes: { type: "string" },
      jobs: { type: "string" },
      lease: { type: "boolean", default: false },
      verbose: { type: "boolean", short: "v", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const steps = int("steps", values.steps, DEFAULT_STEPS, 1);
  const nodes = values.nodes === undefined ? undefined : int("nodes", values.nodes, 3, 1);
  const options: SimOptions = {
    steps,
    ...(nodes !== undefined ? { nodes } : {}),
    ...(values.lease ? { leaseReads: true } : {}),
  };
  let seeds: number[];
  if (values.seed !== undefined) {
    seeds = [int("seed", values.seed, 0, 0)];
  } else {
    const n = int("seeds", values.seeds, 100, 1);
    const start = int("start", values.start, 1, 0);
    seeds = Array.from({ length: n }, (_, i) => start + i);
  }
  const jobs = int("jobs", values.jobs, Math.min(2, navigator.hardwareConcurrency), 1);
  const extra = `--steps ${steps}${nodes !== undefined ? ` --nodes ${nodes}` : ""}${
    values.lease ? " --lease" : ""
  }`;
  return {
    seeds,
    options,
    jobs: Math.min(jobs, seeds.length),
    verbose: values.verbose || values.seed !== undefined,
    reproduce: (seed) => `deno task sim --seed ${seed} ${extra}`,
  };
}

function summary(r: SimResult): string {
  const s = r.stats;
  return `seed ${r.seed}: ${r.failure ? `VIOLATION ${r.failure.invariant}` : "ok"} ` +
    `(${s.steps} steps, ${s.committed} committed, max term ${s.maxTerm}, ${s.crashes} crashes, ` +
    `${s.partitions} partitions, ${s.confChanges} conf changes, ${s.transfers} transfers)`;
}

function report(r: SimResult, args: Args, detailed: boolean): void {
  const f = r.failure!;
  console.log(`\nseed ${r.seed}: VIOLATION of ${f.invariant} at step ${f.step}`);
  console.log(`  ${f.message.split("\n").join("\n  ")}`);
  console.log(`  params: ${r.params}`);
  console.log(`  reproduce: ${args.reproduce(r.seed)}`);
  if (!detailed) return;
  console.log(`  trace (last ${f.trace.length} events):`);
  for (const line of f.trace) console.log(`    ${line}`);
}

function runInline(args: Args, onResult: (r: SimResult) => void): void {
  for (const seed of args.seeds) onResult(runSeed(seed, args.options));
}

function canUseWorkers(workerUrl: URL): boolean {
  try {
    return Deno.permissions.querySync({ name: "read", path: workerUrl }).state === "granted";
  } catch {
    return false;
  }
}

/** Hands out batches of seeds to `jobs` workers until all are done. */
function runWorkers(args: Args, workerUrl: URL, onResult: (r: SimResult) => void): Promise<void> {
  const queue = [...args.seeds];
  const batch = Math.max(1, Math.min(25, Math.ceil(queue.length / (args.jobs * 4))));
  return new Promise((resolve, reject) => {
    let running = args.jobs;
    for (let j = 0; j < args.jobs; j++) {
      const w = new Worker(workerUrl.href, { type: "module" });
      const feed = () => {
        const seeds = queue.splice(0, batch);
        if (seeds.length === 0) {
          w.postMessage(null);
          if (--running === 0) resolve();
          return;
        }
        const job: WorkerJob = { seeds, options: args.options };
        w.postMessage(job);
      };
      w.onmessage = (e: MessageEvent<SimResult | "batch-done">) => {
        if (e.data === "batch-done") feed();
        else onResult(e.data);
      };
      w.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`simulation worker failed: ${e.message}`));
      };
      feed();
    }
  });
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parse(Deno.args);
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const started = performance.now();
  const failures: SimResult[] = [];
  const onResult = (r: SimResult) => {
    if (r.failure) failures.push(r);
    if (args.verbose) console.log(summary(r));
    if (args.seeds.length === 1) console.log(`  params: ${r.params}`);
  };
  const workerUrl = new URL("./_sim_worker.ts", import.meta.url);
  if (args.jobs > 1 && canUseWorkers(workerUrl)) {
    await runWorkers(args, workerUrl, onResult);
  } else {
    if (args.jobs > 1) {
      console.log(
        `note: running on one thread; allow reading ${workerUrl.pathname} (--allow-read) to use ${args.jobs} workers`,
      );
    }
    runInline(args, onResult);
  }
  failures.sort((a, b) => a.seed - b.seed);
  failures.forEach((r, i) => report(r, args, i < DETAILED));
  if (failures.length > DETAILED) {
    console.log(`\n(traces shown for the first ${DETAILED} violations)`);
  }
  const secs = (performance.now() - started) / 1000;
  console.log(
    `time: ${secs.toFixed(1)} s (${((secs * 1000) / args.seeds.length).toFixed(1)} ms per seed)`,
  );
  console.log(
    `sim: ${args.seeds.length} seeds, ${args.options.steps} steps each, ${failures.length} violations`,
  );
  return failures.length > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
