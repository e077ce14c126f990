/**
 * The writer process of the crash test. It plays a follower: it appends
 * batches of entries through `FileStorage.save` with sync and, now and then,
 * replaces the last few entries with ones from a newer term (a new leader
 * overwriting a conflicting suffix), and now and then snapshots and compacts
 * committed entries. Before each save it prints
 * `intent <first> <last> <term>`; only after `save` has resolved does it print
 * `ack <first> <last> <term>`. It runs until it is killed.
 *
 * Usage: `deno run --allow-read --allow-write tests/crash_test_writer.ts <dir>
 * [--seed N] [--segment-bytes N]`
 *
 * Entry contents are a function of index and term ({@link crashEntry}), so
 * the checker can verify every byte after a crash.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Entry } from "../raft/core/types.ts";
import { FileStorage } from "../raft/storage/file_storage.ts";

/**
 * The data of the entry at `index` written in `term`: 1 to 400 bytes,
 * derived from those two numbers alone.
 *
 * @example
 * ```ts
 * import { crashEntryData } from "./crash_test_writer.ts";
 * console.assert(crashEntryData(7, 1).length === crashEntryData(7, 1).length);
 * ```
 */
export function crashEntryData(index: number, term: number): Uint8Array {
  let x = (Math.imul(index, 2654435761) ^ Math.imul(term, 40503) ^ 0x9e3779b9) >>> 0 || 1;
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
 * The entry the writer stores at `index` in `term`.
 *
 * @example
 * ```ts
 * import { crashEntry } from "./crash_test_writer.ts";
 * console.assert(crashEntry(10, 2).index === 10);
 * ```
 */
export function crashEntry(index: number, term: number): Entry {
  return {
    index,
    term,
    type: index % 97 === 0 ? "confChange" : "normal",
    data: crashEntryData(index, term),
  };
}

/** Entries this far behind the last one are never replaced (they count as committed). */
export const CRASH_COMMIT_LAG = 40;

function writeLine(line: string): void {
  const bytes = new TextEncoder().encode(`${line}\n`);
  let done = 0;
  while (done < bytes.length) done += Deno.stdout.writeSync(bytes.subarray(done));
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
  let last = storage.lastIndex();
  let term = Math.max(1, storage.term(last));
  let commit = storage.initialState().hardState.commit;
  const confState = storage.initialState().confState;
  for (let saves = 1;; saves++) {
    // Now and then, snapshot the committed entries and drop most of them.
    if (saves % 50 === 0 && commit > storage.snapshot().metadata.index) {
      await storage.createSnapshot(commit, confState, new Uint8Array(8));
      const keep = 200 + random(2000);
      if (commit - keep >= storage.firstIndex()) await storage.compact(commit - keep);
    }
    let first = last + 1;
    // One save in eight replaces a suffix of uncommitted entries, as after an election.
    if (random(8) === 0 && last - commit > 1) {
      first = last - random(Math.min(last - commit - 1, 20));
      term++;
    }
    const n = 1 + random(64);
    const entries: Entry[] = [];
    for (let i = 0; i < n; i++) entries.push(crashEntry(first + i, term));
    last = first + n - 1;
    commit = Math.max(commit, last - CRASH_COMMIT_LAG);
    writeLine(`intent ${first} ${last} ${term}`);
    await storage.save(
      { entries, hardState: { term, vote: "w", commit } },
      { sync: true },
    );
    writeLine(`ack ${first} ${last} ${term}`);
  }
}

if (import.meta.main) await main();
