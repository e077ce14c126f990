/**
 * A WebSocket client over a TCP connection this module opens itself, so it
 * can turn Nagle's algorithm off: Deno's own WebSocket (and fetch) leave
 * `TCP_NODELAY` unset on outgoing connections, and a peer stream carries
 * small frames one way only, so a second frame sent before the first is
 * acknowledged waited for the receiver's delayed ACK, about 40 ms. Text
 * frames out (masked, as clients must), close and ping handled on the way
 * in; nothing else is needed for a peer stream. `wss://` starts TLS over
 * the same connection, so the option holds there too.
 *
 * @module
 */

import { Buffer } from "node:buffer";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/**
 * Room before the payload for the longest frame header (2 + 8 length + 4
 * mask), rounded up so the payload is 4-byte aligned for masking by words.
 */
const HEAD_ROOM = 16;
/** How long a close frame may take to write before the connection is ended anyway. */
const CLOSE_WRITE_MS = 1000;
/** Largest frame buffer kept for reuse. */
const MAX_REUSED_BYTES = 16 << 20;

/** How the socket ended: a close frame's code and reason, or 1006 for a lost connection. */
export interface ClosedEvent {
  readonly code: number;
  readonly reason: string;
}

/** Options of a {@link TcpWebSocket}. */
export interface TcpWebSocketOptions {
  /**
   * PEM root certificates trusted for `wss://`, in addition to the default
   * ones (which `--cert`, `DENO_CERT` and `DENO_TLS_CA_STORE` configure).
   */
  readonly caCerts?: readonly string[];
  /**
   * Ends the socket (code 1006) if it is not open within this many
   * milliseconds: a connection whose handshake answer never comes would
   * otherwise wait for good. Default: no limit.
   */
  readonly handshakeTimeoutMs?: number;
  /**
   * Once open, sends a ping this often and ends the socket (code 1006) when
   * no pong came for `deadAfterMs`: a peer behind a partition that drops its
   * packets gives no error, and TCP's retransmissions back off for minutes.
   * Default: no pings.
   */
  readonly pingMs?: number;
  /** See `pingMs`. Default: four pings. */
  readonly deadAfterMs?: number;
}

/**
 * A client WebSocket with `TCP_NODELAY` set, speaking text frames.
 *
 * @example
 * ```ts
 * import { TcpWebSocket } from "./ws_client.ts";
 * const s = new TcpWebSocket("ws://127.0.0.1:1/x", {});
 * const closed = new Promise<number>((r) => s.onclose = (e) => r(e.code));
 * console.assert((await closed) === 1006, "nothing listens there");
 * ```
 */
export class TcpWebSocket {
  onopen: (() => void) | undefined;
  onclose: ((e: ClosedEvent) => void) | undefined;
  #conn: Deno.Conn | undefined;
  /** Bytes handed to `send` and not yet written to the connection. */
  #buffered = 0;
  #writing: Promise<void> = Promise.resolve();
  /**
   * A frame buffer whose write has completed, reused by the next `send` that
   * fits: a fresh buffer per frame costs an allocation and, for large
   * frames, a page fault per 4 KiB written.
   */
  #free: Uint8Array | undefined;
  #open = false;
  #closed = false;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #pinger: ReturnType<typeof setInterval> | undefined;
  /** When the last pong (or the opening) came. */
  #heardAt = 0;

  readonly #options: TcpWebSocketOptions;

