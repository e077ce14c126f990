/**
 * A lock-step network of RawNodes for protocol tests: every message can be
 * delivered, dropped or held by hand; nodes can be isolated, healed and
 * restarted from their storage.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { decodeConfChange } from "./confchange.ts";
import { RawNode } from "./raw_node.ts";
import type { Entry, Message, ReadState, RefusedProposal } from "./types.ts";
import { MemoryStorage } from "../storage/memory_storage.ts";

export const enc = new TextEncoder();
export const dec = new TextDecoder();

export class Net {
  nodes = new Map<string, RawNode>();
  storages = new Map<string, MemoryStorage>();
  reads = new Map<string, ReadState[]>();
  refused = new Map<string, RefusedProposal[]>();
  applied = new Map<string, Entry[]>();
  cut = new Set<string>();
  /** Return true to drop; "hold" to keep the message aside in `held`. */
  filter: (m: Message) => boolean | "hold" = () => false;
  held: Message[] = [];
  log: string[] = [];
  cfgs = new Map<string, Partial<Config>>();
  constructor(ids: string[], readonly cfg: Partial<Config> = {}, learners: string[] = []) {
    for (const id of ids) {
      this.add(
        id,
        MemoryStorage.withVoters(ids.filter((x) => !learners.includes(x)), learners),
      );
    }
  }
  add(id: string, storage: MemoryStorage): void {
    this.storages.set(id, storage);
    this.nodes.set(
      id,
      new RawNode({ id, storage, seed: id.charCodeAt(id.length - 1), ...this.cfg }),
    );
    this.reads.set(id, this.reads.get(id) ?? []);
    this.refused.set(id, this.refused.get(id) ?? []);
    this.applied.set(id, this.applied.get(id) ?? []);
  }
  /** Crash (lose everything unpersisted) and restart from storage. */
  restart(id: string): void {
    const s = this.storages.get(id)!;
    const applied = s.snapshot().metadata.index;
    this.nodes.set(id, new RawNode({ id, storage: s, seed: 99, applied, ...this.cfg }));
  }
  isolate(id: string): void {
    for (const other of this.nodes.keys()) {
      if (other !== id) this.cut.add(`${id}>${other}`).add(`${other}>${id}`);
    }
  }
  heal(): void {
    this.cut.clear();
  }
  node(id: string): RawNode {
    return this.nodes.get(id)!;
  }
  role(id: string): string {
    return this.node(id).status().softState.role;
  }
  handle(id: string): Message[] {
    const n = this.nodes.get(id)!;
    const out: Message[] = [];
    while (n.hasReady()) {
      const rd = n.ready();
      const s = this.storages.get(id)!;
      if (rd.snapshot) s.applySnapshot(rd.snapshot);
      s.append(rd.entries);
      if (rd.hardState) s.setHardState(rd.hardState);
      this.reads.get(id)!.push(...rd.readStates);
      this.refused.get(id)!.push(...rd.refusedProposals);
      for (const e of rd.committedEntries) {
        if (e.type === "confChange") n.applyConfChange(decodeConfChange(e.data));
        this.applied.get(id)!.push(e);
      }
      out.push(...rd.messages);
      n.advance(rd);
    }
    return out;
  }
  deliver(m: Message): void {
    const to = this.nodes.get(m.to);
    if (to === undefined) return;
    this.log.push(`${m.from}->${m.to} ${m.type} t${m.term}`);
    to.step(m);
  }
  /** Processes Readies and delivers messages until quiet. */
  pump(): void {
    for (let round = 0; round < 10000; round++) {
      const inbox: Message[] = [];
      for (const id of this.nodes.keys()) {
        for (const m of this.handle(id)) {
          if (this.cut.has(`${m.from}>${m.to}`)) continue;
          const f = this.filter(m);
          if (f === "hold") this.held.push(m);
          else if (!f) inbox.push(m);
        }
      }
      if (inbox.length === 0) return;
      for (const m of inbox) this.deliver(m);
    }
    throw new Error("network did not settle");
  }
  tickAll(ids: string[] = [...this.nodes.keys()]): void {
    for (const id of ids) this.nodes.get(id)!.tick();
    this.pump();
  }
  leaders(): string[] {
    return [...this.nodes].filter(([, n]) => n.status().softState.role === "leader").map(([id]) =>
      id
    );
  }
  propose(id: string, s: string): void {
    this.node(id).propose(enc.encode(s));
    this.pump();
  }
  commit(id: string): number {
    return this.node(id).status().hardState.commit;
  }
}
