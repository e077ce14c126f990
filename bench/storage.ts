/**
 * Storage benchmark: synced appends of 100-byte entries through
 * `FileStorage.save` side by side with a raw loop of one `write` + `syncData`
 * of the same number of bytes on the same disk, at batch sizes 1, 16 and 256;
 * then the time to reopen a 1,000,000-entry log, and reads from the reopened
 * log: random single entries (`entries(i, i + 1)`) and a sequential
 * catch-up in 1 MiB pages (`entries(lo, hi, 1 MiB)`), with the cache off.
 *
 * Raw and storage operations alternate one by one, each timed on its own,
 * so that other load on the disk (fsync latency drifts a lot on a shared
 * machine) hits both columns alike. Run with `deno task bench-storage`
 * (`--duration-ms`, `--reopen-entries` to change the defaults).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import type { Entry } from "../raft/core/types.ts";
import { FileStorage } from "../raft/storage/file_storage.ts";
import { batchPayloadSize, FRAME_HEADER_BYTES } from "../raft/storage/record.ts";

/** One batch size's figures. */
export interface StorageBenchRow {
  readonly batch: number;
  readonly rawEntriesPerSec: number;
  readonly storageEntriesPerSec: number;
  /** storage / raw. */
  readonly ratio: number;
}

/** Everything {@link runStorageBench} measured. */
export interface StorageBenchResult {
  readonly dir: string;
  readonly entryBytes: number;
  readonly rows: readonly StorageBenchRow[];
  readonly reopen: {
    readonly entries: number;
    readonly bytes: number;
    readonly segments: number;
    /** Each reopen's duration, in ms. */
    readonly runsMs: readonly number[];
    /** Reads from the reopened log (entry cache off). */
    readonly reads?: ReadFigures;
  };
}

/** Read throughput on a freshly opened log. */
export interface ReadFigures {
  /** Random `entries(i, i + 1)` calls per second, the first pass (each record read is verified). */
  readonly randomFirstPerSec: number;
  /** The same, once the records have been verified. */
  readonly randomPerSec: number;
  /** Data bytes per second of `entries(lo, hi, 1 MiB)` pages over the whole log, in MB/s. */
  readonly sequentialMBPerSec: number;
}

/** Options of {@link runStorageBench}. */
export interface StorageBenchOptions {
  /** Measuring time per batch size and column. Default 3000 ms. */
  readonly durationMs?: number;
  /** Entries in the reopen test. Default 1,000,000. */
  readonly reopenEntries?: number;
  /** Batch sizes. Default [1, 16, 256]. */
  readonly batches?: readonly number[];
  /** Directory to create the temp dir in (must be on the disk to measure). Default: the repo root. */
  readonly parentDir?: string;
}

const ENTRY_BYTES = 100;

async function measureBatch(
  dir: string,
  batch: number,
  durationMs: number,
): Promise<StorageBenchRow> {
  const data = new Uint8Array(ENTRY_BYTES);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff;
  // The raw loop writes exactly as many bytes per batch as the storage does.
  const rawBytes = new Uint8Array(
    FRAME_HEADER_BYTES + batchPayloadSize(batch, batch * ENTRY_BYTES, undefined),
  ).fill(7);
  const raw = await Deno.open(join(dir, `raw-${batch}.bin`), {
    write: true,
    create: true,
    truncate: true,
  });
  const storage = await FileStorage.open(join(dir, `storage-${batch}`));
  let next = 1;
  const rawOp = async (): Promise<void> => {
    let done = 0;
    while (done < rawBytes.length) done += raw.writeSync(rawBytes.subarray(done));
    await raw.syncData();
  };
  // Entries are made before the clock starts, as the raw loop's buffer is:
  // what is timed is the call to save.
  const makeEntries = (): Entry[] => {
    const entries: Entry[] = new Array(batch);
    for (let i = 0; i < batch; i++) entries[i] = { index: next + i, term: 1, type: "normal", data };
    next += batch;
    return entries;
  };
  let rawOps = 0;
  let rawMs = 0;
  let stOps = 0;
  let stMs = 0;
  try {
    // Warm up both paths (JIT, file creation).
    for (let i = 0; i < 20; i++) {
      await rawOp();
      await storage.save({ entries: makeEntries() });
    }
    const end = performance.now() + 2 * durationMs;
    for (let i = 0; performance.now() < end; i++) {
      // Alternate which goes first so neither always follows the other.
      for (const which of i % 2 === 0 ? [0, 1] : [1, 0]) {
        if (which === 0) {
          const t0 = performance.now();
          await rawOp();
          rawMs += performance.now() - t0;
          rawOps++;
        } else {
          const entries = makeEntries();
          const t0 = performance.now();
          await storage.save({ entries }, { sync: true });
          stMs += performance.now() - t0;
          stOps++;
        }
      }
    }
  } finally {
    raw.close();
    await storage.close();
  }
  const rawEntriesPerSec = (rawOps * batch) / (rawMs / 1000);
  const storageEntriesPerSec = (stOps * batch) / (stMs / 1000);
  return {
    batch,
    rawEntriesPerSec,
    storageEntriesPerSec,
    ratio: storageEntriesPerSec / rawEntriesPerSec,
  };
}

