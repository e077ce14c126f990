/**
 * Which of its nodes `deno task cluster` starts when it resumes a cluster,
 * and how it lists the cluster's members. Members may have left (`raftlog
 * leave`, `DELETE /members/{id}`) or joined (`raftlog join`) since the
 * cluster was created: the script starts only the nodes that are still
 * members, as their data directories have the membership committed.
 *
 * @module
 */

import { readStoredMembership } from "../raft/storage/stored_membership.ts";
import type { Member } from "../transport/member_routes.ts";
import { normalizePeerUrl } from "../transport/peer_url.ts";
import { loadPeerUrls } from "./peer_urls.ts";

/** A node the cluster script runs: `n1`..`nN` on consecutive ports. */
export interface ClusterNode {
  readonly id: string;
  readonly url: string;
  readonly dataDir: string;
}

/**
 * A node of the script that {@link planResume} leaves out: `removed`, it is
 * not a member any more; `elsewhere`, a member with its id runs at another URL.
 */
export interface SkippedNode {
  readonly node: ClusterNode;
  readonly why: "removed" | "elsewhere";
  /** Says why, for the script's output. */
  readonly reason: string;
}

/** The result of {@link planResume}. */
export interface ResumePlan {
  /** The script's nodes to start. */
  readonly start: readonly ClusterNode[];
  /** The script's nodes not to start, with the reason. */
  readonly skip: readonly SkippedNode[];
  /**
   * The members, as the data directory with the highest commit index has
   * them (URLs from its `peers.json`); undefined when no data directory
   * holds a membership yet.
   */
  readonly members: readonly Member[] | undefined;
  /** Data directories whose membership could not be read (their nodes start as before). */
  readonly warnings: readonly string[];
}

function sameUrl(a: string, b: string): boolean {
  try {
    return normalizePeerUrl(a) === normalizePeerUrl(b);
  } catch {
    return a === b;
  }
}

/**
 * Reads the membership each node's data directory has committed and keeps
 * the newest (committed prefixes agree, so the highest commit index knows
 * the latest changes). A node it does not list has left the cluster; one it
 * lists at another URL was added again elsewhere under the same id. Neither
 * is started. With no membership on disk yet, every node starts.
 *
 * @example
 * ```ts
 * import { planResume } from "./cluster_members.ts";
 * const plan = await planResume([{ id: "n1", url: "http://127.0.0.1:7001", dataDir: "/no/such/dir" }]);
 * console.assert(plan.start.length === 1 && plan.members === undefined);
 * ```
 */
export async function planResume(nodes: readonly ClusterNode[]): Promise<ResumePlan> {
  const warnings: string[] = [];
  let best: { node: ClusterNode; commit: number; ids: Map<string, Member["role"]> } | undefined;
  for (const node of nodes) {
    let stored;
    try {
      stored = await readStoredMembership(node.dataDir);
    } catch (e) {
      warnings.push(
        `cannot read the membership in ${node.dataDir}: ${e instanceof Error ? e.message : e}`,
      );
      continue;
    }
    if (stored === undefined || (best !== undefined && stored.commit <= best.commit)) continue;
    const cs = stored.confState;
    const ids = new Map<string, Member["role"]>();
    for (const id of [...cs.learners, ...cs.learnersNext]) ids.set(id, "learner");
    for (const id of [...cs.voters, ...cs.votersOutgoing]) ids.set(id, "voter");
    best = { node, commit: stored.commit, ids };
  }
  if (best === undefined) return { start: nodes, skip: [], members: undefined, warnings };

  let urls: Record<string, string> = {};
  try {
    urls = await loadPeerUrls(best.node.dataDir);
  } catch (e) {
    warnings.push(e instanceof Error ? e.message : String(e));
  }
  const roles = best.ids;
  const members = [...roles.keys()].sort().map((id): Member => ({
    id,
    role: roles.get(id)!,
    url: urls[id] ?? nodes.find((n) => n.id === id)?.url ?? null,
  }));
  const where =
    `the membership committed up to index ${best.commit} in ${best.node.id}'s data directory`;
  const start: ClusterNode[] = [];
  const skip: SkippedNode[] = [];
  for (const node of nodes) {
    const m = members.find((x) => x.id === node.id);
    if (m === undefined) {
      skip.push({
        node,
        why: "removed",
        reason: `it is no longer a member of the cluster (${where} lists ${
          members.map((x) => x.id).join(", ")
        })`,
      });
    } else if (m.url !== null && !sameUrl(m.url, node.url)) {
      skip.push({
        node,
        why: "elsewhere",
        reason:
          `the member ${node.id} of the cluster is at ${m.url} now, not at ${node.url} (${where})`,
      });
    } else {
      start.push(node);
    }
  }
  return { start, skip, members, warnings };
}

/**
 * The summary's table of members: id, URL, role, the leader marked, and the
 * members the script did not start marked as such. `started` are the ids
 * the script runs.
 *
 * @example
 * ```ts
 * import { memberTable } from "./cluster_members.ts";
 * const rows = memberTable(
 *   [{ id: "n1", url: "http://127.0.0.1:7001", role: "voter" },
 *    { id: "n4", url: "http://127.0.0.1:7004", role: "learner" }],
 *   { started: ["n1"], leader: "n1" },
 * );
 * console.assert(rows[0]!.endsWith("(leader)") && rows[1]!.includes("not started by this script"));
 * ```
 */
export function memberTable(
  members: readonly Member[],
  opts: { readonly started: readonly string[]; readonly leader: string },
): string[] {
  const idWidth = Math.max(0, ...members.map((m) => m.id.length));
  const urlWidth = Math.max(0, ...members.map((m) => (m.url ?? "(URL unknown)").length));
  return members.map((m) => {
    const notes = [
      ...(m.id === opts.leader ? ["(leader)"] : []),
      ...(opts.started.includes(m.id) ? [] : ["not started by this script"]),
    ];
    return [
      `  ${m.id.padEnd(idWidth)}`,
      (m.url ?? "(URL unknown)").padEnd(urlWidth),
      m.role.padEnd(7),
      ...notes,
    ].join("  ").trimEnd();
  });
}
