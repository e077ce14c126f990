/**
 * Sends Raft messages to peers over HTTP. By default each peer gets one
 * long-lived stream (as etcd's rafthttp does), a WebSocket opened on the
 * peer's HTTP port: every batch of messages is one JSON text frame, so
 * messages arrive in order with no per-message request. Snapshots go in
 * chunks, resumable (see snapshot_chunks.ts), and batches too large for one
 * frame as separate requests; a snapshot's completion is reported to Raft.
 * Without streaming, batches are POSTed with several requests in flight per
 * peer, reordered by the receiver through sequence numbers. An unreachable
 * peer is backed off.
 *
 * @module
 */

import { checkHeaderValue } from "./header_value.ts";
import { normalizePeerUrl } from "./peer_url.ts";
import type { Message, NodeId, Snapshot } from "../raft/core/types.ts";
import type { Transport } from "../raft/node.ts";
import { encodeMessage, encodeMessageText } from "./codec.ts";
import { PeerSocket } from "./peer_socket.ts";
import { NoChunkRouteError, sendSnapshot } from "./snapshot_chunks.ts";

/** The header that carries the cluster secret on peer requests. */
export const SECRET_HEADER = "x-raftlog-secret";
/** The header naming the sender of a peer stream. */
export const FROM_HEADER = "x-raftlog-from";
/** The header carrying the cluster id of a peer stream. */
export const CLUSTER_HEADER = "x-raftlog-cluster";
/** The header carrying the sender's own URL on a peer stream (see {@link HttpTransport.learnPeerUrl}). */
export const URL_HEADER = "x-raftlog-url";

/** What the transport reports back to the node. */
export interface TransportFeedback {
  /** Messages to the peer could not be delivered (Raft slows down sending to it). */
  reportUnreachable(id: NodeId): void;
  /** A snapshot sent to the peer arrived (`ok`) or failed. */
  reportSnapshot(id: NodeId, ok: boolean): void;
  /** A stream to the peer opened. */
  reportConnected?(id: NodeId): void;
}

/** Options of {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** This node's id, sent with every message. */
  readonly id: NodeId;
  /** The cluster id, sent with every message; peers with another one refuse them. */
  readonly clusterId: string;
  /** The cluster secret, sent with every message. */
  readonly secret: string;
  /** This node's own URL, told to the peers it opens streams to. */
  readonly url?: string;
  /** Peer id -> base URL (e.g. `http://127.0.0.1:7002`). */
  readonly peers: Readonly<Record<NodeId, string>>;
  /** Requests in flight per peer. Default 4. */
  readonly maxInflight?: number;
  /** Most bytes of messages queued per peer before new ones are dropped (Raft resends). Default 64 MiB. */
  readonly maxQueueBytes?: number;
  /** Request timeout in ms. Default 5,000 (snapshots get 60,000). */
  readonly timeoutMs?: number;
  /** One long-lived stream (WebSocket) per peer instead of a request per batch. Default true. */
  readonly stream?: boolean;
  /** Bytes per snapshot chunk. Default 4 MiB. */
  readonly snapshotChunkBytes?: number;
  /** The fetch used for requests (not for the streams). Default: the global one. */
  readonly fetch?: typeof fetch;
  /**
   * The first index in this node's log. With it, a snapshot transfer that
   * failed part way goes on with the same snapshot when Raft next sends a
   * newer one, as long as the log still holds the entries after the older
   * snapshot (the peer keeps what it received, also across its restart).
   * Without it, each attempt sends the newest snapshot.
   */
  readonly firstLogIndex?: () => number;
  /** Where the transport's log lines go. Default: nowhere. */
  readonly log?: (
    level: "debug" | "info" | "warn",
    msg: string,
    fields?: Record<string, unknown>,
  ) => void;
}

/** A stream that stayed open this long before it broke counts as healthy (no backoff growth). */
const HEALTHY_STREAM_MS = 1000;

interface PeerState {
  url: string;
  queue: Message[];
  queuedBytes: number;
  inflight: number;
  /** Until this time (ms) the peer is considered down and messages are dropped. */
  downUntil: number;
  backoffMs: number;
  seq: number;
  /** The open stream to this peer, if any. */
  socket: PeerSocket | undefined;
  /** The snapshot being sent in chunks (and the leader's term then), and how to stop it. */
  snapshot: { index: number; term: number; leaderTerm: number; stop: AbortController } | undefined;
  /** The peer has no chunk route: snapshots go whole, in one request. */
  snapshotWhole: boolean;
  /** The snapshot of a transfer that failed part way, and when: the next attempt resumes it. */
  unfinished: { snapshot: Snapshot; timer: ReturnType<typeof setTimeout> } | undefined;
}

