/**
 * The recent history of a simulation, kept in a ring buffer and formatted
 * only when someone reads it (a failing seed), so recording stays cheap.
 *
 * @module
 */

import type { Message } from "../core/types.ts";

/**
 * A one-line description of a message.
 *
 * @example
 * ```ts
 * import { formatMessage } from "./trace.ts";
 * const s = formatMessage({ type: "heartbeat", from: "n1", to: "n2", term: 3, commit: 7, context: "" });
 * if (!(s === "n1->n2 heartbeat t3 c7")) throw new Error("unexpected");
 * ```
 */
export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case "app": {
      const n = m.entries.length;
      const ents = n === 0 ? "" : ` +[${m.entries[0]!.index}..${m.entries[n - 1]!.index}]`;
      return `${head} prev ${m.index}/t${m.logTerm}${ents} c${m.commit}`;
    }
    case "appResp":
      return m.reject
        ? `${head} reject ${m.index} hint ${m.rejectHint}/t${m.logTerm}`
        : `${head} ok ${m.index}`;
    case "heartbeat":
      return `${head} c${m.commit}${m.context === "" ? "" : ` ctx ${m.context}`}`;
    case "heartbeatResp":
      return m.context === "" ? head : `${head} ctx ${m.context}`;
    case "vote":
    case "preVote":
      return `${head} last ${m.index}/t${m.logTerm}${m.transfer ? " transfer" : ""}`;
    case "voteResp":
    case "preVoteResp":
      return `${head} ${m.reject ? "reject" : "grant"}`;
    case "snap":
      return `${head} snapshot ${m.snapshot.metadata.index}/t${m.snapshot.metadata.term}`;
    case "prop":
      return `${head} ${m.entries.length} entries${
        m.context === undefined ? "" : ` ctx ${m.context}`
      }`;
    case "propRefused":
      return `${head} ctx ${m.context}: ${m.reason}`;
    case "readIndex":
      return `${head} ctx ${m.context}`;
    case "readIndexResp":
      return `${head} ${m.index} ctx ${m.context}`;
    case "timeoutNow":
      return head;
    case "transferLeader":
      return `${head} to ${m.transferee}`;
  }
}

/**
 * The last `capacity` events of a run. An event is a step number plus either
 * a text or a message (formatted on read).
 *
 * @example
 * ```ts
 * import { SimTrace } from "./trace.ts";
 * const t = new SimTrace(2);
 * t.note(1, "a"); t.note(2, "b"); t.note(3, "c");
 * if (!(t.lines().join("|") === "[2] b|[3] c")) throw new Error("unexpected");
 * ```
 */
export class SimTrace {
  readonly #capacity: number;
  readonly #steps: number[] = [];
  readonly #items: (string | Message)[] = [];
  readonly #tags: string[] = [];
  #next = 0;
  #count = 0;

  /** A trace keeping the last `capacity` events. */
  constructor(capacity = 200) {
    this.#capacity = Math.max(1, capacity);
  }

  /** Records a text event at `step`. */
  note(step: number, text: string): void {
    this.#put(step, "", text);
  }

  /** Records a message event (e.g. `deliver`, `lost drop`) at `step`. */
  message(step: number, tag: string, m: Message): void {
    this.#put(step, tag, m);
  }

  #put(step: number, tag: string, item: string | Message): void {
    this.#steps[this.#next] = step;
    this.#tags[this.#next] = tag;
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.#capacity;
    this.#count++;
  }

  /** Total events recorded, including those no longer kept. */
  count(): number {
    return this.#count;
  }

  /** The kept events, oldest first, formatted as `[step] text`. */
  lines(): string[] {
    const n = Math.min(this.#count, this.#capacity);
    const start = this.#count > this.#capacity ? this.#next : 0;
    const out: string[] = [];
    for (let k = 0; k < n; k++) {
      const i = (start + k) % this.#capacity;
      const item = this.#items[i]!;
      const text = typeof item === "string" ? item : `${this.#tags[i]} ${formatMessage(item)}`;
      out.push(`[${this.#steps[i]}] ${text}`);
    }
    return out;
  }
}
