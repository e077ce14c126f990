/**
 * Which leader a local cluster has, as `deno task cluster` asks its nodes.
 *
 * @module
 */

/**
 * The leader one of `nodes` knows, with its URL: it may be a node the
 * script did not start (one that joined the cluster since). Asks each
 * node's `/status`; undefined while none knows a leader.
 *
 * @example
 * ```ts
 * import { leaderOf } from "./cluster_leader.ts";
 * console.assert((await leaderOf([])) === undefined);
 * ```
 */
export async function leaderOf(
  nodes: readonly { readonly id: string; readonly url: string }[],
): Promise<{ id: string; url: string } | undefined> {
  const answers = await Promise.all(nodes.map(async (n) => {
    try {
      const res = await fetch(`${n.url}/status`, { signal: AbortSignal.timeout(500) });
      const s = await res.json() as { leader?: string; leaderUrl?: string | null };
      const url = s.leaderUrl ?? nodes.find((m) => m.id === s.leader)?.url;
      return s.leader && url ? { id: s.leader, url } : undefined;
    } catch {
      return undefined;
    }
  }));
  return answers.find((a) => a !== undefined);
}
