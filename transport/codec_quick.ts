/**
 * A hand-written check of the four message types that make up nearly all
 * peer traffic (append, append reply, heartbeat, heartbeat reply), for the
 * valid case only: it accepts a subset of what the wire schema in
 * `codec.ts` accepts and returns the same message. Anything else returns
 * undefined and goes through the schema, which also words the rejections.
 * (Validating every entry of every append with the schema library cost a
 * twentieth of a follower's CPU.)
 *
 * @module
 */

import type { Entry, Message } from "../raft/core/types.ts";
import { bytesOfBase64 } from "./base64.ts";

const isNat = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isId = (v: unknown): v is string => typeof v === "string" && v.length <= 128;

/** Decodes a wire entry whose fields were checked; throws `SyntaxError` if `data` is not base64. */
function entryFromWire(
  term: number,
  index: number,
  type: Entry["type"],
  data: string,
): Entry {
  return { term, index, type, data: bytesOfBase64(data) };
}

function quickEntries(raw: unknown): Entry[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out: Entry[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const e = raw[i] as Record<string, unknown> | null;
    if (e === null || typeof e !== "object" || Array.isArray(e)) return undefined;
    const { term, index, type, data } = e;
    if (
      !isNat(term) || !isNat(index) || (type !== "normal" && type !== "confChange") ||
      typeof data !== "string"
    ) return undefined;
    try {
      out[i] = entryFromWire(term, index, type, data);
    } catch {
      return undefined; // Not base64: the schema path words the rejection.
    }
  }
  return out;
}

/**
 * The message `raw` stands for when it is a valid append, append reply,
 * heartbeat or heartbeat reply; otherwise undefined (which says nothing about
 * its validity).
 *
 * @example
 * ```ts
 * import { quickMessage } from "./codec_quick.ts";
 * const m = quickMessage({ type: "heartbeat", from: "a", to: "b", term: 2, commit: 1, context: "" });
 * console.assert(m?.type === "heartbeat");
 * console.assert(quickMessage({ type: "heartbeat", from: "a" }) === undefined);
 * ```
 */
export function quickMessage(raw: unknown): Message | undefined {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return undefined;
  const m = raw as Record<string, unknown>;
  const { from, to, term } = m;
  if (!isId(from) || !isId(to) || !isNat(term)) return undefined;
  switch (m.type) {
    case "app": {
      const { index, logTerm, commit } = m;
      if (!isNat(index) || !isNat(logTerm) || !isNat(commit)) return undefined;
      const entries = quickEntries(m.entries);
      if (entries === undefined) return undefined;
      return { type: "app", from, to, term, index, logTerm, entries, commit };
    }
    case "appResp": {
      const { index, reject, rejectHint, logTerm, commit } = m;
      if (
        !isNat(index) || typeof reject !== "boolean" || !isNat(rejectHint) || !isNat(logTerm)
      ) return undefined;
      if (commit === undefined) {
        return { type: "appResp", from, to, term, index, reject, rejectHint, logTerm };
      }
      if (!isNat(commit)) return undefined;
      return { type: "appResp", from, to, term, index, reject, rejectHint, logTerm, commit };
    }
    case "heartbeat": {
      const { commit, context } = m;
      if (!isNat(commit) || typeof context !== "string") return undefined;
      return { type: "heartbeat", from, to, term, commit, context };
    }
    case "heartbeatResp": {
      const { commit, context } = m;
      if (typeof context !== "string") return undefined;
      if (commit === undefined) return { type: "heartbeatResp", from, to, term, context };
      if (!isNat(commit)) return undefined;
      return { type: "heartbeatResp", from, to, term, context, commit };
    }
  }
  return undefined;
}
