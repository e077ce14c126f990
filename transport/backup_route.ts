/**
 * `GET /backup`: the node's state as a backup file (see
 * raft/storage/backup_file.ts), for `raftlog backup` and `raftlog restore`.
 * It takes the cluster secret (a backup holds every event), like the
 * membership routes.
 *
 * The body is streamed: the state machine's chunks are read as the client
 * reads them (the event store's entries are never in memory all at once).
 *
 * By default the backup holds every write acknowledged before the request:
 * the node first confirms with the leader how far the log is committed
 * (ReadIndex) and waits until it has applied that far. `?consistency=local`
 * takes it at whatever this node has applied, without asking anyone: the
 * way to save what a node holds when its cluster has lost its quorum.
 *
 * @module
 */

import { Hono } from "hono";
import type { RaftNode } from "../raft/node.ts";
import { backupStream } from "../raft/storage/backup_file.ts";
import { secretMatches } from "./peer_routes.ts";
import { SECRET_HEADER } from "./peer_transport.ts";

/** Options of {@link backupRoute}. */
export interface BackupRouteOptions {
  /** The node to back up. */
  readonly node: RaftNode<unknown>;
  /** The cluster secret the request must carry in `x-raftlog-secret`. */
  readonly secret: string;
  /** The cluster id, recorded in the backup. */
  readonly clusterId: string;
  /**
   * A client that reads nothing of the backup for this long loses it (the
   * log is kept for a backup being read). Default 60,000 ms.
   */
  readonly idleMs?: number;
}

const DEFAULT_IDLE_MS = 60_000;

/** The header with the backup's applied index. */
export const BACKUP_INDEX_HEADER = "x-raftlog-backup-index";

/**
 * Builds `GET /backup`.
 *
 * @example
 * ```ts
 * import { backupRoute } from "./backup_route.ts";
 * import { readBackup } from "../raft/storage/backup_file.ts";
 * import { RaftNode } from "../raft/node.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const node = await RaftNode.start({
 *   id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} },
 *   stateMachine: { apply: (c) => c.map(() => null), snapshot: () => new Uint8Array([4]), restore: () => {} },
 * });
 * await node.waitForLeader();
 * const app = backupRoute({ node, secret: "s", clusterId: "c" });
 * console.assert((await app.request("/backup")).status === 401);
 * const res = await app.request("/backup", { headers: { "x-raftlog-secret": "s" } });
 * const { backup } = readBackup(new Uint8Array(await res.arrayBuffer()));
 * console.assert(backup.data[0] === 4 && backup.metadata.index >= 1);
 * await node.stop();
 * ```
 */
export function backupRoute(opts: BackupRouteOptions): Hono {
  const { node } = opts;
  const app = new Hono();
  app.get("/backup", async (c) => {
    if (!secretMatches(c.req.header(SECRET_HEADER), opts.secret)) {
      return c.json({
        error: "unauthorized",
        message: `Backups need the cluster secret in ${SECRET_HEADER}`,
      }, 401);
    }
    const consistency = c.req.query("consistency") ?? "linearizable";
    if (consistency !== "linearizable" && consistency !== "local") {
      return c.json({
        error: "invalid_query",
        message: `consistency must be linearizable or local, got ${JSON.stringify(consistency)}`,
      }, 400);
    }
    // Errors (no leader, a timeout, a stopped node) are answered like reads' (errors.ts).
    if (consistency === "linearizable") await node.readIndex();
    const backup = await node.backup();
    if (backup.metadata.index === 0) {
      if (!(backup.data instanceof Uint8Array)) await backup.data.return?.();
      return c.json(
        {
          error: "not_ready",
          message: "This node has applied nothing yet: there is nothing to back up",
        },
        503,
        { "retry-after": "1" },
      );
    }
    const body = backupStream(backup, { nodeId: node.id, clusterId: opts.clusterId }, {
      idleMs: opts.idleMs ?? DEFAULT_IDLE_MS,
    });
    const name = `raftlog-${opts.clusterId}-${node.id}-${backup.metadata.index}.backup`
      .replace(/[^A-Za-z0-9._-]/g, "_");
    return c.body(body, 200, {
      "content-type": "application/octet-stream",
      "content-disposition": `attachment; filename="${name}"`,
      [BACKUP_INDEX_HEADER]: String(backup.metadata.index),
    });
  });
  return app;
}
