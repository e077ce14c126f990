/**
 * The writer process of the crash test. Appends batches of entries to a
 * FileStorage through `save` with sync and prints each acknowledged last
 * index on stdout, one per line, only after `save` has resolved. It runs
 * until it is killed.
 *
 * Usage: `deno run --allow-read --allow-write tests/crash_test_writer.ts <dir>
 * [--seed N] [--segment-bytes N]`
 *
 * Entry contents are a function of the index ({@link crashEntryData}), so the
 * checker can verify every byte after a crash.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Entry } from "../raft/core/types.ts";
import { FileStorage } from "../raft/storage/file_storage.ts";

/**
 * The data of entry `index`: 1 to 400 bytes, derived from the index alone.
 *
 * @example
 * ```ts
 * import { crashEntryData } from "./crash_test_writer.ts";
 * console.assert(crashEntryData(7).length === crashEntryData(7).length);
 * ```
 */
export function crashEntryData(index: number): Uint8Array {
  let x = (Math.imul(index, 2654435761) ^ 0x9e3779b9) >>> 0;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const data = new Uint8Array(1 + (next() % 400));
  for (let i = 0; i < data.length; i++) data[i] = next() & 0xff;
  return data;
}

/**
 * The term of entry `index` (non-decreasing in the index).
 *
 * @example
 * ```ts
 * import { crashEntryTerm } from "./crash_test_writer.ts";
 * console.assert(crashEntryTerm(1) === 1 && crashEntryTerm(1000) === 2);
 * ```
 */
export function crashEntryTerm(index: number): number {
  return 1 + Math.floor(index / 1000);
}

/**
 * The entry the writer stores at `index`.
 *
 * @example
 * ```ts
 * import { crashEntry } from "./crash_test_writer.ts";
 * console.assert(crashEntry(10).index === 10);
 * ```
 */
export function crashEntry(index: number): Entry {
  return {
    index,
    term: crashEntryTerm(index),
    type: index % 97 === 0 ? "confChange" : "normal",
    data: crashEntryData(index),
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      seed: { type: "string", default: "1" },
      "segment-bytes": { type: "string", default: String(256 << 10) },
    },
    allowPositionals: true,
  });
  const dir = positionals[0];
  if (dir === undefined) {
    console.error("usage: crash_test_writer.ts <dir> [--seed N] [--segment-bytes N]");
    Deno.exit(2);
  }
  let rng = Number(values.seed) >>> 0 || 1;
  const random = (n: number): number => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return (rng >>> 0) % n;
  };
  const storage = await FileStorage.open(dir, {
    segmentBytes: Number(values["segment-bytes"]),
    logger: (line) => console.error(JSON.stringify(line)),
  });
  const encoder = new TextEncoder();
  let next = storage.lastIndex() + 1;
  for (;;) {
    const n = 1 + random(64);
    const entries: Entry[] = [];
    for (let i = 0; i < n; i++) entries.push(crashEntry(next + i));
    const last = next + n - 1;
    await storage.save(
      { entries, hardState: { term: crashEntryTerm(last), vote: "w", commit: last } },
      { sync: true },
    );
    // Acknowledge only now that the write is durable.
    const line = encoder.encode(`${last}\n`);
    let done = 0;
    while (done < line.length) done += Deno.stdout.writeSync(line.subarray(done));
    next = last + 1;
  }
}

if (import.meta.main) await main();
