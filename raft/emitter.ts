/**
 * A tiny typed event emitter.
 *
 * @module
 */

/**
 * Typed listeners keyed by event name.
 *
 * @example
 * ```ts
 * import { Emitter } from "./emitter.ts";
 * const e = new Emitter<{ ping: number }>();
 * let got = 0;
 * const off = e.on("ping", (n) => { got = n; });
 * e.emit("ping", 3);
 * off();
 * console.assert(got === 3);
 * ```
 */
export class Emitter<Events extends object> {
  #listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, set = new Set());
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  /** Calls every listener of `event`; a throwing listener does not stop the others. */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const l of set) {
      try {
        (l as (payload: Events[K]) => void)(payload);
      } catch {
        // A listener's failure is its own; the node keeps running.
      }
    }
  }
}
