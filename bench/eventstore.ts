/**
 * Event store benchmarks (no network):
 *
 * 1. apply: events/s the state machine applies from 100-event appends of
 *    200-byte payloads (commands encoded beforehand; encoding is timed apart).
 * 2. restart: a log of 1,000,000 such events over 10,000 streams with a
 *    snapshot at 90%: time to restore the snapshot and replay the tail, then
 *    read latency and memory while serving reads. On MemoryStorage (in
 *    process: the log itself lives in the heap) and on FileStorage (in a fresh
 *    process that opens the data directory and starts a RaftNode on it, so
 *    RSS is what a restarted node really uses).
 * 3. backup and restore (file storage only): the restarted node takes a
 *    backup of it all (`RaftNode.backup`, what `GET /backup` serves); a fresh
 *    process restores a data directory from the file (`raftlog restore`), and
 *    fresh processes start a node on it, twice (time to ready, RSS).
 *
 * Run: `deno run -A bench/eventstore.ts [--events 1000000] [--streams 10000]
 * [--batch 100] [--payload 200] [--save-batch 10] [--storage memory,file] [--json]`
 *
 * @module
 */

import { hugePagesEnv } from "../cli/huge_pages.ts";
import { parseArgs } from "node:util";
import { join } from "node:path";
import type { ConfState, Entry } from "../raft/core/types.ts";
import { confStateOf } from "../raft/core/conf_state.ts";
import { decodeEnvelope, encodeEnvelope } from "../raft/envelope.ts";
import { RaftNode } from "../raft/node.ts";
import type { WritableStorage } from "../raft/storage/writable_storage.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { encodeAppend, type PreparedEvent } from "../eventstore/commands.ts";
import { type CommandResult, EventStoreStateMachine } from "../eventstore/state_machine.ts";
import { FileArchive } from "../eventstore/archive.ts";
import { backupStream, readBackup, restoreDataDir } from "../raft/storage/backup_file.ts";

const args = parseArgs({
  options: {
    events: { type: "string", default: "1000000" },
    streams: { type: "string", default: "10000" },
    batch: { type: "string", default: "100" },
    payload: { type: "string", default: "200" },
    storage: { type: "string", default: "memory,file" },
    phase: { type: "string", default: "main" },
    dir: { type: "string", default: "" },
    "backup-file": { type: "string", default: "" },
    "save-batch": { type: "string", default: "10" },
    json: { type: "boolean", default: false },
  },
});

const EVENTS = Number(args.values.events);
const STREAMS = Number(args.values.streams);
const BATCH = Number(args.values.batch);
const PAYLOAD = Number(args.values.payload);
const ENTRIES = Math.ceil(EVENTS / BATCH);
/** Entries per storage write (one Ready's worth): a file storage read returns whole writes. */
const SAVE_BATCH = Number(args.values["save-batch"]);
const SNAPSHOT_AT = Math.floor(ENTRIES * 0.9);
const CONF: ConfState = confStateOf(["n1"]);
const EMPTY = new Uint8Array(0);
const mb = (n: number) => Math.round(n / 1e5) / 10;

function payloadBytes(): Uint8Array {
  // A JSON object of exactly PAYLOAD bytes.
  const pad = "x".repeat(Math.max(0, PAYLOAD - 12));
  return new TextEncoder().encode(JSON.stringify({ pad, n: 1 }).slice(0, PAYLOAD - 1) + "}");
}

/** The command of log entry `i` (1-based): BATCH events to stream i % STREAMS. */
function command(i: number, data: Uint8Array): Uint8Array {
  const events: PreparedEvent[] = [];
  for (let k = 0; k < BATCH; k++) {
    events.push({
      id: crypto.randomUUID(),
      type: k % 2 === 0 ? "Deposited" : "Withdrawn",
      data,
      dataIsJson: true,
      metadata: EMPTY,
      metadataIsJson: true,
    });
  }
  return encodeAppend(`account-${i % STREAMS}`, events);
}

function entry(i: number, data: Uint8Array): Entry {
  return {
    term: 1,
    index: i,
    type: "normal",
    data: encodeEnvelope({ id: "", timestamp: 1_700_000_000_000 + i, payload: command(i, data) }),
  };
}

