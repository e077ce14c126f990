/**
 * Fast checksumming for the write path. A batch of frames is built in a
 * buffer that lives in WebAssembly memory, then one call fills in every
 * frame's two CRC-32s. That replaces a native call and a `subarray` per record
 * (which dominated the CPU cost of a large `save`) with one call per batch.
 *
 * The module is assembled below from its opcodes, so there is no binary blob
 * to trust: `crc(p, n)` is the standard slice-by-8 CRC-32 (IEEE, as zlib)
 * over memory `[p, p + n)` with its tables at address 0; `seal(p, end)` walks
 * frames from `p` to `end` (see `record.ts`), two at a time, and stores each
 * payload checksum at +4 and header checksum at +8.
 *
 * @module
 */

const TABLES_BYTES = 8 * 1024;
const PAGE = 65536;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function assemble(): Uint8Array<ArrayBuffer> {
  // Opcodes used.
  // deno-fmt-ignore
  const block = [0x02, 0x40], loop = [0x03, 0x40], end = 0x0b;
  const br = (d: number) => [0x0c, d], brIf = (d: number) => [0x0d, d];
  const get = (i: number) => [0x20, i], set = (i: number) => [0x21, i];
  const c32 = (v: number) => [0x41, ...sleb(v)];
  const load = (offset: number, align = 2) => [0x28, align, ...uleb(offset)];
  const load8u = [0x2d, 0, 0];
  const store = (offset: number) => [0x36, 0, ...uleb(offset)];
  const call = (f: number) => [0x10, f];
  const add = 0x6a, and = 0x71, xor = 0x73, shl = 0x74, shrU = 0x76, geU = 0x4f;
  // T[k][byte] lives at k * 1024 + byte * 4.
  const lookup = (local: number, shift: number, table: number) => [
    ...get(local),
    ...(shift === 0 ? [] : [...c32(shift), shrU]),
    ...(shift === 24 ? [] : [...c32(255), and]),
    ...c32(2),
    shl,
    ...load(table * 1024),
  ];

  // One slice-by-8 step on state `c` with the 8 bytes at `ptr`, using `d` as scratch.
  const step = (c: number, ptr: number, d: number) => [
    ...get(c),
    ...get(ptr),
    ...load(0, 0),
    xor,
    ...set(c),
    ...get(ptr),
    ...load(4, 0),
    ...set(d),
    ...lookup(c, 0, 7),
    ...lookup(c, 8, 6),
    xor,
    ...lookup(c, 16, 5),
    xor,
    ...lookup(c, 24, 4),
    xor,
    ...lookup(d, 0, 3),
    xor,
    ...lookup(d, 8, 2),
    xor,
    ...lookup(d, 16, 1),
    xor,
    ...lookup(d, 24, 0),
    xor,
    ...set(c),
  ];

  // cont(c: 0, p: 1, n: 2) -> i32: CRC state `c` continued over [p, p + n)
  // (no pre/post inversion); locals end: 3, end8: 4, d: 5
  // deno-fmt-ignore
  const cont = [
    1, 3, 0x7f,
    ...get(1), ...get(2), add, ...set(3),
    ...get(1), ...get(2), ...c32(-8), and, add, ...set(4),
    ...block, ...loop,
    ...get(1), ...get(4), geU, ...brIf(1),
    ...step(0, 1, 5),
    ...get(1), ...c32(8), add, ...set(1),
    ...br(0), end, end,
    ...block, ...loop,
    ...get(1), ...get(3), geU, ...brIf(1),
    ...get(0), ...get(1), ...load8u, xor, ...c32(255), and, ...c32(2), shl, ...load(0),
    ...get(0), ...c32(8), shrU, xor, ...set(0),
    ...get(1), ...c32(1), add, ...set(1),
    ...br(0), end, end,
    ...get(0),
    end,
  ];
  // crc(p: 0, n: 1) -> i32: the CRC-32 of [p, p + n)
  // deno-fmt-ignore
  const crc = [
    0,
    ...c32(-1), ...get(0), ...get(1), ...call(0), ...c32(-1), xor,
    end,
  ];
  // seal(p: 0, end: 1): frames two at a time, so that the two checksum
  // chains run side by side (the CPU overlaps independent chains; one chain
  // alone is bound by its latency). Locals: lenA 2, q 3, lenB 4, a 5, b 6,
  // ca 7, cb 8, stop 9, da 10, db 11.
  // deno-fmt-ignore
  const seal = [
    1, 10, 0x7f,
    ...block, ...loop,
    ...get(0), ...get(1), geU, ...brIf(1),
    ...get(0), ...load(0, 0), ...set(2),
    ...get(0), ...get(2), add, ...c32(12), add, ...set(3),
    // A last, unpaired frame.
    ...get(3), ...get(1), geU, 0x04, 0x40,
    ...get(0), ...get(0), ...c32(12), add, ...get(2), ...call(1), ...store(4),
    ...get(0), ...get(0), ...c32(8), ...call(1), ...store(8),
    ...br(2), end,
    ...get(3), ...load(0, 0), ...set(4),
    ...get(0), ...c32(12), add, ...set(5),
    ...get(3), ...c32(12), add, ...set(6),
    ...c32(-1), ...set(7),
    ...c32(-1), ...set(8),
    // stop = a + (min(lenA, lenB) & -8)
    ...get(5), ...get(2), ...get(4), ...get(2), ...get(4), 0x49, 0x1b, ...c32(-8), and, add, ...set(9),
    ...block, ...loop,
    ...get(5), ...get(9), geU, ...brIf(1),
    ...step(7, 5, 10),
    ...step(8, 6, 11),
    ...get(5), ...c32(8), add, ...set(5),
    ...get(6), ...c32(8), add, ...set(6),
    ...br(0), end, end,
    // Finish each frame's remaining bytes, then its header checksum.
    ...get(0), ...get(7), ...get(5), ...get(0), ...c32(12), add, ...get(2), add, ...get(5), 0x6b,
    ...call(0), ...c32(-1), xor, ...store(4),
    ...get(3), ...get(8), ...get(6), ...get(3), ...c32(12), add, ...get(4), add, ...get(6), 0x6b,
    ...call(0), ...c32(-1), xor, ...store(4),
    ...get(0), ...get(0), ...c32(8), ...call(1), ...store(8),
    ...get(3), ...get(3), ...c32(8), ...call(1), ...store(8),
    ...get(3), ...get(4), add, ...c32(12), add, ...set(0),
    ...br(0), end, end,
    end,
  ];
  const name = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
  // deno-fmt-ignore
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [3, 0x60, 3, 0x7f, 0x7f, 0x7f, 1, 0x7f, 0x60, 2, 0x7f, 0x7f, 1, 0x7f, 0x60, 2, 0x7f, 0x7f, 0]),
    ...section(3, [3, 0, 1, 2]),
    ...section(5, [1, 0, 1]),
    ...section(7, [3, ...name("crc"), 0, 1, ...name("seal"), 0, 2, ...name("mem"), 2, 0]),
    ...section(10, [3, ...uleb(cont.length), ...cont, ...uleb(crc.length), ...crc, ...uleb(seal.length), ...seal]),
  ]);
}

