/**
 * The one reusable buffer that synchronous log reads go through, so a read
 * allocates only what it returns: entry data are copied out of it, and no
 * read pins a large buffer behind the entries it hands out.
 *
 * @module
 */

import { CorruptLogError } from "./storage_errors.ts";

/**
 * Default capacity of a {@link ReadBuffer}: a full batch record
 * (`MAX_BATCH_PAYLOAD_BYTES` of entries plus a hard state and its frame)
 * fits, so verifying one takes a single read.
 *
 * @example
 * ```ts
 * import { READ_BUFFER_BYTES } from "./read_buffer.ts";
 * console.assert(READ_BUFFER_BYTES > 1 << 20);
 * ```
 */
export const READ_BUFFER_BYTES = (1 << 20) + (64 << 10);

/**
 * A fixed-size buffer (allocated on first use) plus a window: which bytes of
 * which file it holds. Log files only grow at their end and are never
 * rewritten in place, so the window stays valid for as long as its file
 * handle is open; a request the window covers costs no I/O.
 *
 * @example
 * ```ts
 * import { ReadBuffer } from "./read_buffer.ts";
 * const path = await Deno.makeTempFile();
 * try {
 *   await Deno.writeFile(path, new Uint8Array([1, 2, 3, 4, 5]));
 *   const file = Deno.openSync(path, { read: true });
 *   const rb = new ReadBuffer(64);
 *   const pos = rb.load(file, path, 1, 4);
 *   console.assert(rb.bytes[pos] === 2 && rb.holds(file, 2, 4));
 *   file.close();
 * } finally {
 *   await Deno.remove(path);
 * }
 * ```
 */
export class ReadBuffer {
  /** Most bytes one {@link ReadBuffer.load} can hold. */
  readonly capacity: number;
  #bytes = new Uint8Array(0);
  #view = new DataView(this.#bytes.buffer);
  #file: Deno.FsFile | undefined;
  #start = 0;
  #end = 0;

  constructor(capacity: number = READ_BUFFER_BYTES) {
    if (!Number.isSafeInteger(capacity) || capacity < 64) {
      throw new RangeError(`capacity must be an integer of at least 64, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** The buffer; valid bytes are the window's (see {@link ReadBuffer.load}). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** A DataView over {@link ReadBuffer.bytes}. */
  get view(): DataView {
    return this.#view;
  }

  /** Whether the window holds bytes [start, end) of `file`. */
  holds(file: Deno.FsFile, start: number, end: number): boolean {
    return file === this.#file && start >= this.#start && end <= this.#end;
  }

  /** End of the window when it holds byte `start` of `file`, else -1. */
  windowEndAt(file: Deno.FsFile, start: number): number {
    return file === this.#file && start >= this.#start && start < this.#end ? this.#end : -1;
  }

  /**
   * Makes bytes [start, end) of `file` (at most `capacity` of them) available
   * in {@link ReadBuffer.bytes} and returns where `start` is in it. Reads
   * them with one positioned read unless the window already holds them. The
   * bytes stay until the next call. `path` names the file in errors: a file
   * shorter than `end` throws `CorruptLogError`.
   */
  load(file: Deno.FsFile, path: string, start: number, end: number): number {
    if (this.holds(file, start, end)) return start - this.#start;
    const length = end - start;
    if (length > this.capacity || length < 0) {
      throw new RangeError(`cannot load ${length} bytes into a ${this.capacity}-byte buffer`);
    }
    if (this.#bytes.length < this.capacity) {
      this.#bytes = new Uint8Array(this.capacity);
      this.#view = new DataView(this.#bytes.buffer);
    }
    this.#file = undefined; // until the read completes
    readFully(file, path, start, this.#bytes.subarray(0, length));
    this.#file = file;
    this.#start = start;
    this.#end = end;
    return 0;
  }

  /** Forgets the window (the file it came from is being closed). */
  forget(file?: Deno.FsFile): void {
    if (file === undefined || file === this.#file) this.#file = undefined;
  }

  /** Forgets the window and frees the buffer. */
  release(): void {
    this.#file = undefined;
    this.#bytes = new Uint8Array(0);
    this.#view = new DataView(this.#bytes.buffer);
  }
}

/**
 * Fills `dst` with the bytes of `file` from byte offset `start` on. Throws
 * `CorruptLogError` (naming `path` and the offset) when the file ends first.
 *
 * @example
 * ```ts
 * import { readFully } from "./read_buffer.ts";
 * const path = await Deno.makeTempFile();
 * try {
 *   await Deno.writeFile(path, new Uint8Array([1, 2, 3]));
 *   const file = Deno.openSync(path, { read: true });
 *   const dst = new Uint8Array(2);
 *   readFully(file, path, 1, dst);
 *   console.assert(dst[0] === 2 && dst[1] === 3);
 *   file.close();
 * } finally {
 *   await Deno.remove(path);
 * }
 * ```
 */
export function readFully(file: Deno.FsFile, path: string, start: number, dst: Uint8Array): void {
  file.seekSync(start, Deno.SeekMode.Start);
  let got = 0;
  while (got < dst.length) {
    const n = file.readSync(dst.subarray(got));
    if (n === null) {
      throw new CorruptLogError(
        path,
        start + got,
        `file ends before the records it held when opened (expected ${start + dst.length} bytes)`,
      );
    }
    got += n;
  }
}
