/**
 * `raftlog backup` and `raftlog restore`: save a running cluster's state to
 * one file (`GET /backup` of a member), and make the data directories of a
 * new cluster from it.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { renameDurably } from "../raft/storage/atomic_file.ts";
import {
  BackupChecker,
  BackupFormatError,
  type BackupInfo,
  readBackup,
  restoreDataDir,
} from "../raft/storage/backup_file.ts";
import { SECRET_HEADER } from "../transport/peer_transport.ts";
import { claimDataDir } from "./identity.ts";
import { clusterUrls, secretOf } from "./members.ts";
import { parsePeers } from "./peer_urls.ts";
import { UsageError } from "./usage_error.ts";

/** How long `raftlog backup` waits for a member's answer, or its next bytes. */
const IDLE_MS = 60_000;

/**
 * Runs `raftlog backup --cluster URL[,URL...] --out FILE [--local]`: asks the
 * members in turn for a backup and streams it to disk, checking it on the
 * way; it replaces `FILE` only once the whole backup proved intact. Resolves with the
 * exit code: 0 ok, 1 no member gave a backup; bad arguments throw `UsageError`.
 *
 * @example
 * ```ts
 * import { runBackupCommand } from "./backup.ts";
 * import { UsageError } from "./usage_error.ts";
 * let usage = false;
 * try {
 *   await runBackupCommand(["--cluster", "http://127.0.0.1:7001", "--secret", "s"]);
 * } catch (e) {
 *   usage = e instanceof UsageError; // no --out
 * }
 * console.assert(usage);
 * ```
 */
export async function runBackupCommand(
  args: readonly string[],
  env: (name: string) => string | undefined = () => undefined,
  opts: { readonly idleMs?: number } = {},
): Promise<number> {
  const idleMs = opts.idleMs ?? IDLE_MS;
  const { values, positionals } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: true,
    options: {
      cluster: { type: "string" },
      out: { type: "string" },
      local: { type: "boolean", default: false },
      secret: { type: "string" },
      "secret-file": { type: "string" },
    },
  });
  if (positionals.length > 0) {
    throw new UsageError(`backup takes no positional arguments, got "${positionals.join(" ")}"`);
  }
  const urls = clusterUrls("backup", values.cluster);
  if (values.out === undefined || values.out === "") {
    throw new UsageError("backup needs --out FILE: where to write the backup");
  }
  const secret = secretOf(values, env);
  const out = resolve(values.out);
  const failures: string[] = [];
  for (const url of urls) {
    // A member that answers nothing (or stops sending) for IDLE_MS is given up for the next.
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => ac.abort(new Error(`nothing arrived for ${idleMs} ms`)),
        idleMs,
      );
    };
    alive();
    try {
      const res = await fetch(`${url}/backup${values.local ? "?consistency=local" : ""}`, {
        headers: { [SECRET_HEADER]: secret },
        signal: ac.signal,
      });
      if (!res.ok) {
        const text = await res.text();
        let why = text;
        try {
          why = JSON.parse(text).message ?? text;
        } catch {
          // Not JSON: as is.
        }
        failures.push(`${url}: ${res.status} ${why}`);
        // A wrong secret is wrong on every member.
        if (res.status === 401) break;
        continue;
      }
      const { info, bytes } = await saveChecked(res.body!, out, alive);
      console.log(
        `Backup of ${info.nodeId} (cluster ${info.clusterId}) at index ${info.index}, term ${info.term}: ${bytes} bytes in ${out}`,
      );
      return 0;
    } catch (e) {
      const why = ac.signal.aborted ? ac.signal.reason : e;
      failures.push(`${url}: ${why instanceof Error ? why.message : why}`);
    } finally {
      clearTimeout(timer);
    }
  }
  console.error(`raftlog backup: no member gave a backup\n  ${failures.join("\n  ")}`);
  return 1;
}

/**
 * Writes `body` to a temporary file next to `out` while checking it, and
 * renames it over `out` only once the whole backup proved intact (synced,
 * then the directory): a backup cut short or damaged never replaces `out`.
 */
