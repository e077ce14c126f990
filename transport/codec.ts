/**
 * JSON wire format of peer messages, validated by schema. Byte fields
 * (entry data, snapshot data) travel as base64 strings.
 *
 * @module
 */

import { z } from "zod";
import type { Entry, Message, Snapshot } from "../raft/core/types.ts";
import { base64Of, bytesOfBase64 } from "./base64.ts";
import { quickMessage } from "./codec_quick.ts";

// Not checked by the schema (a regex cost a sixth of a follower's CPU): the decoder rejects what
// is not base64 (see bytesField).
const b64 = z.string();
const nat = z.number().int().nonnegative();
const id = z.string().max(128);

const entrySchema = z.object({
  term: nat,
  index: nat,
  type: z.enum(["normal", "confChange"]),
  data: b64,
});

const confStateSchema = z.object({
  voters: z.array(id),
  learners: z.array(id),
  votersOutgoing: z.array(id),
  learnersNext: z.array(id),
  autoLeave: z.boolean(),
});

const base = { from: id, to: id, term: nat };

const messageSchema = z.discriminatedUnion("type", [
  z.object({
    ...base,
    type: z.literal("app"),
    index: nat,
    logTerm: nat,
    entries: z.array(entrySchema),
    commit: nat,
  }),
  z.object({
    ...base,
    type: z.literal("appResp"),
    index: nat,
    reject: z.boolean(),
    rejectHint: nat,
    logTerm: nat,
    commit: nat.optional(),
  }),
  z.object({ ...base, type: z.literal("heartbeat"), commit: nat, context: z.string() }),
  z.object({
    ...base,
    type: z.literal("heartbeatResp"),
    context: z.string(),
    commit: nat.optional(),
  }),
  z.object({
    ...base,
    type: z.enum(["vote", "preVote"]),
    index: nat,
    logTerm: nat,
    transfer: z.boolean(),
  }),
  z.object({ ...base, type: z.enum(["voteResp", "preVoteResp"]), reject: z.boolean() }),
  z.object({
    ...base,
    type: z.literal("snap"),
    snapshot: z.object({
      metadata: z.object({ index: nat, term: nat, confState: confStateSchema }),
      data: b64,
    }),
  }),
  z.object({
    ...base,
    type: z.literal("prop"),
    entries: z.array(entrySchema).min(1),
    context: z.string().optional(),
  }),
  z.object({
    ...base,
    type: z.literal("propRefused"),
    context: z.string(),
    reason: z.string(),
  }),
  z.object({ ...base, type: z.literal("readIndex"), context: z.string() }),
  z.object({ ...base, type: z.literal("readIndexResp"), index: nat, context: z.string() }),
  z.object({ ...base, type: z.literal("timeoutNow") }),
  z.object({ ...base, type: z.literal("transferLeader"), transferee: id }),
]);

/** A batch of messages from one node to another, as sent over HTTP. */
export const batchSchema: z.ZodType<WireBatch> = z.object({
  clusterId: z.string().max(128),
  from: id,
  /** Random id of the sender's process; sequence numbers restart with it. */
  boot: z.string().max(64),
  /** Per (sender, boot) sequence number, so the receiver can restore order. */
  seq: nat,
  messages: z.array(messageSchema),
}) as unknown as z.ZodType<WireBatch>;

/** A batch on the wire (byte fields base64-encoded). */
export interface WireBatch {
  readonly clusterId: string;
  readonly from: string;
  readonly boot: string;
  readonly seq: number;
  readonly messages: readonly unknown[];
}

function encodeEntry(e: Entry): unknown {
  return {
    term: e.term,
    index: e.index,
    type: e.type,
    data: base64Of(e.data),
  };
}

/** JSON texts of entries, direct-mapped by log index. */
class EntryTexts {
  readonly #of: (Entry | undefined)[];
  readonly #texts: string[];

  constructor(readonly slots: number) {
    this.#of = new Array(slots).fill(undefined);
    this.#texts = new Array(slots).fill("");
  }