function applyEntries(sm: EventStoreStateMachine, entries: readonly Entry[]): void {
  sm.apply(entries.map((e) => {
    const env = decodeEnvelope(e.data);
    return {
      index: e.index,
      term: e.term,
      id: env.id,
      timestamp: env.timestamp,
      payload: env.payload,
    };
  }));
}

interface ReadFigures {
  streamReadsPerSec: number;
  streamReadP99Ms: number;
  allPagesPerSec: number;
  /** Highest RSS sampled while the reads ran. */
  peakRssDuringReadsMB: number;
}

/** Full GC, then time for freed array buffers to be swept and returned. */
async function settle(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 100));
  }
}

function serveReads(sm: EventStoreStateMachine): ReadFigures {
  const lat: number[] = [];
  const t0 = performance.now();
  let n = 0;
  let peak = 0;
  for (let i = 0; i < 10_000; i++) {
    if (i % 500 === 0) peak = Math.max(peak, Deno.memoryUsage().rss);
    const s = `account-${(i * 7919) % STREAMS}`;
    const t = performance.now();
    n += sm.readStream(s, { from: (i * 13) % 50, limit: 20 }).events.length;
    lat.push(performance.now() - t);
  }
  const streamMs = performance.now() - t0;
  const t1 = performance.now();
  let from = 0;
  for (let i = 0; i < 100; i++) {
    if (i % 10 === 0) peak = Math.max(peak, Deno.memoryUsage().rss);
    const page = sm.readAll({ from, limit: 1000 });
    n += page.events.length;
    from = page.next ?? 0;
  }
  const allMs = performance.now() - t1;
  if (n === 0) throw new Error("reads returned nothing");
  lat.sort((a, b) => a - b);
  return {
    streamReadsPerSec: Math.round(10_000 / (streamMs / 1000)),
    streamReadP99Ms: Math.round(lat[Math.floor(lat.length * 0.99)]! * 1000) / 1000,
    allPagesPerSec: Math.round(100 / (allMs / 1000)),
    peakRssDuringReadsMB: mb(peak),
  };
}

async function benchApply(): Promise<Record<string, number>> {
  const data = payloadBytes();
  const n = Math.min(ENTRIES, 3000);
  const t0 = performance.now();
  const storage = MemoryStorage.withVoters(["n1"]);
  const entries: Entry[] = [];
  for (let i = 1; i <= n; i++) entries.push(entry(i, data));
  const encodeMs = performance.now() - t0;
  storage.append(entries);
  const rates: number[] = [];
  for (let run = 0; run < 3; run++) {
    const sm = new EventStoreStateMachine({ storage });
    const t = performance.now();
    for (let i = 0; i < entries.length; i += 10) applyEntries(sm, entries.slice(i, i + 10));
    rates.push((n * BATCH) / ((performance.now() - t) / 1000));
    if (sm.lastPosition !== n * BATCH - 1) throw new Error("apply lost events");
  }
  rates.sort((a, b) => a - b);
  await storage.close();
  return {
    events: n * BATCH,
    applyEventsPerSec: Math.round(rates[1]!),
    encodeEventsPerSec: Math.round((n * BATCH) / (encodeMs / 1000)),
  };
}

/** Fills `storage` with the whole log and returns the snapshot taken at SNAPSHOT_AT. */
async function buildLog(storage: WritableStorage): Promise<{ snapshotBytes: number }> {
  const data = payloadBytes();
  const sm = new EventStoreStateMachine({ storage });
  let snapshotBytes = 0;
  for (let i = 1; i <= ENTRIES; i += SAVE_BATCH) {
    const batch: Entry[] = [];
    for (let j = i; j < i + SAVE_BATCH && j <= ENTRIES; j++) batch.push(entry(j, data));
    const last = batch[batch.length - 1]!.index;
    await storage.save({
      entries: batch,
      hardState: { term: 1, vote: "n1", commit: last },
    }, { sync: false });
    for (let k = 0; k < batch.length; k++) {
      applyEntries(sm, [batch[k]!]);
      if (batch[k]!.index === SNAPSHOT_AT) {
        const snap = sm.snapshot();
        snapshotBytes = snap.length;
        await storage.createSnapshot(SNAPSHOT_AT, CONF, snap);
      }
    }
  }
  await storage.save({ entries: [] }, { sync: true });
  return { snapshotBytes };
}