  constructor(
    url: string,
    headers: Readonly<Record<string, string>>,
    options: TcpWebSocketOptions = {},
  ) {
    this.#options = options;
    const limit = options.handshakeTimeoutMs;
    if (limit !== undefined) {
      this.#handshakeTimer = setTimeout(() => {
        if (!this.#open) this.#end(1006, `no handshake answer within ${limit} ms`);
      }, limit);
    }
    this.#run(new URL(url), headers).catch((e) => this.#end(1006, String(e)));
  }

  /** Bytes sent but not yet written to the connection. */
  get bufferedAmount(): number {
    return this.#buffered;
  }

  /** Sends one text frame (in order; only once open). */
  send(text: string): void {
    if (!this.#open || this.#closed) return;
    // The free buffer is taken either way: if too small, the new one replaces it below.
    const frame = encodeFrame(0x1, text, this.#free);
    this.#free = undefined;
    this.#buffered += frame.length;
    this.#write(frame).then(() => {
      this.#buffered -= frame.length;
      // The bytes are in the kernel now: keep the larger buffer for the next frame.
      const whole = new Uint8Array(frame.buffer);
      if (whole.length <= MAX_REUSED_BYTES && whole.length > (this.#free?.length ?? 0)) {
        this.#free = whole;
      }
    });
  }

  /**
   * Sends a close frame, then ends the connection; at once when frames are
   * still waiting to be written (a peer that stopped reading would hold the
   * close frame, and the connection, for as long as it does not read).
   */
  close(code = 1000): void {
    if (this.#closed) return;
    if (!this.#open || this.#buffered > 0) {
      this.#end(code, "");
      return;
    }
    const body = new Uint8Array([code >> 8, code & 0xff]);
    const timer = setTimeout(() => this.#end(code, ""), CLOSE_WRITE_MS);
    this.#write(encodeFrameBytes(0x8, body)).finally(() => {
      clearTimeout(timer);
      this.#end(code, "");
    });
  }

  async #run(url: URL, headers: Readonly<Record<string, string>>): Promise<void> {
    const tls = url.protocol === "wss:";
    if (!tls && url.protocol !== "ws:") {
      throw new TypeError(`only ws:// and wss:// URLs: ${url.href}`);
    }
    for (const [k, v] of Object.entries(headers)) {
      if (/[\r\n:]/.test(k) || /[\r\n]/.test(v)) {
        throw new TypeError(`invalid header ${JSON.stringify(k)}`);
      }
    }
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    const tcp = await Deno.connect({ hostname, port: Number(url.port || (tls ? 443 : 80)) });
    tcp.setNoDelay(true);
    // Set before the TLS handshake, so a close() meanwhile ends it.
    let conn: Deno.Conn = this.#conn = tcp;
    if (tls && !this.#closed) {
      const caCerts = this.#options.caCerts;
      conn = this.#conn = await Deno.startTls(tcp, {
        hostname,
        ...(caCerts === undefined ? {} : { caCerts: [...caCerts] }),
      });
    }
    if (this.#closed) {
      conn.close();
      return;
    }
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    const lines = [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    await this.#write(encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    const reader = new FrameReader(conn);
    const head = await reader.head();
    const status = Number(head.split("\r\n")[0]?.split(" ")[1]);
    if (status !== 101) throw new Error(`handshake answered ${head.split("\r\n")[0]}`);
    const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID));
    const accept = Buffer.from(digest).toString("base64");
    if (!new RegExp(`^sec-websocket-accept: *${escapeRegExp(accept)} *$`, "im").test(head)) {
      throw new Error("handshake answered without the right Sec-WebSocket-Accept");
    }
    clearTimeout(this.#handshakeTimer);
    this.#open = true;
    this.#startPings();
    this.onopen?.();
    for (;;) {
      const f = await reader.frame();
      if (f === undefined) return this.#end(1006, "connection lost");
      if (f.opcode === 0x8) {
        const code = f.payload.length >= 2 ? (f.payload[0]! << 8) | f.payload[1]! : 1005;
        return this.#end(code, decoder.decode(f.payload.subarray(2)));
      }
      if (f.opcode === 0x9) this.#write(encodeFrameBytes(0xa, f.payload));
      else if (f.opcode === 0xa) this.#heardAt = performance.now();
    }
  }

  #write(bytes: Uint8Array): Promise<void> {
    const next = this.#writing.then(async () => {
      const conn = this.#conn;
      if (conn === undefined || this.#closed) return;
      let done = 0;
      while (done < bytes.length) done += await conn.write(bytes.subarray(done));
    });
    this.#writing = next.catch((e) => this.#end(1006, String(e)));
    return this.#writing;
  }

  #startPings(): void {
    const every = this.#options.pingMs;
    if (every === undefined) return;
    const dead = this.#options.deadAfterMs ?? 4 * every;
    this.#heardAt = performance.now();
    this.#pinger = setInterval(() => {
      const silent = performance.now() - this.#heardAt;
      if (silent > dead) {
        this.#end(1006, `no pong for ${Math.round(silent)} ms`);
        return;
      }
      this.#write(encodeFrameBytes(0x9, new Uint8Array()));
    }, every);
  }

  #end(code: number, reason: string): void {
    clearTimeout(this.#handshakeTimer);
    clearInterval(this.#pinger);
    if (this.#closed) return;
    this.#closed = true;
    this.#open = false;
    try {
      this.#conn?.close();
    } catch {
      // Already closed.
    }
    this.onclose?.({ code, reason });
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * A masked client frame of `text` (UTF-8), header and payload in one buffer:
 * `into` when given and large enough, else a new one.
 */
function encodeFrame(opcode: number, text: string, into?: Uint8Array): Uint8Array {
  // Sized for ASCII (all JSON of peer messages is), and again for the worst case if not.
  let buf = into !== undefined && into.length >= HEAD_ROOM + text.length
    ? into
    : new Uint8Array(HEAD_ROOM + text.length);
  let r = encoder.encodeInto(text, buf.subarray(HEAD_ROOM));
  if (r.read < text.length) {
    buf = new Uint8Array(HEAD_ROOM + text.length * 3);
    r = encoder.encodeInto(text, buf.subarray(HEAD_ROOM));
  }
  return frameAround(buf, opcode, r.written);
}

function encodeFrameBytes(opcode: number, payload: Uint8Array): Uint8Array {
  const buf = new Uint8Array(HEAD_ROOM + payload.length);
  buf.set(payload, HEAD_ROOM);
  return frameAround(buf, opcode, payload.length);
}

/** Masks the `n` payload bytes at HEAD_ROOM and writes the header just before them. */
function frameAround(buf: Uint8Array, opcode: number, n: number): Uint8Array {
  const mask = crypto.getRandomValues(new Uint8Array(4));
  // Four bytes at a time: the mask read as a native word lines up with the payload's words.
  const words = n >>> 2, m32 = new Uint32Array(mask.buffer)[0]!;
  const w = new Uint32Array(buf.buffer, buf.byteOffset + HEAD_ROOM, words);
  for (let i = 0; i < words; i++) w[i] = w[i]! ^ m32;
  for (let i = words * 4; i < n; i++) buf[HEAD_ROOM + i] = buf[HEAD_ROOM + i]! ^ mask[i & 3]!;
  const lenBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const start = HEAD_ROOM - 2 - lenBytes - 4;
  buf[start] = 0x80 | opcode;
  if (lenBytes === 0) buf[start + 1] = 0x80 | n;
  else if (lenBytes === 2) {
    buf[start + 1] = 0x80 | 126;
    buf[start + 2] = n >> 8;
    buf[start + 3] = n & 0xff;
  } else {
    buf[start + 1] = 0x80 | 127;
    new DataView(buf.buffer).setBigUint64(start + 2, BigInt(n));
  }
  buf.set(mask, HEAD_ROOM - 4);
  return buf.subarray(start, HEAD_ROOM + n);
}

/** Reads the handshake answer, then unmasked server frames, from a connection. */
class FrameReader {
  #buf = new Uint8Array(4096);
  #start = 0;
  #end = 0;

  constructor(readonly conn: Deno.Conn) {}

  /** The HTTP answer's head (up to the blank line). */
  async head(): Promise<string> {
    for (;;) {
      const text = decoder.decode(this.#buf.subarray(this.#start, this.#end));
      const at = text.indexOf("\r\n\r\n");
      if (at >= 0) {
        this.#start += encoder.encode(text.slice(0, at + 4)).length;
        return text.slice(0, at);
      }
      if (!await this.#fill(this.#end - this.#start + 1)) throw new Error("handshake cut short");
    }
  }

  /** The next frame (fragments are not joined: peers send none), or undefined at the end. */
  async frame(): Promise<{ opcode: number; payload: Uint8Array } | undefined> {
    if (!await this.#fill(2)) return undefined;
    const b = this.#buf;
    const opcode = b[this.#start]! & 0x0f;
    let len = b[this.#start + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      if (!await this.#fill(4)) return undefined;
      len = (this.#buf[this.#start + 2]! << 8) | this.#buf[this.#start + 3]!;
      head = 4;
    } else if (len === 127) {
      if (!await this.#fill(10)) return undefined;
      len = Number(new DataView(this.#buf.buffer).getBigUint64(this.#start + 2));
      head = 10;
    }
    if (!await this.#fill(head + len)) return undefined;
    const payload = this.#buf.slice(this.#start + head, this.#start + head + len);
    this.#start += head + len;
    return { opcode, payload };
  }

  /** Makes `n` unread bytes available; false at the end of the stream. */
  async #fill(n: number): Promise<boolean> {
    while (this.#end - this.#start < n) {
      if (this.#buf.length - this.#start < n || this.#end === this.#buf.length) {
        const bigger = new Uint8Array(Math.max(this.#buf.length, n * 2));
        bigger.set(this.#buf.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buf = bigger;
      }
      const got = await this.conn.read(this.#buf.subarray(this.#end));
      if (got === null) return false;
      this.#end += got;
    }
    return true;
  }
}
