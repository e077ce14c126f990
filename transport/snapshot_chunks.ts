/**
 * InstallSnapshot over HTTP in chunks, resumable: the leader PUTs the
 * snapshot's bytes to `PUT /raft/snapshot` a chunk at a time (raw bytes, no
 * base64), each answer says how far the follower has the snapshot, and a
 * transfer cut short (a lost connection, a timeout, a new attempt by Raft)
 * goes on from there instead of from byte 0. The follower keeps the bytes
 * in memory until the last one arrives, checks the whole snapshot's CRC-32,
 * then hands Raft the snapshot message. No timeout covers the whole
 * transfer, only each chunk, and no body limit the whole snapshot.
 *
 * Wire format. Headers: the cluster secret, `x-raftlog-cluster`,
 * `x-raftlog-from`, `x-raftlog-snapshot` (URI-encoded JSON
 * `{to, term, metadata, size, crc}`, the same for every chunk of one
 * snapshot) and `x-raftlog-offset` (where the body's bytes go). The body
 * may be empty (to ask where to go on). The answer is
 * `{"offset": n, "done": bool}`: the follower's progress, which is where
 * the next chunk starts.
 *
 * @module
 */

import { crc32 } from "node:zlib";
import type { Message, NodeId, SnapshotMessage } from "../raft/core/types.ts";
import { decodeMessageBySchema, MessageFormatError } from "./codec.ts";

/** The header describing the snapshot a chunk belongs to. */
export const SNAPSHOT_HEADER = "x-raftlog-snapshot";
/** The header with the offset of a chunk's first byte. */
export const OFFSET_HEADER = "x-raftlog-offset";
/** Bytes per chunk unless configured. */
export const DEFAULT_CHUNK_BYTES = 4 << 20;
/** Largest snapshot a follower accepts (it holds the snapshot in memory). */
export const MAX_SNAPSHOT_BYTES = 2 ** 31;
/** A partial transfer nobody continued for this long is dropped. */
const IDLE_PARTIAL_MS = 10 * 60_000;
/** How often idle partial snapshots are looked for while there are any. */
const SWEEP_MS = 60_000;
/** A request that wrote nothing for this long (a chunk's timeout) gives way to a new one. */
const STALLED_WRITER_MS = 30_000;

/** What `x-raftlog-snapshot` carries. */
interface SnapshotDescriptor {
  readonly to: NodeId;
  readonly term: number;
  readonly metadata: SnapshotMessage["snapshot"]["metadata"];
  readonly size: number;
  readonly crc: number;
}

/** The answer to a chunk. */
export interface ChunkAnswer {
  /** How many leading bytes of the snapshot the follower has. */
  readonly offset: number;
  /** The snapshot is complete, checked and handed to Raft. */
  readonly done: boolean;
}

/** The peer has no chunk route (an older version): send the snapshot whole instead. */
export class NoChunkRouteError extends Error {
  constructor(url: string) {
    super(`${url} has no snapshot chunk route`);
    this.name = "NoChunkRouteError";
  }
}

/** Options of {@link sendSnapshot}. */
export interface SendSnapshotOptions {
  /** The peer's base URL. */
  readonly url: string;
  /** Headers of every request (secret, sender, cluster id). */
  readonly headers: Readonly<Record<string, string>>;
  readonly message: SnapshotMessage;
  /** Bytes per chunk. Default {@link DEFAULT_CHUNK_BYTES}. */
  readonly chunkBytes?: number;
  /** Timeout of each chunk's request, in ms. */
  readonly chunkTimeoutMs: number;
  /** Ends the transfer (rejecting) when aborted. */
  readonly signal?: AbortSignal;
  readonly fetch?: typeof fetch;
}

/**
 * Sends a snapshot in chunks, from wherever the peer has it up to;
 * resolves once the peer has it whole and checked. Throws
 * {@link NoChunkRouteError} when the peer has no chunk route, or an error
 * describing the failed request.
 *
 * @example
 * ```ts
 * import { sendSnapshot } from "./snapshot_chunks.ts";
 * const message = { type: "snap", from: "n1", to: "n2", term: 2, snapshot: {
 *   metadata: { index: 9, term: 2, confState: { voters: ["n1", "n2"], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
 *   data: new Uint8Array(10) } } as const;
 * let failed = false;
 * try { await sendSnapshot({ url: "http://127.0.0.1:1", headers: {}, message, chunkTimeoutMs: 500 }); } catch { failed = true; }
 * console.assert(failed);
 * ```
 */