const instance = new WebAssembly.Instance(new WebAssembly.Module(assemble()));
const exports = instance.exports as {
  crc: (p: number, n: number) => number;
  seal: (p: number, end: number) => void;
  mem: WebAssembly.Memory;
};

{
  const tables = new Int32Array(exports.mem.buffer, 0, 2048);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    tables[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[n]!;
    for (let k = 1; k < 8; k++) {
      c = tables[c & 0xff]! ^ (c >>> 8);
      tables[k * 256 + n] = c;
    }
  }
}

/** A buffer in WebAssembly memory with a DataView over the same bytes. */
export interface FrameBuffer {
  readonly buf: Uint8Array;
  readonly view: DataView;
}

let current: FrameBuffer = { buf: new Uint8Array(0), view: new DataView(new ArrayBuffer(0)) };

/**
 * A buffer of at least `bytes` bytes in WebAssembly memory, for building a
 * batch of frames to pass to {@link sealFrames}. The same memory is handed
 * out every time, and growing it invalidates earlier buffers: fill, seal and
 * write it without an `await` in between.
 *
 * @example
 * ```ts
 * import { frameBuffer } from "./frame_sealer.ts";
 * console.assert(frameBuffer(1000).buf.length >= 1000);
 * ```
 */
export function frameBuffer(bytes: number): FrameBuffer {
  const mem = exports.mem;
  if (mem.buffer.byteLength < TABLES_BYTES + bytes) {
    mem.grow(Math.ceil((TABLES_BYTES + bytes - mem.buffer.byteLength) / PAGE));
  }
  if (current.buf.buffer !== mem.buffer) {
    const buf = new Uint8Array(mem.buffer, TABLES_BYTES);
    current = { buf, view: new DataView(mem.buffer, TABLES_BYTES) };
  }
  return current;
}

/**
 * Fills in the checksums of the frames in `buf[0..end)`, a buffer from
 * {@link frameBuffer} whose frames have their length and payload written.
 *
 * @example
 * ```ts
 * import { frameBuffer, sealFrames } from "./frame_sealer.ts";
 * import { checkFrame } from "./record.ts";
 * const { buf, view } = frameBuffer(15);
 * view.setUint32(0, 3, true);
 * buf.set([1, 2, 3], 12);
 * sealFrames(buf, 15);
 * console.assert(checkFrame(buf, view, 0, 15) === 3);
 * ```
 */
export function sealFrames(buf: Uint8Array, end: number): void {
  if (buf.buffer !== exports.mem.buffer || buf.byteOffset !== TABLES_BYTES) {
    throw new TypeError("sealFrames: buf must come from frameBuffer()");
  }
  if (end > buf.length) throw new RangeError(`sealFrames: end ${end} is past the buffer`);
  exports.seal(TABLES_BYTES, TABLES_BYTES + end);
}

/**
 * CRC-32 (IEEE, as zlib's `crc32`) of `bytes`, computed in WebAssembly.
 *
 * @example
 * ```ts
 * import { crc32Wasm } from "./frame_sealer.ts";
 * console.assert(crc32Wasm(new TextEncoder().encode("123456789")) === 0xcbf43926);
 * ```
 */
export function crc32Wasm(bytes: Uint8Array): number {
  frameBuffer(bytes.length).buf.set(bytes);
  return exports.crc(TABLES_BYTES, bytes.length) >>> 0;
}
