/**
 * Little-endian byte writer and reader shared by the command encoding and the
 * snapshot format. Typed arrays are copied as raw bytes, so the formats assume
 * a little-endian host (every platform Deno ships for is one); the module
 * checks that once at load.
 *
 * @module
 */

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("raftlog's event store needs a little-endian host");
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Encodes a string as UTF-8.
 *
 * @example
 * ```ts
 * import { utf8 } from "./_bytes.ts";
 * console.assert(utf8("é").length === 2);
 * ```
 */
export function utf8(s: string): Uint8Array {
  // Short ASCII strings (ids, types, stream names, small JSON) are copied in
  // JS: a TextEncoder call costs about a microsecond, more than the copy.
  const n = s.length;
  if (n <= 512) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) return encoder.encode(s);
      out[i] = c;
    }
    return out;
  }
  return encoder.encode(s);
}

/**
 * The UTF-8 length of a string, without encoding it. Lone surrogates count
 * 3 bytes, as `TextEncoder` writes U+FFFD for them.
 *
 * @example
 * ```ts
 * import { utf8Length } from "./_bytes.ts";
 * console.assert(utf8Length("aé€😀") === 1 + 2 + 3 + 4);
 * ```
 */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // A pair: 2 UTF-16 units, 4 bytes.
        i++;
      } else n += 2;
    } else n += 2;
  }
  return n;
}

/**
 * Writes `s` as UTF-8 into `out` at `at` and returns the number of bytes
 * written; `out` must have {@link utf8Length} bytes free there.
 *
 * @example
 * ```ts
 * import { utf8Length, writeUtf8 } from "./_bytes.ts";
 * const out = new Uint8Array(8);
 * console.assert(writeUtf8("hé", out, 1) === utf8Length("hé") && out[1] === 0x68);
 * ```
 */
export function writeUtf8(s: string, out: Uint8Array, at: number): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return encoder.encodeInto(s, out.subarray(at)).written;
    out[at + i] = c;
  }
  return n;
}

/**
 * Decodes UTF-8; plain ASCII takes a fast path. Throws `TypeError` on invalid UTF-8.
 *
 * @example
 * ```ts
 * import { utf8, fromUtf8 } from "./_bytes.ts";
 * const b = utf8("orders-1");
 * console.assert(fromUtf8(b, 0, b.length) === "orders-1");
 * ```
 */
export function fromUtf8(b: Uint8Array, start: number, end: number): string {
  if (end - start <= 64) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (b[i]! > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      let s = "";
      for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
      return s;
    }
  }
  return decoder.decode(b.subarray(start, end));
}

/** Size of the pages {@link touchPages} touches one at a time. */
export const PAGE_BYTES = 4096;

/**
 * Writes a zero into each page of `buf` that `[from, from + bytes)` covers,
 * so the kernel maps those pages now, a few at a time, instead of all at
 * once when the buffer is first filled. Returns the offset reached (an
 * integer, whatever `from` and `bytes` are: a fractional index would write
 * nothing), to pass as the next call's `from`. The bytes written are lost.
 *
 * @example
 * ```ts
 * import { touchPages } from "./_bytes.ts";
 * const buf = new Uint8Array(3 * 4096).fill(1);
 * const at = touchPages(buf, 0, 4096.5);
 * console.assert(at === 4097 && buf[0] === 0 && buf[4096] === 0 && buf[8192] === 1);
 * ```
 */
export function touchPages(buf: Uint8Array, from: number, bytes: number): number {
  const start = Math.floor(from);
  const end = Math.min(buf.length, Math.ceil(from + bytes));
  if (end <= start) return start;
  for (let i = start; i < end; i += PAGE_BYTES) buf[i] = 0;
  // The range's last page may start after the last step's byte.
  buf[end - 1] = 0;
  return end;
}

/**
 * A growable little-endian buffer.
 *
 * @example
 * ```ts
 * import { ByteReader, ByteWriter } from "./_bytes.ts";
 * const w = new ByteWriter();
 * w.u32(7);
 * w.string("hi");
 * const r = new ByteReader(w.finish());
 * console.assert(r.u32() === 7 && r.string() === "hi");
 * ```
 */
