/**
 * Helpers for integration tests: free ports, waiting on conditions with deadlines.
 *
 * @module
 */

import { EventStore } from "../eventstore/event_store.ts";
import type { ProjectionDefinition } from "../eventstore/projections.ts";
import { type CommandResult, EventStoreStateMachine } from "../eventstore/state_machine.ts";
import type { RaftNode } from "../raft/node.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { eventStoreFastAppend, eventStoreRoutes } from "../transport/eventstore_routes.ts";
import { type ServedNode, serveNode, type ServeOptions } from "../transport/server.ts";

/** Ports handed out by {@link freePort} in this process. */
const handedOut = new Set<number>();

/** The lowest port the OS uses as a connection's source port; 32768 when unknown. */
function ephemeralLow(): number {
  try {
    const low = Number(
      Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

/**
 * A loopback port that is free now (it is closed before use). It is chosen at
 * random below the OS's ephemeral range: a port from the ephemeral range could
 * become the source port of a connection made by a test running in parallel
 * before the caller binds it. Never the same port twice in one process.
 */
export function freePort(): number {
  const high = ephemeralLow() - 1;
  const low = 10_000;
  for (let attempt = 0; attempt < 200 && high - low > 1000; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch {
      continue;
    }
    handedOut.add(port);
    return port;
  }
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Polls `cond` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  what: string,
  cond: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ""}`,
  );
}

/** fetch + JSON body, always consuming the body. */
export async function fetchJson(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { redirect: "manual", ...init });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text === "" ? {} : JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

/**
 * `n` nodes (`n1`...) serving HTTP on free loopback ports as one cluster
 * (cluster id "test", the given secret), each with the options `node` gives
 * it (storage, state machine, routes, ...).
 */
export async function serveLocalCluster<R>(
  n: number,
  secret: string,
  node: (id: string, ids: string[]) => Omit<
    ServeOptions<R>,
    "id" | "hostname" | "port" | "peers" | "clusterId" | "secret"
  >,
): Promise<ServedNode<R>[]> {
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const ports = ids.map(() => freePort());
  const peers = Object.fromEntries(ids.map((id, i) => [id, `http://127.0.0.1:${ports[i]}`]));
  return await Promise.all(ids.map((id, i) =>
    serveNode<R>({
      id,
      hostname: "127.0.0.1",
      port: ports[i]!,
      peers,
      clusterId: "test",
      secret,
      ...node(id, ids),
    })
  ));
}

/** Options of {@link serveEventStoreCluster}. */
export interface EventStoreClusterOptions {
  /** Projections every node's state machine runs. */
  readonly projections?: readonly ProjectionDefinition<number>[];
  /** The stores' request timeout (waits for positions, proposals). */
  readonly storeTimeoutMs?: number;
  /** SSE heartbeat interval of the routes. Default 100 ms. */
  readonly heartbeatMs?: number;
  /** Other serveNode options (tick, Raft config, request timeout, body limit, CORS...). */
  readonly serve?: Omit<
    ServeOptions<CommandResult>,
    | "id"
    | "hostname"
    | "port"
    | "peers"
    | "clusterId"
    | "secret"
    | "storage"
    | "stateMachine"
    | "routes"
    | "fastRoutes"
  >;
}

/**
 * An event store cluster of `n` nodes on MemoryStorage, served over HTTP as
 * `raftlog serve` wires it (the routes and the fast append route).
 */
export async function serveEventStoreCluster(
  n: number,
  opts: EventStoreClusterOptions = {},
): Promise<ServedNode<CommandResult>[]> {
  return await serveLocalCluster<CommandResult>(n, "sec", (_, ids) => {
    const storage = MemoryStorage.withVoters(ids);
    const sm = new EventStoreStateMachine({
      storage,
      ...(opts.projections !== undefined ? { projections: opts.projections } : {}),
    });
    let store: EventStore | undefined;
    const storeOf = (node: RaftNode<unknown>) =>
      store ??= new EventStore(
        node as RaftNode<CommandResult>,
        sm,
        opts.storeTimeoutMs !== undefined ? { requestTimeoutMs: opts.storeTimeoutMs } : {},
      );
    const heartbeatMs = opts.heartbeatMs ?? 100;
    return {
      storage,
      stateMachine: sm,
      tickMs: 10,
      ...opts.serve,
      routes: (node, metrics) => [eventStoreRoutes(storeOf(node), { metrics, heartbeatMs })],
      fastRoutes: (node, metrics) => [eventStoreFastAppend(storeOf(node), { metrics })],
    };
  });
}
