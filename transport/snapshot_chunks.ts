/**
 * InstallSnapshot over HTTP in chunks, resumable: the leader PUTs the
 * snapshot's bytes to `PUT /raft/snapshot` a chunk at a time (raw bytes, no
 * base64), each answer says how far the follower has the snapshot, and a
 * transfer cut short (a lost connection, a timeout, a new attempt by Raft,
 * a restart of the follower) goes on from there instead of from byte 0.
 * Every transfer starts with an empty request that asks where to go on.
 * The follower keeps the bytes that arrived in its data directory
 * (`snapshot.partial`, see raft/storage/partial_snapshot_file.ts), or in
 * memory when it has none, until the last one arrives, checks the whole
 * snapshot's CRC-32, then hands Raft the snapshot message. No timeout
 * covers the whole transfer, only each chunk, and no body limit the whole
 * snapshot.

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
import {
  PartialSnapshotFile,
  type PartialSnapshotId,
} from "../raft/storage/partial_snapshot_file.ts";
import { decodeMessageBySchema, MessageFormatError } from "./codec.ts";

/** The header describing the snapshot a chunk belongs to. */
export const SNAPSHOT_HEADER = "x-raftlog-snapshot";
/** The header with the offset of a chunk's first byte. */
export const OFFSET_HEADER = "x-raftlog-offset";
/** Bytes per chunk unless configured. */
export const DEFAULT_CHUNK_BYTES = 4 << 20;
/** Largest snapshot a follower accepts (Raft gets it whole, in memory). */
export const MAX_SNAPSHOT_BYTES = 2 ** 31;
/** A partial transfer nobody continued for this long is dropped. */
const IDLE_PARTIAL_MS = 10 * 60_000;
/** How often idle partial snapshots are looked for while there are any. */
const SWEEP_MS = 60_000;
/** A request that wrote nothing for this long (a chunk's timeout) gives way to a new one. */
const STALLED_WRITER_MS = 30_000;
/** A request writing more than this into a partial snapshot file checkpoints it on the way. */
const CHECKPOINT_BYTES = 4 << 20;

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

/**
 * Where a partial snapshot's bytes are kept: in memory, or in the data
 * directory ({@link PartialSnapshotFile}). One operation at a time.
 */
interface PartialBytes {
  /** How many leading bytes of the snapshot are here. */
  readonly offset: number;
  /** Term of the newest leader that sent the snapshot (kept with the bytes). */
  leaderTerm: number;
  /** Appends the bytes from `offset`; false (nothing written) when it is not the end. */
  write(offset: number, bytes: Uint8Array): Promise<boolean>;
  /** Makes what was written survive a restart (nothing to do in memory). */
  checkpoint(): Promise<void>;
  /** The bytes that are here. */
  readAll(): Promise<Uint8Array>;
  /** Drops them for good. */
  remove(): Promise<void>;
  /** Lets go of them, keeping what was checkpointed. */
  close(): void;
}

/** A partial snapshot held in memory (a node without a data directory). */
class MemoryPartial implements PartialBytes {
  readonly bytes: Uint8Array;
  leaderTerm: number;
  #offset = 0;

  constructor(size: number, leaderTerm: number) {
    this.bytes = new Uint8Array(size);
    this.leaderTerm = leaderTerm;
  }

  get offset(): number {
    return this.#offset;
  }

