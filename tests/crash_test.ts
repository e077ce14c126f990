/**
 * Crash test with real processes: start the writer
 * (`crash_test_writer.ts`), kill it with SIGKILL at a random moment after it
 * has acknowledged writes, reopen the directory and check that every
 * acknowledged entry is there, in order, with identical bytes. Repeats on the
 * same directory, so each run also recovers from the previous crash.
 *
 * The writer announces each save (`intent`) and acknowledges it once `save`
 * resolved (`ack`); some saves replace a suffix. After a kill the log must be
 * exactly the acknowledged log, or that log with the one save in flight
 * applied in full: nothing acknowledged lost, no save half applied.
 *
 * Usage: `deno task crash-test --iterations N [--seed S] [--verbose]`.
 * Ends with `crash-test: N iterations, A acknowledged, L lost` and exits
 * non-zero when anything was lost or a writer failed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { checkDataDir } from "../raft/storage/check_data_dir.ts";
import { FileStorage } from "../raft/storage/file_storage.ts";
import { crashEntry } from "./crash_test_writer.ts";

/** Options of {@link runCrashTest}. */
export interface CrashTestOptions {
  /** How many times to start and kill the writer. */
  readonly iterations: number;
  /** Seeds kill delays and batch sizes; printed so a run can be repeated. */
  readonly seed?: number;
  /** Longest wait after the first acknowledgement before the kill. Default 80 ms. */
  readonly maxKillDelayMs?: number;
  /** Segment size the writer uses (small, so crashes also hit rotations). */
  readonly segmentBytes?: number;
  /** Receives progress lines. */
  readonly log?: (line: string) => void;
}

/** What {@link runCrashTest} found. */
export interface CrashTestResult {
  readonly iterations: number;
  /** Entries the writer acknowledged, over all iterations. */
  readonly acknowledged: number;
  /** Acknowledged entries missing or different after a crash. */
  readonly lost: number;
  /** Saves acknowledged that replaced a suffix. */
  readonly replacements: number;
  /** Writer failures, unreadable directories and half-applied saves. */
  readonly errors: readonly string[];
  readonly seed: number;
}

/** A save the writer announced: entries first..last, all in `term`. */
interface Save {
  readonly first: number;
  readonly last: number;
  readonly term: number;
}

const WRITER = new URL("./crash_test_writer.ts", import.meta.url).pathname;
const FIRST_ACK_DEADLINE_MS = 60_000;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The log the writer has: the term of each index (terms[i] for index i + 1). */
function apply(terms: number[], save: Save): void {
  terms.length = save.first - 1;
  for (let i = save.first; i <= save.last; i++) terms.push(save.term);
}

/** Runs the writer once, until killed; returns its acknowledged saves and the save in flight. */
async function runWriterUntilKilled(
  dir: string,
  seed: number,
  killDelayMs: number,
  segmentBytes: number,
): Promise<{ acks: Save[]; inFlight: Save | undefined; error: string | undefined }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      WRITER,
      dir,
      "--seed",
      String(seed),
      "--segment-bytes",
      String(segmentBytes),
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const stderrText = new Response(child.stderr).text();
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  let killedByUs = false;
  const kill = () => {
    killedByUs = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  };
  const deadline = setTimeout(kill, FIRST_ACK_DEADLINE_MS);
  const acks: Save[] = [];
  let inFlight: Save | undefined;
  let protocolError: string | undefined;
  let pending = "";
  try {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const [kind, ...nums] = pending.slice(0, nl).split(" ");
        pending = pending.slice(nl + 1);
        const [first, last, term] = nums.map(Number);
        const save = { first: first!, last: last!, term: term! };
        if (kind === "intent" && inFlight === undefined) {
          inFlight = save;
        } else if (
          kind === "ack" && inFlight !== undefined && inFlight.first === save.first &&
          inFlight.last === save.last && inFlight.term === save.term
        ) {
          acks.push(save);
          inFlight = undefined;
          if (acks.length === 1) {
            clearTimeout(deadline);
            killTimer = setTimeout(kill, killDelayMs);
          }
        } else {
          protocolError ??= `writer printed an unexpected line: ${kind} ${nums.join(" ")}`;
        }
      }
    }
  } finally {
    clearTimeout(deadline);
    if (killTimer !== undefined) clearTimeout(killTimer);
  }
  const status = await child.status;
  const stderr = (await stderrText).trim();
  let error = protocolError;
  if (acks.length === 0) error ??= `writer acknowledged nothing within ${FIRST_ACK_DEADLINE_MS} ms`;
  else if (!killedByUs || status.signal !== "SIGKILL") {
    error ??= `writer exited on its own (code ${status.code}, signal ${status.signal})`;
  }
  if (error !== undefined && stderr !== "") error += `: ${stderr}`;
  return { acks, inFlight, error };
}

/**
 * Runs the crash test and returns what it found.
 *
 * @example
 * ```ts ignore
 * import { runCrashTest } from "./crash_test.ts";
 * const r = await runCrashTest({ iterations: 3 });
 * console.assert(r.lost === 0);
 * ```
 */
