/**
 * Verifying a data directory without changing it: what `deno task
 * check-data <dir>` and `raftlog check` print.
 *
 * @module
 */

import type { ConfState, HardState } from "../core/types.ts";
import { inspectPartialSnapshot } from "./partial_snapshot_file.ts";
import { DirLock } from "./dir_lock.ts";
import { recoverDataDir } from "./recovery.ts";

/** One segment file as the checker saw it. */
export interface SegmentReport {
  readonly name: string;
  /** File size in bytes. */
  readonly bytes: number;
  /** Entries it holds (after dropping a torn tail). */
  readonly entries: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
}

/**
 * The result of {@link checkDataDir}.
 *
 * @example
 * ```ts
 * import type { DataDirReport } from "./check_data_dir.ts";
 * function summary(r: DataDirReport): string {
 *   return `${r.firstIndex}..${r.lastIndex}`;
 * }
 * ```
 */
export interface DataDirReport {
  readonly dir: string;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** Term of the last entry (the snapshot's term when the log is empty). */
  readonly lastTerm: number;
  readonly hardState: HardState;
  readonly snapshot:
    | {
      readonly index: number;
      readonly term: number;
      readonly confState: ConfState;
      readonly bytes: number;
    }
    | null;
  readonly segments: readonly SegmentReport[];
  /**
   * A snapshot still arriving from the leader (`snapshot.partial`), which a
   * restart goes on with; null when there is none (or it is damaged: see warnings).
   */
  readonly partialSnapshot?: {
    readonly index: number;
    readonly term: number;
    readonly size: number;
    readonly received: number;
  } | null;
  /** What opening the directory would repair (a torn final write, ...). Not errors. */
  readonly warnings: readonly string[];
}

/**
 * Verifies every file in the data directory `dir` (checksums, index
 * continuity, snapshot and hard state consistency) and reports what it holds.
 * Changes nothing on disk. Throws `CorruptLogError` (naming file and byte
 * offset) when the directory is damaged, and `DataDirInUseError` when a
 * running node holds it.
 *
 * @example
 * ```ts
 * import { checkDataDir } from "./check_data_dir.ts";
 * import { FileStorage } from "./file_storage.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   const s = await FileStorage.open(dir);
 *   await s.save({ entries: [{ index: 1, term: 1, type: "normal", data: new Uint8Array(3) }] });
 *   await s.close();
 *   const report = await checkDataDir(dir);
 *   console.assert(report.lastIndex === 1 && report.segments.length === 1);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function checkDataDir(dir: string): Promise<DataDirReport> {
  if (typeof dir !== "string" || dir === "") {
    throw new TypeError("checkDataDir: dir must be a non-empty path");
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Data directory ${dir} does not exist`);
    }
    throw err;
  }
  if (!info.isDirectory) throw new TypeError(`${dir} is not a directory`);
  const lock = DirLock.acquire(dir, { shared: true });
  try {
    const rec = await recoverDataDir(dir);
    const last = rec.segments[rec.segments.length - 1];
    const lastTerm = last === undefined || rec.lastIndex < rec.firstIndex
      ? rec.prevTerm
      : last.lastIndex === rec.lastIndex && last.count > 0
      ? last.lastTerm
      : rec.segments.find((s) => s.lastIndex >= rec.lastIndex)?.term(rec.lastIndex) ?? rec.prevTerm;
    const warnings = rec.repairs.map((r) => {
      switch (r.kind) {
        case "truncateTail":
          return `${r.file}: torn write at byte offset ${r.offset} (${r.droppedBytes} bytes, ${r.reason}); opening will truncate it`;
        case "removeSegment":
          return `${r.file}: ${r.reason}; opening will remove it`;
        case "discardLog":
          return `interrupted snapshot install (${r.reason}); opening will remove ${r.files.length} segment(s)`;
        case "removeTemp":
          return `${r.file}: unfinished temp file; opening will remove it`;
      }
    });
    const partial = await inspectPartialSnapshot(dir);
    if (partial.state === "damaged") {
      warnings.push(`partial snapshot: ${partial.reason}; the node will delete it`);
    } else if (partial.state === "ok" && partial.unrecordedBytes > 0) {
      warnings.push(
        `partial snapshot: ${partial.unrecordedBytes} bytes past its recorded offset; the node will cut them off`,
      );
    }
    const snap = rec.snapshot;
    return {
      dir,
      firstIndex: rec.firstIndex,
      lastIndex: rec.lastIndex,
      lastTerm,
      hardState: rec.hardState,
      snapshot: snap === undefined ? null : {
        index: snap.metadata.index,
        term: snap.metadata.term,
        confState: snap.metadata.confState,
        bytes: snap.data.byteLength,
      },
      segments: rec.segments.map((s) => ({
        name: s.name,
        bytes: rec.fileSizes.get(s.path) ?? s.bytes,
        entries: s.count,
        firstIndex: s.firstIndex,
        lastIndex: s.lastIndex,
      })),
      partialSnapshot: partial.state !== "ok" ? null : {
        index: partial.header.id.index,
        term: partial.header.id.term,
        size: partial.header.id.size,
        received: partial.header.offset,
      },
      warnings,
    };
  } finally {
    lock.release();
  }
}

/**
 * Renders a {@link DataDirReport} as the text the checker prints.
 *
 * @example
 * ```ts
 * import { formatDataDirReport } from "./check_data_dir.ts";
 * const text = formatDataDirReport({
 *   dir: "data/n1", firstIndex: 1, lastIndex: 0, lastTerm: 0,
 *   hardState: { term: 0, vote: "", commit: 0 }, snapshot: null, segments: [], warnings: [],
 * });
 * console.assert(text.includes("data/n1: ok"));
 * ```
 */
export function formatDataDirReport(r: DataDirReport): string {
  const lines: string[] = [];
  lines.push(`${r.dir}: ok${r.warnings.length > 0 ? ` (${r.warnings.length} warning(s))` : ""}`);
  lines.push(
    `log: first index ${r.firstIndex}, last index ${r.lastIndex}, last term ${r.lastTerm} (${
      Math.max(0, r.lastIndex - r.firstIndex + 1)
    } entries)`,
  );
  lines.push(
    `hard state: term ${r.hardState.term}, vote ${
      r.hardState.vote === "" ? "(none)" : r.hardState.vote
    }, commit ${r.hardState.commit}`,
  );
  if (r.snapshot === null) {
    lines.push("snapshot: none");
  } else {
    const cs = r.snapshot.confState;
    lines.push(
      `snapshot: index ${r.snapshot.index}, term ${r.snapshot.term}, ${r.snapshot.bytes} bytes, voters [${
        cs.voters.join(", ")
      }]${cs.learners.length > 0 ? `, learners [${cs.learners.join(", ")}]` : ""}`,
    );
  }
  const p = r.partialSnapshot;
  if (p !== undefined && p !== null) {
    lines.push(
      `partial snapshot: index ${p.index}, term ${p.term}, ${p.received} of ${p.size} bytes received (a transfer of it goes on from there)`,
    );
  }
  lines.push(`segments: ${r.segments.length}`);
  for (const s of r.segments) {
    lines.push(
      `  ${s.name}  ${s.bytes} bytes  ${s.entries} entries${
        s.entries > 0 ? `  [${s.firstIndex}..${s.lastIndex}]` : ""
      }`,
    );
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}