  get(e: Entry): string | undefined {
    const slot = e.index % this.slots;
    return this.#of[slot] === e ? this.#texts[slot] : undefined;
  }

  set(e: Entry, text: string): void {
    if (!Number.isSafeInteger(e.index) || e.index < 0) return;
    const slot = e.index % this.slots;
    this.#of[slot] = e;
    this.#texts[slot] = text;
  }

  chars(): number {
    return this.#texts.reduce((n, t) => n + t.length, 0);
  }
}

// A leader sends the same entries to every follower, so it encodes each once. Small entries
// (single events) and larger ones (batches of events) have caches of their own, so a few large
// texts never push out many small ones. At most SMALL_SLOTS * (SMALL_DATA_BYTES * 4/3 + ~100)
// plus LARGE_SLOTS * MAX_LARGE_TEXT_CHARS characters are held (about 22 M).
const SMALL_SLOTS = 1024;
const SMALL_DATA_BYTES = 4096;
const LARGE_SLOTS = 128;
const MAX_LARGE_TEXT_CHARS = 128 * 1024;
const smallTexts = new EntryTexts(SMALL_SLOTS);
const largeTexts = new EntryTexts(LARGE_SLOTS);

/** Characters of entry text the encoder holds (for tests of the bound). */
export function cachedEntryTextChars(): number {
  return smallTexts.chars() + largeTexts.chars();
}

function encodeEntryText(e: Entry): string {
  const d = e.data;
  const small = d.byteLength <= SMALL_DATA_BYTES;
  // Base64 takes 4 characters per 3 bytes; the fields around it fewer than 100.
  const cache = small
    ? smallTexts
    : Math.ceil(d.byteLength / 3) * 4 + 100 <= MAX_LARGE_TEXT_CHARS
    ? largeTexts
    : undefined;
  const hit = cache?.get(e);
  if (hit !== undefined) return hit;
  // Base64 and the entry types need no escaping.
  const t = Number.isFinite(e.term) && Number.isFinite(e.index) &&
      (e.type === "normal" || e.type === "confChange")
    ? `{"term":${e.term},"index":${e.index},"type":"${e.type}","data":"${base64Of(d)}"}`
    : JSON.stringify(encodeEntry(e));
  cache?.set(e, t);
  return t;
}

/**
 * JSON text that parses to {@link encodeMessage}`(m)` (fields may come in
 * another order), faster for appends: each entry is encoded once however
 * many followers it goes to (entries never change once proposed).
 *
 * @example
 * ```ts
 * import { encodeMessage, encodeMessageText } from "./codec.ts";
 * const m = { type: "app", from: "a", to: "b", term: 2, index: 0, logTerm: 0, commit: 0,
 *   entries: [{ term: 2, index: 1, type: "normal", data: new Uint8Array([1]) }] } as const;
 * const text = JSON.parse(encodeMessageText(m)), plain = JSON.parse(JSON.stringify(encodeMessage(m)));
 * console.assert(text.entries[0].data === plain.entries[0].data && text.commit === plain.commit);
 * ```
 */
export function encodeMessageText(m: Message): string {
  if (
    m.type !== "app" || m.entries.length === 0 || !Number.isFinite(m.term) ||
    !Number.isFinite(m.index) || !Number.isFinite(m.logTerm) || !Number.isFinite(m.commit)
  ) {
    return JSON.stringify(encodeMessage(m));
  }
  const n = m.entries.length;
  const parts: string[] = new Array(n);
  for (let i = 0; i < n; i++) parts[i] = encodeEntryText(m.entries[i]!);
  // Written by hand: entry texts are spliced in, and every other field is a number or an id.
  return `{"type":"app","from":${JSON.stringify(m.from)},"to":${
    JSON.stringify(m.to)
  },"term":${m.term},"index":${m.index},"logTerm":${m.logTerm},"entries":[${
    parts.join(",")
  }],"commit":${m.commit}}`;
}