export async function runCrashTest(options: CrashTestOptions): Promise<CrashTestResult> {
  const iterations = options.iterations;
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
  }
  const seed = options.seed ?? (Date.now() % 1_000_000);
  const maxKillDelayMs = options.maxKillDelayMs ?? 80;
  const segmentBytes = options.segmentBytes ?? 256 << 10;
  const log = options.log ?? (() => {});
  let rng = seed >>> 0 || 1;
  const random = (n: number): number => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return (rng >>> 0) % n;
  };

  const dir = await Deno.makeTempDir({ prefix: "raftlog-crash-" });
  const errors: string[] = [];
  const acked: number[] = []; // the acknowledged log: term of index i + 1
  let acknowledged = 0;
  let replacements = 0;
  let lost = 0;
  let checkedUpTo = 0; // indexes below this were verified on an earlier pass and not rewritten since
  try {
    for (let it = 1; it <= iterations; it++) {
      const killDelay = random(maxKillDelayMs + 1);
      const run = await runWriterUntilKilled(dir, seed * 1000 + it, killDelay, segmentBytes);
      if (run.error !== undefined) errors.push(`iteration ${it}: ${run.error}`);
      for (const a of run.acks) {
        if (a.first <= acked.length) replacements++;
        checkedUpTo = Math.min(checkedUpTo, a.first - 1);
        apply(acked, a);
        acknowledged += a.last - a.first + 1;
      }

      // The checker must accept whatever a crash leaves.
      let warnings: readonly string[] = [];
      try {
        warnings = (await checkDataDir(dir)).warnings;
      } catch (err) {
        errors.push(
          `iteration ${it}: check-data failed: ${err instanceof Error ? err.message : err}`,
        );
      }
      let storage: FileStorage;
      try {
        storage = await FileStorage.open(dir, { logger: () => {}, segmentBytes });
      } catch (err) {
        errors.push(`iteration ${it}: cannot reopen: ${err instanceof Error ? err.message : err}`);
        lost += acked.length;
        break;
      }
      try {
        // Legal outcomes: the acknowledged log, or it with the save in flight applied.
        const f = run.inFlight;
        const last = storage.lastIndex();
        // Compacted entries are covered by the snapshot, which must reach them.
        const low = storage.firstIndex();
        if (storage.snapshot().metadata.index < low - 1) {
          errors.push(`iteration ${it}: the log starts at ${low} but the snapshot ends before`);
        }
        const full = it % 10 === 0 || it === iterations;
        const from = Math.max(
          low,
          full ? 1 : Math.max(1, Math.min(checkedUpTo, last, acked.length) - 64),
        );
        const actual: number[] = []; // term at index from + k, or -1 when the bytes are wrong
        for (let i = from; i <= last;) {
          const batch = storage.entries(i, Math.min(last + 1, i + 4096));
          for (const e of batch) {
            const want = crashEntry(e.index, e.term);
            const ok = e.index === i && e.type === want.type && sameBytes(e.data, want.data);
            actual.push(ok ? e.term : -1);
            i++;
          }
        }
        const mismatches = (length: number, termAt: (i: number) => number): number => {
          let bad = Math.abs(length - last);
          for (let i = from; i <= Math.min(last, length); i++) {
            if (actual[i - from] !== termAt(i)) bad++;
          }
          return bad;
        };
        const asAcked = mismatches(acked.length, (i) => acked[i - 1]!);
        const asInFlight = f === undefined
          ? Infinity
          : mismatches(f.last, (i) => i < f.first ? acked[i - 1]! : f.term);
        let outcome: string;
        if (asAcked === 0) {
          outcome = "acknowledged log";
        } else if (f !== undefined && asInFlight === 0) {
          outcome = "in-flight save landed";
          apply(acked, f);
        } else {
          // Count acknowledged entries that are gone or different.
          let missing = 0;
          for (let i = from; i <= acked.length; i++) {
            const replacedInFlight = f !== undefined && i >= f.first;
            if (actual[i - from] !== acked[i - 1] && !replacedInFlight) missing++;
          }
          lost += missing;
          outcome = `NEITHER the acknowledged log nor it with the save in flight`;
          errors.push(
            `iteration ${it}: log ends at ${last}, acknowledged through ${acked.length}, in flight ${
              JSON.stringify(f)
            }: ${outcome}`,
          );
          break;
        }
        checkedUpTo = Math.min(last, acked.length);
        log(
          `iteration ${it}: killed ${killDelay} ms after the first ack, ${run.acks.length} acks, log ${low}..${last}: ${outcome}${
            warnings.length > 0 ? ` (${warnings.join("; ")})` : ""
          }${full ? ", full check" : ""}`,
        );
      } finally {
        await storage.close();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return { iterations, acknowledged, lost, replacements, errors, seed };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      iterations: { type: "string", default: "20" },
      seed: { type: "string" },
      verbose: { type: "boolean", default: false },
    },
  });
  const iterations = Number(values.iterations);
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  const r = await runCrashTest({
    iterations,
    ...(seed === undefined ? {} : { seed }),
    log: values.verbose ? (line) => console.log(line) : () => {},
  });
  console.log(`seed ${r.seed}, ${r.replacements} acknowledged saves replaced a suffix`);
  for (const e of r.errors) console.error(`error: ${e}`);
  console.log(
    `crash-test: ${r.iterations} iterations, ${r.acknowledged} acknowledged, ${r.lost} lost`,
  );
  if (r.lost > 0 || r.errors.length > 0) Deno.exit(1);
}

if (import.meta.main) await main();
