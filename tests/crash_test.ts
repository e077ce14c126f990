/**
 * Crash test with real processes: start the writer
 * (`crash_test_writer.ts`), kill it with SIGKILL at a random moment after it
 * has acknowledged writes, reopen the directory and check that every
 * acknowledged entry is there, in order, with identical bytes. Repeats on the
 * same directory, so each run also recovers from the previous crash.
 *
 * Usage: `deno task crash-test --iterations N [--seed S] [--verbose]`.
 * Ends with `crash-test: N iterations, A acknowledged, L lost` and exits
 * non-zero when anything was lost or a writer failed.
 *
 * @module
 */

import { parseArgs } from "node:util";
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
  /** Entries acknowledged by the writer over all iterations. */
  readonly acknowledged: number;
  /** Acknowledged entries missing or different after a crash. */
  readonly lost: number;
  /** Writer failures and unreadable directories (each is a failed run). */
  readonly errors: readonly string[];
  readonly seed: number;
}

const WRITER = new URL("./crash_test_writer.ts", import.meta.url).pathname;
const FIRST_ACK_DEADLINE_MS = 60_000;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Runs the writer once; resolves with the highest acknowledged index it printed. */
async function runWriterUntilKilled(
  dir: string,
  seed: number,
  killDelayMs: number,
  segmentBytes: number,
): Promise<{ lastAck: number; acks: number; error: string | undefined; stderr: string }> {
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
  let lastAck = 0;
  let acks = 0;
  let pending = "";
  try {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const ack = Number(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        if (!Number.isSafeInteger(ack) || ack <= lastAck) {
          throw new Error(`writer printed a bad acknowledgement: ${JSON.stringify(ack)}`);
        }
        lastAck = ack;
        acks++;
        if (acks === 1) {
          clearTimeout(deadline);
          killTimer = setTimeout(kill, killDelayMs);
        }
      }
    }
  } finally {
    clearTimeout(deadline);
    if (killTimer !== undefined) clearTimeout(killTimer);
  }
  const status = await child.status;
  const stderr = await stderrText;
  let error: string | undefined;
  if (acks === 0) error = `writer acknowledged nothing within ${FIRST_ACK_DEADLINE_MS} ms`;
  else if (!killedByUs || status.signal !== "SIGKILL") {
    error = `writer exited on its own (code ${status.code}, signal ${status.signal})`;
  }
  if (error !== undefined && stderr.trim() !== "") error += `: ${stderr.trim()}`;
  return { lastAck, acks, error, stderr };
}

/**
 * Runs the crash test. Every acknowledged entry must be present after every
 * crash; entries present beyond the last acknowledgement (written but not yet
 * acknowledged) must be intact too.
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
  const lostIndexes = new Set<number>();
  const errors: string[] = [];
  let acknowledged = 0; // highest acknowledged index so far
  let verifiedThrough = 0; // acknowledged entries checked after the latest full pass
  try {
    for (let it = 1; it <= iterations; it++) {
      const killDelay = random(maxKillDelayMs + 1);
      const run = await runWriterUntilKilled(dir, seed * 1000 + it, killDelay, segmentBytes);
      if (run.error !== undefined) errors.push(`iteration ${it}: ${run.error}`);
      acknowledged = Math.max(acknowledged, run.lastAck);

      const lines: Record<string, unknown>[] = [];
      let storage: FileStorage;
      try {
        storage = await FileStorage.open(dir, { logger: (l) => lines.push(l), segmentBytes });
      } catch (err) {
        errors.push(`iteration ${it}: cannot reopen: ${err instanceof Error ? err.message : err}`);
        for (let i = verifiedThrough + 1; i <= acknowledged; i++) lostIndexes.add(i);
        break;
      }
      try {
        const last = storage.lastIndex();
        // Check the tail every time, the whole log every 10th time and at the end.
        const full = it % 10 === 0 || it === iterations;
        const from = full ? 1 : Math.max(1, verifiedThrough - 1000);
        let i = from;
        while (i <= last) {
          const batch = storage.entries(i, Math.min(last + 1, i + 4096));
          for (const e of batch) {
            const want = crashEntry(e.index);
            if (
              e.index !== i || e.term !== want.term || e.type !== want.type ||
              !sameBytes(e.data, want.data)
            ) {
              lostIndexes.add(i);
            }
            i++;
          }
        }
        for (let j = Math.max(from, last + 1); j <= acknowledged; j++) lostIndexes.add(j);
        verifiedThrough = acknowledged;
        const torn = lines.find((l) => l.event === "torn_tail_truncated");
        log(
          `iteration ${it}: killed after ${killDelay} ms, ${run.acks} acks, acknowledged through ${acknowledged}, log ends at ${last}${
            torn === undefined ? "" : `, torn tail of ${torn.droppedBytes} bytes dropped`
          }${full ? ", full check" : ""}`,
        );
      } finally {
        await storage.close();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return { iterations, acknowledged, lost: lostIndexes.size, errors, seed };
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
  console.log(`seed ${r.seed}`);
  for (const e of r.errors) console.error(`error: ${e}`);
  console.log(
    `crash-test: ${r.iterations} iterations, ${r.acknowledged} acknowledged, ${r.lost} lost`,
  );
  if (r.lost > 0 || r.errors.length > 0) Deno.exit(1);
}

if (import.meta.main) await main();