function restartStateMachine(storage: WritableStorage): { sm: EventStoreStateMachine; ms: number } {
  const t0 = performance.now();
  const sm = new EventStoreStateMachine({ storage });
  sm.restore(storage.snapshot().data);
  const last = storage.lastIndex();
  for (let i = storage.snapshot().metadata.index + 1; i <= last; i += 64) {
    applyEntries(sm, storage.entries(i, Math.min(i + 64, last + 1)));
  }
  return { sm, ms: performance.now() - t0 };
}

async function benchMemory(): Promise<Record<string, unknown>> {
  const storage = MemoryStorage.withVoters(["n1"]);
  const { snapshotBytes } = await buildLog(storage);
  const logBytes = storage.entries(1, ENTRIES + 1).reduce((s, e) => s + e.data.length, 0);
  await settle();
  const { sm, ms } = restartStateMachine(storage);
  if (sm.lastPosition !== EVENTS - 1) throw new Error(`restart has ${sm.lastPosition + 1} events`);
  const reads = serveReads(sm);
  await settle();
  const mem = Deno.memoryUsage();
  return {
    storage: "memory",
    restartMs: Math.round(ms),
    snapshotMB: mb(snapshotBytes),
    logMB: mb(logBytes),
    rssAfterReadsMB: mb(mem.rss),
    heapUsedMB: mb(mem.heapUsed),
    externalMB: mb(mem.external),
    ...reads,
    note: "the log itself is in this heap (two state machines were built in this process)",
  };
}

/** Runs `phase` of this script in a fresh process on `dir` and returns the JSON it prints. */
async function childPhase(
  phase: string,
  dir: string,
  backupFile: string,
): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    env: hugePagesEnv(Deno.env.get("GLIBC_TUNABLES")),
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      "--phase",
      phase,
      "--dir",
      dir,
      "--backup-file",
      backupFile,
      "--events",
      String(EVENTS),
      "--streams",
      String(STREAMS),
      "--batch",
      String(BATCH),
      "--payload",
      String(PAYLOAD),
      "--save-batch",
      String(SAVE_BATCH),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the ${phase} process failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

