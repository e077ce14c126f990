/**
 * `raftlog status URL[,URL...] [--json]`: a node's `GET /status` as JSON, or,
 * for several nodes, one line each (like `etcdctl endpoint status -w table`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UsageError } from "./usage_error.ts";

/** What `GET /status` answers (the fields the table shows). */
interface Status {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
}

/**
 * Runs `status`. One URL: prints its `/status` as indented JSON. Several (in
 * one comma-separated argument, or several arguments): a table with a line
 * per node, unreachable ones included; `--json` prints their answers as an
 * array instead. Resolves with 0 when every node answered, else 1; bad
 * arguments throw `UsageError`.
 *
 * @example
 * ```ts
 * import { runStatusCommand } from "./status.ts";
 * import { UsageError } from "./usage_error.ts";
 * let usage = false;
 * try {
 *   await runStatusCommand(["ftp://x"]);
 * } catch (e) {
 *   usage = e instanceof UsageError;
 * }
 * console.assert(usage);
 * ```
 */
export async function runStatusCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { json: { type: "boolean", default: false } },
  });
  const urls = positionals.flatMap((p) => p.split(",")).map((u) => u.trim().replace(/\/+$/, ""))
    .filter((u) => u !== "");
  if (urls.length === 0) {
    throw new UsageError("status takes a node's URL: raftlog status URL[,URL...]");
  }
  for (const u of urls) {
    if (!/^https?:\/\//.test(u)) throw new UsageError(`status: "${u}" is not an http(s) URL`);
  }
  const answers = await Promise.all(urls.map(async (url) => {
    try {
      const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(5000) });
      const text = await res.text();
      if (!res.ok) return { url, error: `${res.status} ${text}` };
      return { url, status: JSON.parse(text) as Status & Record<string, unknown> };
    } catch (e) {
      return { url, error: e instanceof Error ? e.message : String(e) };
    }
  }));
  const failed = answers.some((a) => a.error !== undefined);
  if (urls.length === 1 && !values.json) {
    const a = answers[0]!;
    if (a.status !== undefined) console.log(JSON.stringify(a.status, null, 2));
    else console.error(`Cannot reach ${a.url}/status: ${a.error}`);
    return failed ? 1 : 0;
  }
  if (values.json) {
    console.log(
      JSON.stringify(answers.map((a) => a.status ?? { url: a.url, error: a.error }), null, 2),
    );
    return failed ? 1 : 0;
  }
  const head = ["ID", "URL", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAST INDEX"];
  const rows = answers.map((a) => {
    const s = a.status;
    if (s === undefined) return ["?", a.url, `unreachable: ${a.error}`];
    return [s.id, a.url, s.role, s.term, s.leader ?? "(none)", s.commit, s.applied, s.lastIndex]
      .map(String);
  });
  // An unreachable node's line ends with its error, which sets no column's width.
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => i < r.length - 1 ? r[i]!.length : 0))
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join("  ");
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  return failed ? 1 : 0;
}