export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;

  /** Starts with `initial` bytes of room, or writes into the given buffer (from its start). */
  constructor(initial: number | Uint8Array = 256) {
    this.#buf = typeof initial === "number" ? new Uint8Array(initial) : initial;
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  /** Writes an unsigned byte. */
  u8(v: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = v;
  }

  /** Writes an unsigned 16-bit integer. */
  u16(v: number): void {
    this.#ensure(2);
    this.#view.setUint16(this.#pos, v, true);
    this.#pos += 2;
  }

  /** Writes an unsigned 32-bit integer. */
  u32(v: number): void {
    this.#ensure(4);
    this.#view.setUint32(this.#pos, v, true);
    this.#pos += 4;
  }

  /** Writes a 64-bit float (integers up to 2^53 are exact). */
  f64(v: number): void {
    this.#ensure(8);
    this.#view.setFloat64(this.#pos, v, true);
    this.#pos += 8;
  }

  /** Writes raw bytes. */
  raw(b: Uint8Array): void {
    this.#ensure(b.length);
    this.#buf.set(b, this.#pos);
    this.#pos += b.length;
  }

  /** Writes a u32 length and the bytes. */
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.raw(b);
  }

  /** Writes a string as u32 length + UTF-8. */
  string(s: string): void {
    this.bytes(encoder.encode(s));
  }

  /** Writes a typed array's elements as raw little-endian bytes (u32 count first). */
  array(a: Uint32Array | Float64Array): void {
    this.u32(a.length);
    this.raw(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }

  /**
   * Starts what {@link array} writes for `n` u32 values, without building the
   * array: writes the count, reserves the bytes and returns where they start;
   * the caller fills them (little-endian) through {@link view}.
   */
  u32Block(n: number): number {
    this.u32(n);
    this.#ensure(n * 4);
    const at = this.#pos;
    this.#pos += n * 4;
    return at;
  }

  /** A view of the whole buffer, valid until the next write. */
  get view(): DataView {
    return this.#view;
  }

  /** The written bytes (a view; the writer must not be used afterwards). */
  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }
}

/**
 * Reads what {@link ByteWriter} wrote. Throws `RangeError` on truncated input.
 *
 * @example
 * ```ts
 * import { ByteReader } from "./_bytes.ts";
 * const r = new ByteReader(new Uint8Array([1, 0]));
 * console.assert(r.u16() === 1 && r.done);
 * ```
 */
export class ByteReader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #pos = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Current offset. */
  get offset(): number {
    return this.#pos;
  }

  /** True when every byte was read. */
  get done(): boolean {
    return this.#pos >= this.#buf.length;
  }

  #need(n: number): void {
    if (this.#pos + n > this.#buf.length) {
      throw new RangeError(
        `Truncated data: need ${n} bytes at offset ${this.#pos}, have ${
          this.#buf.length - this.#pos
        }`,
      );
    }
  }

  /** Reads an unsigned byte. */
  u8(): number {
    this.#need(1);
    return this.#buf[this.#pos++]!;
  }

  /** Reads an unsigned 16-bit integer. */
  u16(): number {
    this.#need(2);
    const v = this.#view.getUint16(this.#pos, true);
    this.#pos += 2;
    return v;
  }

  /** Reads an unsigned 32-bit integer. */
  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    return v;
  }

  /** Reads a 64-bit float. */
  f64(): number {
    this.#need(8);
    const v = this.#view.getFloat64(this.#pos, true);
    this.#pos += 8;
    return v;
  }

  /** Reads `n` raw bytes (a view into the input). */
  raw(n: number): Uint8Array {
    this.#need(n);
    const b = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }

  /** Reads a u32 length and that many bytes (a view). */
  bytes(): Uint8Array {
    return this.raw(this.u32());
  }

  /** Reads a string written by {@link ByteWriter.string}. */
  string(): string {
    const n = this.u32();
    this.#need(n);
    const s = fromUtf8(this.#buf, this.#pos, this.#pos + n);
    this.#pos += n;
    return s;
  }

  /** Reads a typed array written by {@link ByteWriter.array} (copied, so it outlives the input). */
  u32Array(): Uint32Array {
    const n = this.u32();
    const b = this.raw(n * 4);
    const out = new Uint32Array(n);
    new Uint8Array(out.buffer).set(b);
    return out;
  }

  /** Reads a typed array written by {@link ByteWriter.array} (copied). */
  f64Array(): Float64Array {
    const n = this.u32();
    const b = this.raw(n * 8);
    const out = new Float64Array(n);
    new Uint8Array(out.buffer).set(b);
    return out;
  }

  /** Skips `n` bytes. */
  skip(n: number): void {
    this.#need(n);
    this.#pos += n;
  }
}