export async function sendSnapshot(opts: SendSnapshotOptions): Promise<void> {
  const doFetch = opts.fetch ?? fetch;
  const m = opts.message;
  const data = m.snapshot.data;
  const chunk = Math.max(1, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const descriptor: SnapshotDescriptor = {
    to: m.to,
    term: m.term,
    metadata: m.snapshot.metadata,
    size: data.length,
    crc: crc32(data),
  };
  const headers = {
    ...opts.headers,
    "content-type": "application/octet-stream",
    [SNAPSHOT_HEADER]: encodeURIComponent(JSON.stringify(descriptor)),
  };
  // The first request sends nothing: it asks how much of this snapshot the peer already has.
  let offset = 0, end = 0, stalls = 0;
  for (;;) {
    opts.signal?.throwIfAborted();
    const signal = opts.signal === undefined
      ? AbortSignal.timeout(opts.chunkTimeoutMs)
      : AbortSignal.any([opts.signal, AbortSignal.timeout(opts.chunkTimeoutMs)]);
    const res = await doFetch(`${opts.url}/raft/snapshot`, {
      method: "PUT",
      headers: { ...headers, [OFFSET_HEADER]: String(offset) },
      body: data.subarray(offset, end) as Uint8Array<ArrayBuffer>,
      signal,
    });
    if (res.status === 404 || res.status === 405) {
      await res.body?.cancel();
      throw new NoChunkRouteError(opts.url);
    }
    const text = await res.text();
    if (!res.ok) throw new Error(`snapshot chunk at ${offset}: HTTP ${res.status} ${text}`);
    const answer = JSON.parse(text) as ChunkAnswer;
    if (answer.done) return;
    if (!Number.isSafeInteger(answer.offset) || answer.offset < 0 || answer.offset > data.length) {
      throw new Error(`snapshot chunk at ${offset}: the peer answered offset ${answer.offset}`);
    }
    // Another request of ours may still be writing there: wait a little, then ask again.
    if (answer.offset <= offset && end > offset) {
      if (++stalls > 20) throw new Error(`snapshot transfer makes no progress at ${offset}`);
      await new Promise((r) => setTimeout(r, 50 * stalls));
    } else stalls = 0;
    offset = answer.offset;
    end = Math.min(data.length, offset + chunk);
  }
}

interface Partial {
  /** The snapshot (index, term, size, CRC), whatever the term of the leader sending it. */
  readonly key: string;
  /** The latest request's description (its term is the one Raft gets). */
  descriptor: SnapshotDescriptor;
  /** That description as the message Raft gets, checked, without its data. */
  message: SnapshotMessage;
  readonly bytes: Uint8Array;
  got: number;
  /** The request writing into it now (0: none). */
  writer: number;
  /** When it last got a request or a byte. */
  active: number;
}

/** A chunk as the route hands it over. */
export interface IncomingChunk {
  readonly from: NodeId;
  /** The `x-raftlog-snapshot` header. */
  readonly snapshot: string | undefined;
  /** The `x-raftlog-offset` header. */
  readonly offset: string | undefined;
  readonly body: ReadableStream<Uint8Array> | null;
}

/**
 * The follower's side: one partial snapshot per sender, completed chunk by
 * chunk; a snapshot with another descriptor from the same sender replaces
 * it, and one from a leader of a term at least as new drops other senders'.
 *
 * @example
 * ```ts
 * import { SnapshotReceiver } from "./snapshot_chunks.ts";
 * const got: unknown[] = [];
 * const r = new SnapshotReceiver("n2", (m) => got.push(m));
 * const snapshot = encodeURIComponent(JSON.stringify({ to: "n2", term: 2, size: 0, crc: 0,
 *   metadata: { index: 9, term: 2, confState: { voters: ["n1"], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } }));
 * const answer = await r.accept({ from: "n1", snapshot, offset: "0", body: null });
 * console.assert(answer.done && got.length === 1);
 * ```
 */
export class SnapshotReceiver {
  readonly #partials = new Map<NodeId, Partial>();
  #writers = 0;
  /** Sweeps idle partials while there are any (a transfer nobody continues). */
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly nodeId: NodeId,
    readonly deliver: (m: Message) => void,
    readonly maxBytes: number = MAX_SNAPSHOT_BYTES,
    readonly now: () => number = Date.now,
  ) {}

  /** Drops the partial snapshots that got nothing for 10 minutes. */
  sweep(): void {
    const now = this.now();
    for (const [from, p] of this.#partials) {
      if (now - p.active > IDLE_PARTIAL_MS) this.#partials.delete(from);
    }
    if (this.#partials.size === 0) this.#stopSweeper();
  }

  /** Drops every partial snapshot and stops the sweeps. */
  close(): void {
    this.#partials.clear();
    this.#stopSweeper();
  }

  #stopSweeper(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** Bytes held for unfinished transfers. */
  get heldBytes(): number {
    let n = 0;
    for (const p of this.#partials.values()) n += p.bytes.length;
    return n;
  }

  /**
   * Writes a chunk where it belongs and answers how far the snapshot now
   * is. Throws `MessageFormatError` for a malformed chunk, `RangeError` for
   * a snapshot over the size limit.
   */
  async accept(c: IncomingChunk): Promise<ChunkAnswer> {
    const now = this.now();
    this.sweep();
    const { d, message } = this.#describe(c);
    const offset = Number(c.offset);
    if (c.offset === undefined || !/^\d{1,16}$/.test(c.offset) || offset > d.size) {
      throw new MessageFormatError(`${OFFSET_HEADER} must be an offset within the snapshot`);
    }
    const m = d.metadata;
    const key = `${m.index}/${m.term}/${d.size}/${d.crc}`;
    let p = this.#partials.get(c.from);
    if (p === undefined || p.key !== key) {
      if (d.size > this.maxBytes) {
        throw new RangeError(`snapshot of ${d.size} bytes exceeds ${this.maxBytes}`);
      }
      // One leader at a time: a transfer from an older (or same) term's leader is dropped.
      for (const [from, other] of this.#partials) {
        if (from !== c.from && other.descriptor.term <= d.term) this.#partials.delete(from);
      }
      p = {
        key,
        descriptor: d,
        message,
        bytes: new Uint8Array(d.size),
        got: 0,
        writer: 0,
        active: now,
      };
      this.#partials.set(c.from, p);
      if (this.#sweeper === undefined) {
        this.#sweeper = setInterval(() => this.sweep(), SWEEP_MS);
        Deno.unrefTimer(this.#sweeper as unknown as number);
      }
    }
    p.descriptor = d;
    p.message = message;
    // A request still writing wins unless it has been silent for a chunk's timeout (a
    // connection gone half-open): then this one takes over and the old one stops.
    const stalled = p.writer !== 0 && now - p.active > STALLED_WRITER_MS;
    if ((p.writer !== 0 && !stalled) || offset !== p.got) {
      p.active = now;
      await c.body?.cancel();
      return { offset: p.got, done: false };
    }
    const writer = p.writer = ++this.#writers;
    p.active = now;
    try {
      if (c.body !== null) {
        // Bytes count as they arrive: a chunk cut short still moves the offset.
        for await (const part of c.body) {
          if (p.writer !== writer) return { offset: p.got, done: false };
          if (p.got + part.length > p.bytes.length) {
            throw new MessageFormatError(`chunk runs past the snapshot's ${d.size} bytes`);
          }
          p.bytes.set(part, p.got);
          p.got += part.length;
          p.active = this.now();
        }
      }
    } finally {
      if (p.writer === writer) p.writer = 0;
    }
    if (p.got < d.size) return { offset: p.got, done: false };
    // Only the sender's current snapshot is handed over (a newer one may have replaced it).
    if (this.#partials.get(c.from) !== p) return { offset: p.got, done: false };
    this.#partials.delete(c.from);
    if (crc32(p.bytes) !== d.crc) {
      throw new MessageFormatError("snapshot checksum mismatch: the transfer starts over");
    }
    const msg = p.message;
    this.deliver({ ...msg, snapshot: { metadata: msg.snapshot.metadata, data: p.bytes } });
    return { offset: d.size, done: true };
  }

  /** The chunk's snapshot description, checked, and the message it stands for. */
  #describe(c: IncomingChunk): { d: SnapshotDescriptor; message: SnapshotMessage } {
    let d: SnapshotDescriptor;
    try {
      d = JSON.parse(decodeURIComponent(c.snapshot ?? "")) as SnapshotDescriptor;
    } catch {
      throw new MessageFormatError(`${SNAPSHOT_HEADER} must be URI-encoded JSON`);
    }
    const nat = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
    if (
      d === null || typeof d !== "object" || d.to !== this.nodeId || !nat(d.term) ||
      !nat(d.size) || !nat(d.crc) || d.crc > 0xffff_ffff
    ) {
      throw new MessageFormatError(
        `${SNAPSHOT_HEADER} must describe a snapshot for ${this.nodeId} (to, term, size, crc)`,
      );
    }
    // The metadata's shape is checked by the message schema (any error names the field).
    const message = decodeMessageBySchema({
      type: "snap",
      from: c.from,
      to: d.to,
      term: d.term,
      snapshot: { metadata: d.metadata, data: "" },
    }) as SnapshotMessage;
    return { d, message };
  }
}