async function measureReopen(
  dir: string,
  entries: number,
): Promise<StorageBenchResult["reopen"]> {
  const path = join(dir, "reopen");
  const s = await FileStorage.open(path);
  const data = new Uint8Array(ENTRY_BYTES).fill(3);
  const batch = 1000;
  for (let i = 1; i <= entries; i += batch) {
    const n = Math.min(batch, entries - i + 1);
    const ents: Entry[] = new Array(n);
    for (let j = 0; j < n; j++) ents[j] = { index: i + j, term: 1, type: "normal", data };
    await s.save({ entries: ents, hardState: { term: 1, vote: "n1", commit: i + n - 1 } }, {
      sync: false,
    });
  }
  await s.close();
  let bytes = 0;
  let segments = 0;
  for (const e of Deno.readDirSync(path)) {
    if (e.name.endsWith(".wal")) {
      segments++;
      bytes += Deno.statSync(join(path, e.name)).size;
    }
  }
  const runsMs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    const again = await FileStorage.open(path);
    runsMs.push(performance.now() - t0);
    if (again.lastIndex() !== entries) {
      throw new Error(`reopen found ${again.lastIndex()} entries, expected ${entries}`);
    }
    await again.close();
  }
  return { entries, bytes, segments, runsMs, reads: await measureReads(path, entries) };
}

async function measureReads(path: string, entries: number): Promise<ReadFigures> {
  const s = await FileStorage.open(path, { cacheBytes: 0 });
  try {
    let seed = 1;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return 1 + (seed % entries);
    };
    const n = 100_000;
    const rates: number[] = [];
    for (let pass = 0; pass < 2; pass++) {
      const t0 = performance.now();
      for (let k = 0; k < n; k++) {
        const i = random();
        if (s.entries(i, i + 1)[0]!.index !== i) throw new Error(`read of entry ${i} failed`);
      }
      rates.push(n / ((performance.now() - t0) / 1000));
    }
    let bytes = 0;
    const t0 = performance.now();
    for (let i = 1; i <= entries;) {
      const page = s.entries(i, entries + 1, 1 << 20);
      for (const e of page) bytes += e.data.byteLength;
      i += page.length;
    }
    const sequentialMBPerSec = bytes / 1e6 / ((performance.now() - t0) / 1000);
    return { randomFirstPerSec: rates[0]!, randomPerSec: rates[1]!, sequentialMBPerSec };
  } finally {
    await s.close();
  }
}

/**
 * Runs the benchmark in a temp dir (removed afterwards) and returns the figures.
 *
 * @example
 * ```ts ignore
 * import { formatStorageBench, runStorageBench } from "./storage.ts";
 * console.log(formatStorageBench(await runStorageBench({ durationMs: 500, reopenEntries: 10_000 })));
 * ```
 */
export async function runStorageBench(
  options: StorageBenchOptions = {},
): Promise<StorageBenchResult> {
  const durationMs = options.durationMs ?? 3000;
  const reopenEntries = options.reopenEntries ?? 1_000_000;
  const batches = options.batches ?? [1, 16, 256];
  const parentDir = options.parentDir ?? new URL("..", import.meta.url).pathname;
  const dir = await Deno.makeTempDir({ dir: parentDir, prefix: ".bench-storage-" });
  try {
    const rows: StorageBenchRow[] = [];
    for (const b of batches) rows.push(await measureBatch(dir, b, durationMs));
    const reopen = await measureReopen(dir, reopenEntries);
    return { dir, entryBytes: ENTRY_BYTES, rows, reopen };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Renders the figures as the table the task prints.
 *
 * @example
 * ```ts
 * import { formatStorageBench } from "./storage.ts";
 * const text = formatStorageBench({
 *   dir: "/tmp/x", entryBytes: 100,
 *   rows: [{ batch: 1, rawEntriesPerSec: 1000, storageEntriesPerSec: 900, ratio: 0.9 }],
 *   reopen: { entries: 10, bytes: 1300, segments: 1, runsMs: [1.5] },
 * });
 * console.assert(text.includes("0.90x"));
 * ```
 */
export function formatStorageBench(r: StorageBenchResult): string {
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const lines = [
    `synced appends of ${r.entryBytes}-byte entries (FileStorage.save vs raw write + syncData of the same bytes)`,
    `disk: temp dir under ${r.dir.replace(/\/[^/]+$/, "")}`,
    "",
    "| batch | raw entries/s | storage entries/s | storage/raw |",
    "| ----: | ------------: | ----------------: | ----------: |",
  ];
  for (const row of r.rows) {
    lines.push(
      `| ${row.batch} | ${fmt(row.rawEntriesPerSec)} | ${fmt(row.storageEntriesPerSec)} | ${
        row.ratio.toFixed(2)
      }x |`,
    );
  }
  const best = Math.min(...r.reopen.runsMs);
  lines.push(
    "",
    `reopen: ${fmt(r.reopen.entries)} entries, ${
      (r.reopen.bytes / (1 << 20)).toFixed(1)
    } MiB in ${r.reopen.segments} segment(s): ${best.toFixed(0)} ms (runs: ${
      r.reopen.runsMs.map((m) => m.toFixed(0)).join(", ")
    } ms; page cache warm)`,
  );
  const reads = r.reopen.reads;
  if (reads !== undefined) {
    lines.push(
      `reads from it (cache off): random single entries ${
        fmt(reads.randomPerSec)
      }/s (first pass, verifying each record on first touch: ${
        fmt(reads.randomFirstPerSec)
      }/s); sequential 1 MiB pages ${fmt(reads.sequentialMBPerSec)} MB/s`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "duration-ms": { type: "string", default: "3000" },
      "reopen-entries": { type: "string", default: "1000000" },
    },
  });
  const result = await runStorageBench({
    durationMs: Number(values["duration-ms"]),
    reopenEntries: Number(values["reopen-entries"]),
  });
  console.log(formatStorageBench(result));
}
