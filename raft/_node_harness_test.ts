/**
 * Pieces for node-level tests: a storage whose writes can be held back or
 * given work to do while they are in flight, a transport that records what
 * is sent, and a way to let pending callbacks run.
 *
 * @module
 */
import type { InitialState } from "./core/storage.ts";
import type { ConfState, Entry, Message, Snapshot } from "./core/types.ts";
import { MemoryStorage } from "./storage/memory_storage.ts";
import type { SaveOptions, StorageUpdate, WritableStorage } from "./storage/writable_storage.ts";

/** A MemoryStorage whose saves wait while blocked, and may run `onSave` first. */
export class GatedStorage implements WritableStorage {
  readonly inner: MemoryStorage;
  #gate: Promise<void> | undefined;
  #release: (() => void) | undefined;
  /** Saves waiting for {@link GatedStorage.release}. */
  waiting = 0;
  /** Runs at each save before it completes (requests that arrive during a slow write). */
  onSave: (() => Promise<void> | void) | undefined;
  constructor(inner: MemoryStorage) {
    this.inner = inner;
  }
  /** Holds the next saves until {@link GatedStorage.release}. */
  block(): void {
    this.#gate = new Promise((r) => (this.#release = r));
  }
  release(): void {
    const r = this.#release;
    this.#gate = undefined;
    this.#release = undefined;
    r?.();
  }
  initialState(): InitialState {
    return this.inner.initialState();
  }
  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    return this.inner.entries(lo, hi, maxBytes);
  }
  term(i: number): number {
    return this.inner.term(i);
  }
  firstIndex(): number {
    return this.inner.firstIndex();
  }
  lastIndex(): number {
    return this.inner.lastIndex();
  }
  snapshot(): Snapshot {
    return this.inner.snapshot();
  }
  async save(u: StorageUpdate, o?: SaveOptions): Promise<void> {
    if (this.onSave !== undefined) await this.onSave();
    if (this.#gate !== undefined) {
      this.waiting++;
      await this.#gate;
      this.waiting--;
    }
    return this.inner.save(u, o);
  }
  createSnapshot(index: number, cs: ConfState, data: Uint8Array): Promise<Snapshot> {
    return this.inner.createSnapshot(index, cs, data);
  }
  compact(i: number): Promise<void> {
    return this.inner.compact(i);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A transport that keeps what it is given. */
export class RecordingTransport {
  sent: Message[] = [];
  send(ms: readonly Message[]): void {
    this.sent.push(...ms);
  }
  take(): Message[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
}

/** Lets pending promise callbacks and zero-delay timers run, `n` rounds. */
export async function settle(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setTimeout(r, 0));
}

/** A state machine that stores nothing. */
export const nullMachine = {
  apply: (c: readonly unknown[]) => c.map(() => null),
  snapshot: () => new Uint8Array(),
  restore: () => {},
};
