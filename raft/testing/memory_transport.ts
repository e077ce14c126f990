/**
 * An in-process network for `RaftNode`s, with partitions, for node-level
 * tests (the pure simulator in `network.ts` drives `RawNode`s instead).
 *
 * @module
 */

import type { Message, NodeId } from "../core/types.ts";
import type { RaftNode, Transport } from "../node.ts";

/**
 * Delivers messages between registered nodes asynchronously (on a later
 * microtask), dropping those that cross a cut link.
 *
 * @example
 * ```ts
 * import { MemoryNetwork } from "./memory_transport.ts";
 * const net = new MemoryNetwork();
 * net.isolate("n1", ["n1", "n2"]);
 * console.assert(!net.canReach("n1", "n2"));
 * net.heal();
 * console.assert(net.canReach("n1", "n2"));
 * ```
 */
export class MemoryNetwork {
  readonly #nodes = new Map<NodeId, RaftNode<unknown>>();
  readonly #cut = new Set<string>();
  /** Messages delivered so far. */
  delivered = 0;

  /** The transport of node `id`. */
  transport(id: NodeId): Transport {
    return {
      send: (messages: readonly Message[]) => {
        const batch = messages.filter((m) => this.canReach(id, m.to));
        if (batch.length === 0) return;
        queueMicrotask(() => {
          for (const m of batch) {
            const n = this.#nodes.get(m.to);
            if (n === undefined || n.stopped || !this.canReach(id, m.to)) continue;
            this.delivered++;
            n.step(m);
          }
        });
      },
    };
  }

  /** Makes `node` reachable under its id. */
  register(node: RaftNode<unknown>): void {
    this.#nodes.set(node.id, node);
  }

  /** Removes a node (e.g. when it stops). */
  unregister(id: NodeId): void {
    this.#nodes.delete(id);
  }

  /** True if messages from `a` reach `b`. */
  canReach(a: NodeId, b: NodeId): boolean {
    return !this.#cut.has(`${a}>${b}`);
  }

  /** Splits the network into groups; links between groups are cut both ways. */
  partition(...groups: NodeId[][]): void {
    this.#cut.clear();
    for (const g of groups) {
      for (const h of groups) {
        if (g === h) continue;
        for (const a of g) for (const b of h) this.#cut.add(`${a}>${b}`);
      }
    }
  }

  /** Cuts `id` off from every node in `all`. */
  isolate(id: NodeId, all: readonly NodeId[]): void {
    this.partition([id], all.filter((x) => x !== id));
  }

  /** Restores every link. */
  heal(): void {
    this.#cut.clear();
  }
}