/** The bytes of a base64 field; `MessageFormatError` naming the field (`where`) if it is not base64. */
function bytesField(text: string, where: string): Uint8Array {
  try {
    return bytesOfBase64(text);
  } catch (e) {
    throw new MessageFormatError(`${where}: not base64 (${(e as Error).message})`);
  }
}

/**
 * Turns a message into its JSON-ready form.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage } from "./codec.ts";
 * const m = decodeMessage(encodeMessage({ type: "heartbeat", from: "a", to: "b", term: 2, commit: 1, context: "" }));
 * console.assert(m.type === "heartbeat" && m.term === 2);
 * ```
 */
export function encodeMessage(m: Message): unknown {
  switch (m.type) {
    case "app":
    case "prop":
      return { ...m, entries: m.entries.map(encodeEntry) };
    case "snap":
      return {
        ...m,
        snapshot: {
          metadata: m.snapshot.metadata,
          data: base64Of(m.snapshot.data),
        },
      };
    default:
      return m;
  }
}

/**
 * Validates and decodes one wire message; throws `MessageFormatError` naming the bad field.
 */
export function decodeMessage(raw: unknown): Message {
  return quickMessage(raw) ?? decodeMessageBySchema(raw);
}

/**
 * {@link decodeMessage} by the schema alone (the quick check must agree with it).
 *
 * @example
 * ```ts
 * import { decodeMessageBySchema } from "./codec.ts";
 * const m = decodeMessageBySchema({ type: "timeoutNow", from: "a", to: "b", term: 3 });
 * console.assert(m.type === "timeoutNow");
 * ```
 */
export function decodeMessageBySchema(raw: unknown): Message {
  const r = messageSchema.safeParse(raw);
  if (!r.success) throw new MessageFormatError(describeIssues(r.error));
  return fromWire(r.data, "");
}

/** A message the schema accepted; `at` is its path in the body, for errors ("messages.0."). */
function fromWire(m: z.infer<typeof messageSchema>, at: string): Message {
  switch (m.type) {
    case "app":
    case "prop": {
      const entries = m.entries.map((e, i): Entry => ({
        term: e.term,
        index: e.index,
        type: e.type,
        data: bytesField(e.data, `${at}entries.${i}.data`),
      }));
      return { ...m, entries } as Message;
    }
    case "snap": {
      const snapshot: Snapshot = {
        metadata: m.snapshot.metadata,
        data: bytesField(m.snapshot.data, `${at}snapshot.data`),
      };
      return { ...m, snapshot };
    }
    default:
      return m as Message;
  }
}

/**
 * Validates a batch body and decodes its messages.
 *
 * @example
 * ```ts
 * import { decodeBatch, encodeMessage } from "./codec.ts";
 * const body = { clusterId: "c", from: "a", boot: "x", seq: 1, messages: [encodeMessage({ type: "timeoutNow", from: "a", to: "b", term: 3 })] };
 * console.assert(decodeBatch(body).messages[0]?.type === "timeoutNow");
 * ```
 */
export function decodeBatch(
  raw: unknown,
): { clusterId: string; from: string; boot: string; seq: number; messages: Message[] } {
  const r = batchSchema.safeParse(raw);
  if (!r.success) throw new MessageFormatError(describeIssues(r.error));
  const b = r.data;
  return {
    clusterId: b.clusterId,
    from: b.from,
    boot: b.boot,
    seq: b.seq,
    messages: b.messages.map((m, i) =>
      fromWire(m as z.infer<typeof messageSchema>, `messages.${i}.`)
    ),
  };
}

/** Human-readable summary of schema issues: "messages.0.term: expected number". */
export function describeIssues(error: z.ZodError): string {
  return error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join(
    "; ",
  );
}

/**
 * A peer message or batch does not match the wire schema.
 *
 * @example
 * ```ts
 * import { MessageFormatError } from "./codec.ts";
 * console.assert(new MessageFormatError("x").name === "MessageFormatError");
 * ```
 */
export class MessageFormatError extends TypeError {
  constructor(detail: string) {
    super(`Invalid peer message: ${detail}`);
    this.name = "MessageFormatError";
  }
}
