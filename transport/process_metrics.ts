/**
 * The standard Prometheus process metrics (as the Go and Node.js clients
 * export them, so existing dashboards and alerts work) and the JavaScript
 * heap's sizes:
 *
 * - `process_cpu_seconds_total`, `process_resident_memory_bytes`,
 *   `process_start_time_seconds`;
 * - `process_open_fds` and `process_max_fds` where `/proc/self` can be read
 *   (Linux; Deno allows it only with `--allow-all`), left out elsewhere;
 * - `raftlog_heap_used_bytes`, `raftlog_heap_total_bytes` (V8's heap) and
 *   `raftlog_external_memory_bytes` (buffers outside it, such as typed arrays).
 *
 * @module
 */

import process from "node:process";

/** Seconds since the epoch when the process started (from the time origin of `performance`). */
const startSeconds = performance.timeOrigin / 1000;

/**
 * Exposition lines of the process metrics, read at each call.
 *
 * @example
 * ```ts
 * import { renderProcessMetrics } from "./process_metrics.ts";
 * const text = renderProcessMetrics().join("\n");
 * console.assert(/^process_resident_memory_bytes \d+$/m.test(text));
 * ```
 */
export function renderProcessMetrics(): string[] {
  const mem = Deno.memoryUsage();
  const cpu = process.cpuUsage();
  const out = [
    "# TYPE process_cpu_seconds_total counter",
    `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
    "# TYPE process_resident_memory_bytes gauge",
    `process_resident_memory_bytes ${mem.rss}`,
    "# TYPE process_start_time_seconds gauge",
    `process_start_time_seconds ${startSeconds.toFixed(3)}`,
  ];
  // Only with read permission already granted: asking would stop a server at a prompt.
  if (Deno.permissions.querySync({ name: "read", path: "/proc/self" }).state === "granted") {
    const fds = openFds();
    if (fds !== undefined) out.push("# TYPE process_open_fds gauge", `process_open_fds ${fds}`);
    const max = maxFds();
    if (max !== undefined) out.push("# TYPE process_max_fds gauge", `process_max_fds ${max}`);
  }
  out.push(
    "# TYPE raftlog_heap_used_bytes gauge",
    `raftlog_heap_used_bytes ${mem.heapUsed}`,
    "# TYPE raftlog_heap_total_bytes gauge",
    `raftlog_heap_total_bytes ${mem.heapTotal}`,
    "# TYPE raftlog_external_memory_bytes gauge",
    `raftlog_external_memory_bytes ${mem.external}`,
  );
  return out;
}

/** Open file descriptors, or undefined where `/proc/self/fd` cannot be read. */
function openFds(): number | undefined {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    return n - 1; // the directory being read is open too
  } catch {
    return undefined;
  }
}

/** The soft limit on open files, or undefined where `/proc/self/limits` cannot be read. */
function maxFds(): number | undefined {
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    const n = Number(soft);
    return soft === undefined || !Number.isSafeInteger(n) ? undefined : n;
  } catch {
    return undefined;
  }
}
