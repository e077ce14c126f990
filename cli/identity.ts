/**
 * Which node of which cluster a data directory belongs to: `raftlog serve`
 * and `raftlog join` record it in `<data>/identity.json` the first time and
 * refuse a directory recorded for another node id or cluster id, so a
 * mistyped `--id` or `--cluster-id` cannot make one node serve another's
 * log (or another cluster's).
 *
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../raft/storage/atomic_file.ts";

/** Name of the file, in the data directory, that holds its identity. */
export const IDENTITY_FILE = "identity.json";

/** What a data directory belongs to. */
export interface DataIdentity {
  readonly clusterId: string;
  readonly nodeId: string;
}

/**
 * Records `want` in `dataDir` if it holds no identity yet; throws if it
 * holds another one (or a file that is not an identity).
 *
 * @example
 * ```ts
 * import { claimDataDir } from "./identity.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   await claimDataDir(dir, { clusterId: "c", nodeId: "n1" });
 *   await claimDataDir(dir, { clusterId: "c", nodeId: "n1" });
 *   let refused = false;
 *   try { await claimDataDir(dir, { clusterId: "c", nodeId: "n2" }); } catch { refused = true; }
 *   console.assert(refused);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function claimDataDir(dataDir: string, want: DataIdentity): Promise<void> {
  const path = join(dataDir, IDENTITY_FILE);
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (text === undefined) {
    const body = JSON.stringify({ clusterId: want.clusterId, nodeId: want.nodeId }) + "\n";
    await writeFileAtomic(dataDir, IDENTITY_FILE, new TextEncoder().encode(body));
    return;
  }
  let have: Partial<DataIdentity>;
  try {
    have = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON`);
  }
  if (typeof have?.clusterId !== "string" || typeof have?.nodeId !== "string") {
    throw new Error(`${path} must hold {"clusterId": ..., "nodeId": ...}`);
  }
  if (have.clusterId !== want.clusterId || have.nodeId !== want.nodeId) {
    throw new Error(
      `data directory ${dataDir} belongs to node ${have.nodeId} of cluster ${have.clusterId}, ` +
        `not node ${want.nodeId} of cluster ${want.clusterId}: check --id, --cluster-id and --data`,
    );
  }
}