/** How long the snapshot of a failed transfer is kept to resume it (as long as the peer keeps it). */
const UNFINISHED_SNAPSHOT_MS = 10 * 60_000;

/**
 * Longest frame sent on a peer stream, in UTF-16 units (a unit is at most 3
 * bytes of UTF-8; Deno's WebSocket accepts messages up to 64 MiB). Longer
 * batches are POSTed.
 */
const MAX_FRAME_UNITS = 20 * 1024 * 1024;
/** Messages to one peer are split into frames of about this many UTF-16 units. */
const FRAME_TARGET_UNITS = 4 * 1024 * 1024;

function sameSnapshot(a: Snapshot | undefined, b: Snapshot): boolean {
  return a !== undefined && a.metadata.index === b.metadata.index &&
    a.metadata.term === b.metadata.term;
}

function approxSize(m: Message): number {
  if (m.type === "app" || m.type === "prop") {
    let n = 100;
    for (const e of m.entries) n += e.data.byteLength * 1.37 + 60;
    return n;
  }
  if (m.type === "snap") return m.snapshot.data.byteLength * 1.37 + 200;
  return 100;
}

/**
 * The production {@link Transport}.
 *
 * @example
 * ```ts
 * import { HttpTransport } from "./peer_transport.ts";
 * const t = new HttpTransport({ id: "n1", clusterId: "c1", secret: "s", peers: { n2: "http://127.0.0.1:1" } });
 * console.assert(t.peerIds().includes("n2"));
 * t.close();
 * ```
 */
export class HttpTransport implements Transport {
  readonly #opts: HttpTransportOptions;
  readonly #peers = new Map<NodeId, PeerState>();
  /**
   * URLs of nodes that are not peers: removed ones, and senders of streams
   * that are not (yet) members here. Raft still answers such a node (a
   * follower replaying an old removal of today's leader must answer it), so
   * a message for one opens a route again.
   */
  readonly #known = new Map<NodeId, string>();
  /** Ids in {@link #peers} only because a message re-opened them from {@link #known}. */
  readonly #reopened = new Set<NodeId>();
  /** This node's URL as sent in {@link URL_HEADER}, if it can be. */
  #urlHeader: string | undefined;
  readonly #boot = crypto.randomUUID().slice(0, 8);
  readonly #maxInflight: number;
  readonly #maxQueueBytes: number;
  readonly #timeoutMs: number;
  #feedback: TransportFeedback | undefined;
  #closed = false;
  readonly #controllers = new Set<AbortController>();
  readonly #fetch: typeof fetch;

