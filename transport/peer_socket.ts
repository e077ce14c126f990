/**
 * One outgoing WebSocket to a peer's `/raft/ws` route: the long-lived channel
 * that carries every batch of Raft messages to that peer, one text frame per
 * batch, in order. Frames written before the socket opens wait in memory.
 *
 * @module
 */

import { TcpWebSocket } from "./ws_client.ts";

/** What {@link PeerSocket} needs to know. */
export interface PeerSocketOptions {
  /** The peer's base URL (`http://host:port`); the socket goes to `ws://host:port/raft/ws`. */
  readonly url: string;
  /** Handshake headers (secret, sender, cluster id). */
  readonly headers: Readonly<Record<string, string>>;
  /** Called once when the socket closes or fails, with the reason. */
  readonly onBroken: (why: string) => void;
  /** Called once when the socket opens. */
  readonly onOpen?: () => void;
  /** Gives up (a broken socket) if the handshake is not answered within this. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /**
   * Pings the peer this often once open, and gives up (a broken socket) when
   * no pong came for four of them. Default 1 s; 0 sends no pings.
   */
  readonly pingMs?: number;
}

/**
 * Time between pings on an open peer stream: a peer cut off by a partition
 * that drops packets is noticed within four of them, not after TCP gives up.
 */
const DEFAULT_PING_MS = 1000;

/** The WebSocket URL of a peer's message route. */
export function peerSocketUrl(base: string): string {
  return base.replace(/^http/i, "ws") + "/raft/ws";
}

/**
 * A peer channel over WebSocket.
 *
 * @example
 * ```ts
 * import { PeerSocket } from "./peer_socket.ts";
 * let why = "";
 * const s = new PeerSocket({ url: "http://127.0.0.1:1", headers: {}, onBroken: (w) => why = w });
 * s.send("[]");
 * console.assert(s.queuedBytes() > 0);
 * s.close();
 * ```
 */
export class PeerSocket {
  readonly #ws: TcpWebSocket | undefined;
  readonly #opts: PeerSocketOptions;
  /** Frames sent before the socket opened; undefined once open. */
  #pending: string[] | undefined = [];
  #pendingBytes = 0;
  #broken = false;

  constructor(opts: PeerSocketOptions) {
    this.#opts = opts;
    let ws: TcpWebSocket;
    try {
      // A connection with Nagle's algorithm off, for ws:// and wss:// alike (see ws_client.ts).
      ws = new TcpWebSocket(new URL(peerSocketUrl(opts.url)).href, opts.headers, {
        handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 10_000,
        ...((opts.pingMs ?? DEFAULT_PING_MS) > 0 ? { pingMs: opts.pingMs ?? DEFAULT_PING_MS } : {}),
      });
    } catch (e) {
      // A malformed peer URL: report it like a connection that failed, not to the caller.
      this.#ws = undefined;
      queueMicrotask(() => this.#fail(`cannot connect to ${opts.url}: ${e}`));
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      const frames = this.#pending ?? [];
      this.#pending = undefined;
      this.#pendingBytes = 0;
      for (const f of frames) ws.send(f);
      opts.onOpen?.();
    };
    ws.onclose = (e: { code: number; reason: string }) =>
      this.#fail(`closed ${e.code} ${e.reason}`.trim());
  }

  /** Bytes accepted but not yet handed to the network (an estimate before the socket opens). */
  queuedBytes(): number {
    return this.#pending !== undefined || this.#ws === undefined
      ? this.#pendingBytes
      : this.#ws.bufferedAmount;
  }

  /** Sends one frame (queued until the socket opens). */
  send(frame: string): void {
    if (this.#broken) return;
    if (this.#pending !== undefined) {
      this.#pending.push(frame);
      this.#pendingBytes += frame.length;
      return;
    }
    this.#ws?.send(frame);
  }

  /** Closes the socket; pending frames are dropped (Raft resends). */
  close(): void {
    this.#broken = true;
    this.#pending = undefined;
    try {
      this.#ws?.close(1000);
    } catch {
      // Already closing.
    }
  }

  #fail(why: string): void {
    if (this.#broken) return;
    this.close();
    this.#opts.onBroken(why);
  }
}