async function benchFile(): Promise<Record<string, unknown>> {
  const { FileStorage } = await import("../raft/storage/file_storage.ts");
  const dir = await Deno.makeTempDir({ prefix: "raftlog-es-bench-" });
  try {
    const storage = await FileStorage.open(dir, { bootstrap: CONF });
    const { snapshotBytes } = await buildLog(storage);
    await storage.close();
    let logBytes = 0;
    for await (const f of Deno.readDir(dir)) {
      if (f.isFile) logBytes += (await Deno.stat(join(dir, f.name))).size;
    }
    const child = await childPhase("file-restart", dir, `${dir}.backup`);
    const restored = await childPhase("file-restore", `${dir}.restored`, `${dir}.backup`);
    // The restored node's first start (it writes the events to its archive), then a restart.
    const first = await childPhase("file-restart", `${dir}.restored`, `${dir}.backup2`);
    const again = await childPhase("file-restart", `${dir}.restored`, `${dir}.backup2`);
    return {
      storage: "file",
      snapshotMB: mb(snapshotBytes),
      dataDirMB: mb(logBytes),
      ...child,
      ...restored,
      restoredFirstStartMs: first.restartToReadyMs,
      restoredFirstStartPeakRssMB: first.peakRssStartingMB,
      restoredRestartToReadyMs: again.restartToReadyMs,
      restoredRestartPeakRssMB: again.peakRssStartingMB,
      restoredRssWhenReadyMB: again.rssWhenReadyMB,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(`${dir}.restored`, { recursive: true }).catch(() => {});
    await Deno.remove(`${dir}.backup`).catch(() => {});
    await Deno.remove(`${dir}.backup2`).catch(() => {});
  }
}

/**
 * An event store node alone on `storage`, taking no snapshots; with `dir`, its
 * archive is a file there, as `raftlog serve` has it.
 */
async function startSolo(storage: WritableStorage, dir?: string) {
  const archive = dir === undefined ? undefined : FileArchive.open(join(dir, "eventstore.archive"));
  const sm = new EventStoreStateMachine({ storage, ...(archive ? { archive } : {}) });
  const node = await RaftNode.start<CommandResult>({
    id: "n1",
    storage,
    transport: { send() {} },
    stateMachine: sm,
    snapshotEvery: 0,
  });
  return { sm, node };
}

/** In a fresh process: open the directory, start a node on it, wait until it applied everything. */
async function fileRestartChild(dir: string): Promise<void> {
  const { FileStorage } = await import("../raft/storage/file_storage.ts");
  let startPeak = Deno.memoryUsage().rss;
  const sampler = setInterval(
    () => startPeak = Math.max(startPeak, Deno.memoryUsage().rss),
    10,
  );
  const t0 = performance.now();
  const storage = await FileStorage.open(dir);
  const openMs = performance.now() - t0;
  const { sm, node } = await startSolo(storage, dir);
  const restoredMs = performance.now() - t0;
  const last = storage.lastIndex();
  await node.waitForApplied(last, { timeoutMs: 60_000 });
  clearInterval(sampler);
  const readyMs = performance.now() - t0;
  if (sm.lastPosition !== EVENTS - 1) throw new Error(`restart has ${sm.lastPosition + 1} events`);
  await settle();
  const rssReady = Deno.memoryUsage().rss;
  const reads = serveReads(sm);
  await settle();
  const mem = Deno.memoryUsage();
  // Then a backup of it all (GET /backup's work), written to the file the restore phase reads.
  let backupPeak = Deno.memoryUsage().rss;
  const backupSampler = setInterval(
    () => backupPeak = Math.max(backupPeak, Deno.memoryUsage().rss),
    10,
  );
  const tb = performance.now();
  const backup = await node.backup();
  const file = await Deno.open(args.values["backup-file"]!, { write: true, create: true });
  await backupStream(backup, { nodeId: "n1", clusterId: "bench" }).pipeTo(file.writable);
  const backupMs = performance.now() - tb;
  clearInterval(backupSampler);
  const backupBytes = (await Deno.stat(args.values["backup-file"]!)).size;
  await node.stop();
  console.log(JSON.stringify({
    backupMs: Math.round(backupMs),
    backupMB: mb(backupBytes),
    peakRssDuringBackupMB: mb(backupPeak),
    openStorageMs: Math.round(openMs),
    restoreSnapshotMs: Math.round(restoredMs - openMs),
    restartToReadyMs: Math.round(readyMs),
    peakRssStartingMB: mb(startPeak),
    rssWhenReadyMB: mb(rssReady),
    rssAfterReadsMB: mb(mem.rss),
    heapUsedMB: mb(mem.heapUsed),
    externalMB: mb(mem.external),
    ...reads,
  }));
}

/** In a fresh process: `raftlog restore`'s work, a data directory made from the backup. */
async function fileRestoreChild(dir: string, backupFile: string): Promise<void> {
  let peak = Deno.memoryUsage().rss;
  const sampler = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 10);
  const t0 = performance.now();
  await restoreDataDir(dir, readBackup(await Deno.readFile(backupFile)).backup, ["n1"]);
  const ms = performance.now() - t0;
  clearInterval(sampler);
  console.log(JSON.stringify({ restoreDirMs: Math.round(ms), peakRssRestoreMB: mb(peak) }));
}

if (import.meta.main) {
  if (args.values.phase === "file-restart") {
    await fileRestartChild(args.values.dir!);
  } else if (args.values.phase === "file-restore") {
    await fileRestoreChild(args.values.dir!, args.values["backup-file"]!);
  } else {
    const results: Record<string, unknown>[] = [];
    const apply = await benchApply();
    results.push({ bench: "apply", batch: BATCH, payloadBytes: PAYLOAD, ...apply });
    if (!args.values.json) console.log("apply", apply);
    for (const kind of args.values.storage!.split(",")) {
      const r = kind === "file" ? await benchFile() : await benchMemory();
      results.push({ bench: "restart", events: EVENTS, streams: STREAMS, ...r });
      if (!args.values.json) console.log("restart", r);
    }
    if (args.values.json) console.log(JSON.stringify(results, null, 2));
  }
}