async function saveChecked(
  body: ReadableStream<Uint8Array>,
  out: string,
  arrived: () => void,
): Promise<{ info: BackupInfo; bytes: number }> {
  const dir = dirname(out);
  const tmp = `.${basename(out)}.${Deno.pid}.partial`;
  const file = await Deno.open(join(dir, tmp), { write: true, create: true, truncate: true });
  const check = new BackupChecker();
  let bytes = 0;
  try {
    try {
      for await (const chunk of body) {
        arrived();
        check.push(chunk);
        let done = 0;
        while (done < chunk.length) done += await file.write(chunk.subarray(done));
        bytes += chunk.length;
      }
      await file.sync();
    } finally {
      file.close();
    }
    const info = check.finish();
    await renameDurably(dir, tmp, basename(out));
    return { info, bytes };
  } catch (e) {
    await Deno.remove(join(dir, tmp)).catch(() => {});
    throw e;
  }
}

/**
 * Runs `raftlog restore FILE --data DIR --id ID --peers ID=URL,... [--cluster-id C]`:
 * checks the backup and makes `DIR` (new or empty) the data directory of
 * node `ID` of a cluster whose voters are `--peers`, starting from the
 * backup. Run it once per member, with the same file and `--peers`, then
 * start each with `raftlog serve`. Resolves with the exit code: 0 ok, 1 the
 * file or directory cannot be used; bad arguments throw `UsageError`.
 *
 * @example
 * ```ts
 * import { runRestoreCommand } from "./backup.ts";
 * import { UsageError } from "./usage_error.ts";
 * let usage = false;
 * try {
 *   await runRestoreCommand(["b.backup", "--data", "d", "--id", "n9", "--peers", "n1=http://127.0.0.1:7001"]);
 * } catch (e) {
 *   usage = e instanceof UsageError; // n9 is not in --peers
 * }
 * console.assert(usage);
 * ```
 */
export async function runRestoreCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: true,
    options: {
      data: { type: "string" },
      id: { type: "string" },
      peers: { type: "string" },
      "cluster-id": { type: "string" },
    },
  });
  if (positionals.length !== 1) {
    throw new UsageError("restore takes one backup file: raftlog restore FILE --data DIR ...");
  }
  if (values.data === undefined || values.data === "") {
    throw new UsageError("restore needs --data DIR: the new node's data directory");
  }
  if (values.id === undefined || values.id === "") {
    throw new UsageError("restore needs --id ID: the node this directory is for");
  }
  if (values.peers === undefined) {
    throw new UsageError("restore needs --peers ID=URL,...: the voters of the restored cluster");
  }
  const peers = parsePeers(values.peers);
  if (!(values.id in peers)) {
    throw new UsageError(`restore: --id ${values.id} is not one of --peers`);
  }
  const clusterId = values["cluster-id"] ?? "raftlog";
  if (clusterId === "") throw new UsageError("--cluster-id must not be empty");
  const file = positionals[0]!;
  let restored;
  try {
    restored = readBackup(await Deno.readFile(file));
  } catch (e) {
    const why = e instanceof BackupFormatError || e instanceof Deno.errors.NotFound
      ? e.message
      : String(e);
    console.error(`raftlog restore: cannot use ${file}: ${why}`);
    return 1;
  }
  const voters = Object.keys(peers).sort();
  try {
    await restoreDataDir(values.data, restored.backup, voters);
    await claimDataDir(values.data, { clusterId, nodeId: values.id });
  } catch (e) {
    console.error(`raftlog restore: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
  const { info } = restored;
  console.log(
    `Restored ${values.data} for ${values.id} from ${file} (${info.nodeId}'s state at index ${info.index}); voters ${
      voters.join(", ")
    }. Start it with: raftlog serve --id ${values.id} --peers ${values.peers} --data ${values.data} --cluster-id ${clusterId} --secret ...`,
  );
  return 0;
}