  write(offset: number, bytes: Uint8Array): Promise<boolean> {
    if (offset !== this.#offset) return Promise.resolve(false);
    this.bytes.set(bytes, offset);
    this.#offset += bytes.length;
    return Promise.resolve(true);
  }

  checkpoint(): Promise<void> {
    return Promise.resolve();
  }

  readAll(): Promise<Uint8Array> {
    return Promise.resolve(this.bytes);
  }

  remove(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}
}

interface Partial {
  /** The snapshot (index, term, size, CRC), whatever the term of the leader sending it. */
  readonly key: string;
  readonly id: PartialSnapshotId;
  readonly bytes: PartialBytes;
  /**
   * The snapshot as the message Raft gets, checked, without its data: the
   * one from the leader of the newest term that sent it (the bytes are the
   * same whoever sends them). Undefined for one reloaded after a restart
   * until a chunk comes.
   */
  message: SnapshotMessage | undefined;
  /** The request writing into it now (0: none). */
  writer: number;
  /** When that request started or last wrote a byte (requests turned away do not count). */
  wrote: number;
  /** When it last got a request or a byte. */
  active: number;
  /** The leader term of the message Raft got it with, once it did (kept on disk until applied). */
  deliveredTerm: number | undefined;
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

/** A snapshot transfer in progress on the receiving side. */
export interface PartialSnapshotProgress {
  /** Index and term of the snapshot's last entry. */
  readonly index: number;
  readonly term: number;
  /** The snapshot's size in bytes. */
  readonly size: number;
  /** How many leading bytes have arrived (where the next chunk starts). */
  readonly offset: number;
  /** Whether the bytes are kept in the data directory (they survive a restart). */
  readonly durable: boolean;
}

/** Options of {@link SnapshotReceiver}. */
export interface SnapshotReceiverOptions {
  /**
   * Directory where a partial snapshot is kept while it arrives (files
   * `snapshot.partial` and `snapshot.partial.header`), usually the node's
   * data directory: a transfer then survives a restart and goes on from the
   * bytes already there, and memory holds a chunk at a time, not the
   * snapshot. Without it, the partial snapshot is held in memory.
   */
  readonly dir?: string;
  /** Largest snapshot accepted, in bytes. Default {@link MAX_SNAPSHOT_BYTES}. */
  readonly maxBytes?: number;
  /**
   * The highest log index this node has applied. A partial snapshot at or
   * below it brings nothing new and is dropped (also one that was handed to
   * Raft and kept on disk until installed). Default: never.
   */
  readonly appliedIndex?: () => number;
  /** The clock for idleness, in ms. Default `Date.now`. */
  readonly now?: () => number;
  readonly log?: (
    level: "debug" | "info" | "warn",
    msg: string,
    fields?: Record<string, unknown>,
  ) => void;
}

/**
 * A chunk of a snapshot other than the one being received, from a leader of
 * an older term than the one sending it: the newer leader's transfer goes on.
 */
export class SnapshotSupersededError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = "SnapshotSupersededError";
  }
}

/**
 * The follower's side: one partial snapshot at a time, completed chunk by
 * chunk, in memory or (with `dir`) in the data directory, where it survives
 * a restart. A chunk of the same snapshot (index, term, size and CRC-32)
 * goes on from the bytes already there, whoever sends it and under whatever
 * term; another snapshot replaces it when its leader's term is at least as
 * new (an older term's gets {@link SnapshotSupersededError}). A partial
 * snapshot is dropped after 10 minutes without a chunk, or once this node
 * has applied its index. The complete snapshot's CRC-32 is checked before
 * Raft gets it. One kept on disk stays there until this node applied it, so
 * a restart before the install hands it to Raft again at the leader's next
 * attempt, without a transfer.
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
 * await r.close();
 * ```
 */
export class SnapshotReceiver {
  readonly nodeId: NodeId;
  readonly deliver: (m: Message) => void;
  readonly #dir: string | undefined;
  readonly #maxBytes: number;
  readonly #appliedIndex: () => number;
  readonly #now: () => number;
  readonly #log: NonNullable<SnapshotReceiverOptions["log"]>;
  /** Invariant: at most one partial snapshot, and with `dir` it is the one in `dir`. */
  #partial: Partial | undefined;
  #writers = 0;
  #closed = false;
  /** Operations on the partial snapshot, one at a time (file writes, replacing, dropping). */
  #queue: Promise<unknown>;
  /** Sweeps while there is a partial snapshot (a transfer nobody continues). */
  #sweeper: ReturnType<typeof setInterval> | undefined;