  /** A transport for node `opts.id`; throws a `TypeError` for ids or secrets unusable in headers. */
  constructor(opts: HttpTransportOptions) {
    checkHeaderValue("node id", opts.id);
    checkHeaderValue("cluster id", opts.clusterId);
    checkHeaderValue("cluster secret", opts.secret);
    this.#opts = opts;
    if (opts.url !== undefined) {
      try {
        checkHeaderValue("node URL", opts.url);
        this.#urlHeader = opts.url;
      } catch {
        // A URL a header cannot carry unchanged is not told (peers know it from members).
      }
    }
    this.#maxInflight = opts.maxInflight ?? 4;
    this.#maxQueueBytes = opts.maxQueueBytes ?? 64 * 1024 * 1024;
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init));
    for (const [id, url] of Object.entries(opts.peers)) if (id !== opts.id) this.addPeer(id, url);
  }

  /** Connects the transport to the node it reports to. */
  attach(feedback: TransportFeedback): void {
    this.#feedback = feedback;
  }

  /** Ids of known peers. */
  peerIds(): NodeId[] {
    return [...this.#peers.keys()];
  }

  /**
   * Adds or updates a peer. Throws a RangeError for an id that is not
   * printable ASCII or a URL that is not http(s).
   */
  addPeer(id: NodeId, url: string): void {
    if (id === this.#opts.id) return;
    checkHeaderValue("node id", id);
    const next = normalizePeerUrl(url);
    this.#known.delete(id);
    this.#reopened.delete(id);
    const p = this.#peers.get(id);
    if (p !== undefined) {
      if (next !== p.url) this.#closeStream(p);
      p.url = next;
    } else {
      this.#peers.set(id, {
        url: next,
        queue: [],
        queuedBytes: 0,
        inflight: 0,
        downUntil: 0,
        backoffMs: 0,
        seq: 0,
        socket: undefined,
        snapshot: undefined,
        snapshotWhole: false,
        unfinished: undefined,
      });
    }
  }

  /**
   * Forgets a peer: its stream closes. Its URL is kept, for a message Raft
   * may still send it (see {@link learnPeerUrl}).
   */
  removePeer(id: NodeId): void {
    const p = this.#peers.get(id);
    if (p !== undefined) {
      this.#forgetUnfinished(p);
      this.#known.set(id, p.url);
    }
    this.#closeStream(p);
    p?.snapshot?.stop.abort();
    this.#peers.delete(id);
    this.#reopened.delete(id);
  }

  /**
   * Notes where a node that is not a peer is (a stream from it said so): a
   * message Raft sends it then goes there. A peer's URL is never changed
   * this way (membership changes and the saved peers say where peers are).
   * Invalid URLs are ignored.
   */
  learnPeerUrl(id: NodeId, url: string): void {
    if (id === this.#opts.id) return;
    const p = this.#peers.get(id);
    if (p !== undefined && !this.#reopened.has(id)) return;
    try {
      checkHeaderValue("node id", id);
      const next = normalizePeerUrl(url);
      if (p === undefined) this.#known.set(id, next);
      else if (next !== p.url) {
        // Re-opened from an older URL: the stream says where the node is now.
        this.#closeStream(p);
        p.url = next;
        p.downUntil = 0;
        p.backoffMs = 0;
      }
    } catch {
      // Not a URL we could use: the node stays unknown.
    }
  }

  /** The peer `id`, opened again from its known URL when it is not one. */
  #peer(id: NodeId): PeerState | undefined {
    const p = this.#peers.get(id);
    if (p !== undefined) return p;
    const url = this.#known.get(id);
    if (url === undefined) return undefined;
    this.#opts.log?.("debug", "message for a node that is not a peer: routed to its last URL", {
      to: id,
      url,
    });
    try {
      this.addPeer(id, url);
      this.#reopened.add(id);
    } catch {
      this.#known.delete(id);
    }
    return this.#peers.get(id);
  }

  send(messages: readonly Message[]): void {
    if (this.#closed) return;
    if (this.#opts.stream ?? true) {
      this.#sendStreamed(messages);
      return;
    }
    this.#enqueue(messages);
  }

  #enqueue(messages: readonly Message[]): void {
    const touched = new Set<NodeId>();
    for (const m of messages) {
      const p = this.#peer(m.to);
      if (p === undefined) {
        this.#opts.log?.("debug", "message for unknown peer dropped", { to: m.to, type: m.type });
        continue;
      }
      if (Date.now() < p.downUntil) {
        this.#dropped(m);
        continue;
      }
      if (m.type === "snap" && !p.snapshotWhole) {
        this.#sendSnapshot(m.to, p, m);
        continue;
      }
      const size = approxSize(m);
      if (p.queuedBytes + size > this.#maxQueueBytes && p.queue.length > 0) {
        this.#dropped(m);
        continue;
      }
      p.queue.push(m);
      p.queuedBytes += size;
      touched.add(m.to);
    }
    for (const id of touched) this.#pump(id);
  }

  /** Stops sending, closes streams and aborts requests in flight. */
  close(): void {
    this.#closed = true;
    for (const p of this.#peers.values()) {
      this.#closeStream(p);
      p.snapshot?.stop.abort();
      this.#forgetUnfinished(p);
    }
    for (const c of this.#controllers) c.abort();
    this.#controllers.clear();
  }

  #sendStreamed(messages: readonly Message[]): void {
    const byPeer = new Map<NodeId, Message[]>();
    const posted: Message[] = [];
    for (const m of messages) {
      if (m.type === "snap") {
        posted.push(m);
        continue;
      }
      let list = byPeer.get(m.to);
      if (list === undefined) byPeer.set(m.to, list = []);
      list.push(m);
    }
    for (const [id, batch] of byPeer) {
      const p = this.#peer(id);
      if (p === undefined) {
        this.#opts.log?.("debug", "messages for unknown peer dropped", { to: id });
        continue;
      }
      if (Date.now() < p.downUntil) continue;
      const s = p.socket ?? this.#openStream(id, p);
      // A peer that stops reading must not make us buffer without bound: Raft resends.
      if (s.queuedBytes() > this.#maxQueueBytes) continue;
      // Frames of a few MiB each: a follower far behind gets many appends at once, and one
      // frame of them all (tens of MiB) went by request instead, timed out, and was sent again.
      let parts: string[] = [], units = 0;
      const flush = () => {
        if (parts.length > 0) s.send(`[${parts.join(",")}]`);
        parts = [];
        units = 0;
      };
      for (const m of batch) {
        const text = encodeMessageText(m);
        if (text.length > MAX_FRAME_UNITS) {
          posted.push(m);
          continue;
        }
        if (units > 0 && units + text.length > FRAME_TARGET_UNITS) flush();
        parts.push(text);
        units += text.length + 1;
      }
      flush();
    }
    if (posted.length > 0) this.#enqueue(posted);
  }

  #openStream(id: NodeId, p: PeerState): PeerSocket {
    let openedAt: number | undefined;
    const socket = new PeerSocket({
      url: p.url,
      headers: {
        [SECRET_HEADER]: this.#opts.secret,
        [FROM_HEADER]: this.#opts.id,
        [CLUSTER_HEADER]: this.#opts.clusterId,
        ...(this.#urlHeader !== undefined ? { [URL_HEADER]: this.#urlHeader } : {}),
      },
      handshakeTimeoutMs: this.#timeoutMs,
      onOpen: () => {
        openedAt = Date.now();
        this.#feedback?.reportConnected?.(id);
      },
      onBroken: (why) => {
        if (p.socket !== socket) return;
        p.socket = undefined;
        if (this.#closed) return;
        // A stream that stayed up a while was healthy: retry soon. One the peer closes at once
        // (it refuses our frames: a replaced member at that address) backs off like a failure.
        const healthy = openedAt !== undefined && Date.now() - openedAt >= HEALTHY_STREAM_MS;
        p.backoffMs = healthy ? 0 : Math.min(Math.max(p.backoffMs * 2, 50), 1000);
        p.downUntil = Date.now() + p.backoffMs;
        this.#opts.log?.("debug", "peer stream closed", {
          peer: id,
          reason: why,
          backoffMs: p.backoffMs,
        });
        this.#feedback?.reportUnreachable(id);
      },
    });
    p.socket = socket;
    return socket;
  }

  #closeStream(p: PeerState | undefined): void {
    if (p?.socket === undefined) return;
    const s = p.socket;
    p.socket = undefined;
    s.close();
  }

  #dropped(m: Message): void {
    if (m.type === "snap") this.#feedback?.reportSnapshot(m.to, false);
  }

  /**
   * Sends a snapshot in chunks, one transfer per peer at a time: a message
   * for the snapshot already on its way is dropped (Raft sends one per
   * attempt), one for another snapshot, or from a new term, replaces the
   * transfer (the follower keeps what it has of the same snapshot).
   */
  #sendSnapshot(id: NodeId, p: PeerState, latest: Message & { type: "snap" }): void {
    const m = this.#resumable(p, latest);
    const { index, term } = m.snapshot.metadata;
    const s = p.snapshot;
    if (s !== undefined) {
      if (s.index === index && s.term === term && s.leaderTerm === m.term) return;
      s.stop.abort();
    }
    const stop = new AbortController();
    const mine = { index, term, leaderTerm: m.term, stop };
    p.snapshot = mine;
    sendSnapshot({
      url: p.url,
      headers: {
        [SECRET_HEADER]: this.#opts.secret,
        [FROM_HEADER]: this.#opts.id,
        [CLUSTER_HEADER]: this.#opts.clusterId,
      },
      message: m,
      chunkTimeoutMs: Math.max(this.#timeoutMs, 30_000),
      signal: stop.signal,
      fetch: this.#fetch,
      ...(this.#opts.snapshotChunkBytes !== undefined
        ? { chunkBytes: this.#opts.snapshotChunkBytes }
        : {}),
    }).then(
      () => {
        if (p.snapshot === mine) p.snapshot = undefined;
        if (sameSnapshot(p.unfinished?.snapshot, m.snapshot)) this.#forgetUnfinished(p);
        this.#feedback?.reportSnapshot(id, true);
      },
      (e) => {
        if (p.snapshot === mine) p.snapshot = undefined;
        // Kept to resume (when the log can tell it still helps), unless a newer transfer
        // replaced this one; for at most 10 minutes from the first failure.
        if (
          this.#opts.firstLogIndex !== undefined && !stop.signal.aborted &&
          !(e instanceof NoChunkRouteError) && !sameSnapshot(p.unfinished?.snapshot, m.snapshot)
        ) {
          this.#forgetUnfinished(p);
          const timer = setTimeout(() => {
            if (p.unfinished?.timer === timer) p.unfinished = undefined;
          }, UNFINISHED_SNAPSHOT_MS);
          Deno.unrefTimer(timer as unknown as number);
          p.unfinished = { snapshot: m.snapshot, timer };
        }
        if (e instanceof NoChunkRouteError) {
          // A peer of an older version: the whole snapshot in one request.
          p.snapshotWhole = true;
          this.#enqueue([m]);
          return;
        }
        if (this.#closed || stop.signal.aborted) return;
        this.#opts.log?.("warn", "snapshot transfer failed; it resumes where it stopped", {
          peer: id,
          index,
          error: String(e),
        });
        this.#feedback?.reportSnapshot(id, false);
      },
    );
  }

  /**
   * The snapshot message to send: `latest`, or the same with the snapshot of
   * the peer's unfinished transfer, which it may hold most of, when the log
   * still has every entry after that snapshot (Raft then catches the peer up
   * from it as from any lagging log).
   */
  #resumable(p: PeerState, latest: Message & { type: "snap" }): Message & { type: "snap" } {
    const u = p.unfinished;
    if (u === undefined) return latest;
    const older = u.snapshot.metadata.index;
    const first = this.#opts.firstLogIndex?.();
    if (first === undefined || older > latest.snapshot.metadata.index || older + 1 < first) {
      this.#forgetUnfinished(p);
      return latest;
    }
    return older === latest.snapshot.metadata.index &&
        u.snapshot.metadata.term === latest.snapshot.metadata.term
      ? latest
      : { ...latest, snapshot: u.snapshot };
  }

  /**
   * Lets go of the snapshots kept to resume failed transfers (a node that no
   * longer leads sends none).
   */
  dropUnfinishedSnapshots(): void {
    for (const p of this.#peers.values()) this.#forgetUnfinished(p);
  }

  #forgetUnfinished(p: PeerState): void {
    if (p.unfinished === undefined) return;
    clearTimeout(p.unfinished.timer);
    p.unfinished = undefined;
  }

  #pump(id: NodeId): void {
    const p = this.#peers.get(id);
    if (p === undefined) return;
    while (p.queue.length > 0 && p.inflight < this.#maxInflight && !this.#closed) {
      const batch = p.queue;
      p.queue = [];
      p.queuedBytes = 0;
      p.inflight++;
      this.#post(id, p, batch).finally(() => {
        p.inflight--;
        if (p.queue.length > 0) this.#pump(id);
      });
    }
  }

  async #post(id: NodeId, p: PeerState, batch: Message[]): Promise<void> {
    const seq = ++p.seq;
    const hasSnap = batch.some((m) => m.type === "snap");
    const body = JSON.stringify({
      clusterId: this.#opts.clusterId,
      from: this.#opts.id,
      boot: this.#boot,
      seq,
      messages: batch.map(encodeMessage),
    });
    const ctrl = new AbortController();
    this.#controllers.add(ctrl);
    const timer = setTimeout(() => ctrl.abort(), hasSnap ? 60_000 : this.#timeoutMs);
    try {
      const res = await this.#fetch(`${p.url}/raft/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", [SECRET_HEADER]: this.#opts.secret },
        body,
        signal: ctrl.signal,
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      p.backoffMs = 0;
      if (hasSnap) {
        for (const m of batch) if (m.type === "snap") this.#feedback?.reportSnapshot(id, true);
      }
    } catch (e) {
      if (this.#closed) return;
      p.backoffMs = Math.min(Math.max(p.backoffMs * 2, 50), 1000);
      p.downUntil = Date.now() + p.backoffMs;
      this.#opts.log?.("debug", "peer unreachable", {
        peer: id,
        error: String(e),
        backoffMs: p.backoffMs,
      });
      this.#feedback?.reportUnreachable(id);
      for (const m of batch) this.#dropped(m);
    } finally {
      clearTimeout(timer);
      this.#controllers.delete(ctrl);
    }
  }
}