  /**
   * With `opts.dir`, starts by loading the partial snapshot a previous run
   * left there (checked; a damaged one is deleted).
   */
  constructor(nodeId: NodeId, deliver: (m: Message) => void, opts: SnapshotReceiverOptions = {}) {
    this.nodeId = nodeId;
    this.deliver = deliver;
    this.#dir = opts.dir;
    this.#maxBytes = opts.maxBytes ?? MAX_SNAPSHOT_BYTES;
    this.#appliedIndex = opts.appliedIndex ?? (() => -1);
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? (() => {});
    this.#queue = this.#dir === undefined
      ? Promise.resolve()
      : this.#load(this.#dir).catch((e) =>
        this.#log("warn", "partial snapshot not loaded", { dir: this.#dir, error: String(e) })
      );
  }

  /** Resolves once the partial snapshot a previous run left (if any) is loaded. */
  ready(): Promise<void> {
    return this.#serial(() => Promise.resolve());
  }

  /**
   * Drops the partial snapshot if it got nothing for 10 minutes or this
   * node has applied its index (the receiver's timer runs this every minute).
   */
  sweep(): Promise<void> {
    return this.#serial(() => this.#expire(this.#now()));
  }

  /**
   * Stops the sweeps and lets go of the partial snapshot: one in the data
   * directory is checkpointed and stays for the next run; one in memory is
   * dropped. Chunks still arriving are not written.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopSweeper();
    await this.#serial(async () => {
      const p = this.#partial;
      this.#partial = undefined;
      if (p === undefined) return;
      try {
        await p.bytes.checkpoint();
      } catch (e) {
        this.#log("warn", "partial snapshot not checkpointed", { error: String(e) });
      } finally {
        p.bytes.close();
      }
    });
  }

  /** Bytes held in memory for an unfinished transfer (none when it is kept in a file). */
  get heldBytes(): number {
    const b = this.#partial?.bytes;
    return b instanceof MemoryPartial ? b.bytes.length : 0;
  }

  /** The transfer in progress, if any. */
  get progress(): PartialSnapshotProgress | undefined {
    const p = this.#partial;
    if (p === undefined) return undefined;
    const { index, term, size } = p.id;
    return { index, term, size, offset: p.bytes.offset, durable: this.#dir !== undefined };
  }

  /**
   * Writes a chunk where it belongs and answers how far the snapshot now
   * is. Throws `MessageFormatError` for a malformed chunk, `RangeError` for
   * a snapshot over the size limit, {@link SnapshotSupersededError} for
   * another snapshot from a leader of an older term than the one under way.
   */
  async accept(c: IncomingChunk): Promise<ChunkAnswer> {
    if (this.#closed) throw new Error("The snapshot receiver is closed");
    const now = this.#now();
    const { d, message } = this.#describe(c);
    const offset = Number(c.offset);
    if (c.offset === undefined || !/^\d{1,16}$/.test(c.offset) || offset > d.size) {
      throw new MessageFormatError(`${OFFSET_HEADER} must be an offset within the snapshot`);
    }
    if (d.metadata.index <= this.#appliedIndex()) {
      // Nothing in it this node lacks (say its answer that the snapshot arrived was lost):
      // done, without a transfer. The leader then catches it up from its log.
      await c.body?.cancel();
      return { offset: d.size, done: true };
    }
    const p = await this.#serial(() => this.#partialFor(d, message, now));
    // A request still writing wins unless it has been silent for a chunk's timeout (a
    // connection gone half-open): then this one takes over and the old one stops.
    const stalled = p.writer !== 0 && now - p.wrote > STALLED_WRITER_MS;
    if ((p.writer !== 0 && !stalled) || offset !== p.bytes.offset) {
      p.active = now;
      await c.body?.cancel();
      return { offset: p.bytes.offset, done: false };
    }
    const writer = p.writer = ++this.#writers;
    p.active = p.wrote = now;
    const mine = () => p.writer === writer && this.#partial === p && !this.#closed;
    try {
      let at = offset, checkpointed = offset;
      if (c.body !== null) {
        // Bytes count as they arrive: a chunk cut short still moves the offset.
        for await (const part of c.body) {
          if (!mine()) return { offset: p.bytes.offset, done: false };
          if (at + part.length > d.size) {
            throw new MessageFormatError(`chunk runs past the snapshot's ${d.size} bytes`);
          }
          const wrote = await this.#serial(() => mine() ? p.bytes.write(at, part) : false);
          if (!wrote) return { offset: p.bytes.offset, done: false };
          at += part.length;
          p.active = p.wrote = this.#now();
          if (at - checkpointed >= CHECKPOINT_BYTES) {
            await this.#serial(() => mine() ? p.bytes.checkpoint() : undefined);
            checkpointed = at;
          }
        }
      }
    } finally {
      if (p.writer === writer) p.writer = 0;
      // What arrived survives a restart before the answer says so: the leader goes on from there.
      await this.#serial(() =>
        this.#partial === p && !this.#closed ? p.bytes.checkpoint() : undefined
      );
    }
    if (p.bytes.offset < d.size) return { offset: p.bytes.offset, done: false };
    return await this.#serial(() => this.#complete(p));
  }

  /** Runs `op` after the operations before it (whatever they came to). */
  #serial<T>(op: () => T | Promise<T>): Promise<T> {
    const run = this.#queue.then(op);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #load(dir: string): Promise<void> {
    const { partial, discarded } = await PartialSnapshotFile.open(dir);
    if (discarded !== undefined) {
      this.#log("warn", "damaged partial snapshot deleted", { reason: discarded });
    }
    if (partial === undefined) return;
    if (this.#closed) return partial.close();
    const { index, term, size } = partial.id;
    if (size > this.#maxBytes) {
      this.#log("warn", "partial snapshot over the size limit deleted", { index, size });
      return await partial.remove();
    }
    this.#partial = {
      key: partialKey(partial.id),
      id: partial.id,
      bytes: partial,
      message: undefined,
      writer: 0,
      wrote: 0,
      active: this.#now(),
      deliveredTerm: undefined,
    };
    this.#startSweeper();
    this.#log("info", "partial snapshot kept from the last run", {
      index,
      term,
      size,
      offset: partial.offset,
    });
    // This node may have applied its index since (a snapshot installed before the restart).
    await this.#expire(this.#now());
  }

  /** The partial snapshot a chunk of `d` goes into, replacing another one if it may. */
  async #partialFor(
    d: SnapshotDescriptor,
    message: SnapshotMessage,
    now: number,
  ): Promise<Partial> {
    if (this.#closed) throw new Error("The snapshot receiver is closed");
    await this.#expire(now);
    const m = d.metadata;
    const id: PartialSnapshotId = { index: m.index, term: m.term, size: d.size, crc: d.crc };
    const key = partialKey(id);
    let p = this.#partial;
    if (p !== undefined && p.key !== key) {
      // One leader at a time: a transfer from an older term's leader does not replace it.
      if (d.term < p.bytes.leaderTerm) {
        throw new SnapshotSupersededError(
          `Snapshot at index ${m.index} from a leader of term ${d.term} refused: the snapshot at index ${p.id.index} from a leader of term ${p.bytes.leaderTerm} is under way`,
        );
      }
      await this.#drop(p);
      p = undefined;
    }
    if (p === undefined) {
      if (d.size > this.#maxBytes) {
        throw new RangeError(`snapshot of ${d.size} bytes exceeds ${this.#maxBytes}`);
      }
      const bytes = this.#dir === undefined
        ? new MemoryPartial(d.size, d.term)
        : await PartialSnapshotFile.create(this.#dir, id, d.term);
      p = { key, id, bytes, message, writer: 0, wrote: 0, active: now, deliveredTerm: undefined };
      this.#partial = p;
      this.#startSweeper();
    } else if (p.message === undefined || d.term >= p.message.term) {
      p.message = message;
      p.bytes.leaderTerm = Math.max(p.bytes.leaderTerm, d.term);
    }
    return p;
  }

  /** Checks the complete snapshot and hands it to Raft. */
  async #complete(p: Partial): Promise<ChunkAnswer> {
    const { size, crc } = p.id;
    // Only the current snapshot is handed over (a newer one may have replaced it).
    if (this.#partial !== p || this.#closed) return { offset: p.bytes.offset, done: false };
    const msg = p.message!;
    // Raft has it already (a repeated request): not again, unless from a newer leader.
    if (p.deliveredTerm !== undefined && p.deliveredTerm >= msg.term) {
      return { offset: size, done: true };
    }
    await p.bytes.checkpoint();
    const data = await p.bytes.readAll();
    if (crc32(data) !== crc) {
      await this.#drop(p);
      throw new MessageFormatError("snapshot checksum mismatch: the transfer starts over");
    }
    // In memory it is done with; on disk it stays until applied, for a restart before that.
    if (this.#dir === undefined) await this.#drop(p);
    else p.deliveredTerm = msg.term;
    this.deliver({ ...msg, snapshot: { metadata: msg.snapshot.metadata, data } });
    return { offset: size, done: true };
  }

  /** Drops the partial snapshot if nobody continued it for a while or it is applied. */
  async #expire(now: number): Promise<void> {
    const p = this.#partial;
    if (p === undefined) return;
    const fields = { index: p.id.index, offset: p.bytes.offset, size: p.id.size };
    if (p.id.index <= this.#appliedIndex()) {
      await this.#drop(p);
      this.#log("debug", "partial snapshot dropped: its index is applied", fields);
    } else if (now - p.active > IDLE_PARTIAL_MS) {
      await this.#drop(p);
      this.#log("info", "partial snapshot dropped: no chunk for 10 minutes", fields);
    }
  }

  async #drop(p: Partial): Promise<void> {
    if (this.#partial === p) this.#partial = undefined;
    if (this.#partial === undefined) this.#stopSweeper();
    await p.bytes.remove();
  }

  #startSweeper(): void {
    if (this.#sweeper !== undefined || this.#closed) return;
    this.#sweeper = setInterval(() => {
      this.sweep().catch((e) => this.#log("warn", "partial snapshot sweep", { error: String(e) }));
    }, SWEEP_MS);
    Deno.unrefTimer(this.#sweeper as unknown as number);
  }

  #stopSweeper(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
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

function partialKey(id: PartialSnapshotId): string {
  return `${id.index}/${id.term}/${id.size}/${id.crc}`;
}
