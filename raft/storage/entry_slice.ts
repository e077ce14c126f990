/**
 * Reading part of one log entry's data. An entry can hold a large batch of
 * commands (an append of hundreds of events) while a reader wants a few
 * hundred bytes of it; storages that can serve a byte range copy only those
 * bytes, so a random read costs what it returns, not the whole entry.
 *
 * @module
 */

import type { Storage } from "../core/storage.ts";

/**
 * A storage that reads a byte range of one entry's data.
 *
 * Contract of `entrySlice(index, start, end)`: returns a copy of bytes
 * `[start, end)` of the data of entry `index` (`end` defaults to the data's
 * length). Throws `CompactedError` below `firstIndex()`, `UnavailableError`
 * above `lastIndex()`, and `RangeError` unless `0 <= start <= end <= length`.
 * Integrity is checked as for `entries()` (file storages verify the record's
 * checksum on its first read), and the read fills no entry cache.
 *
 * @example
 * ```ts
 * import type { EntrySliceReader } from "./entry_slice.ts";
 * import { MemoryStorage } from "./memory_storage.ts";
 * const s = MemoryStorage.withVoters(["n1"]);
 * s.append([{ term: 1, index: 1, type: "normal", data: new Uint8Array([1, 2, 3, 4]) }]);
 * const r: EntrySliceReader = s;
 * console.assert(r.entrySlice(1, 1, 3).join() === "2,3");
 * ```
 */
export interface EntrySliceReader {
  /** A copy of bytes `[start, end)` of entry `index`'s data (see the interface). */
  entrySlice(index: number, start: number, end?: number): Uint8Array;
}

/**
 * Whether `storage` implements {@link EntrySliceReader}.
 *
 * @example
 * ```ts
 * import { hasEntrySlice } from "./entry_slice.ts";
 * import { MemoryStorage } from "./memory_storage.ts";
 * console.assert(hasEntrySlice(MemoryStorage.withVoters(["n1"])));
 * ```
 */
export function hasEntrySlice<S extends Storage>(storage: S): storage is S & EntrySliceReader {
  return typeof (storage as Partial<EntrySliceReader>).entrySlice === "function";
}

/**
 * Bytes `[start, end)` of entry `index`'s data from any {@link Storage}:
 * through `entrySlice` when it has one, else by reading the whole entry and
 * copying the range out of it. Same errors as {@link EntrySliceReader}.
 *
 * @example
 * ```ts
 * import { readEntrySlice } from "./entry_slice.ts";
 * import { MemoryStorage } from "./memory_storage.ts";
 * const s = MemoryStorage.withVoters(["n1"]);
 * s.append([{ term: 1, index: 1, type: "normal", data: new Uint8Array([5, 6, 7]) }]);
 * console.assert(readEntrySlice(s, 1, 2).join() === "7");
 * ```
 */
export function readEntrySlice(
  storage: Storage,
  index: number,
  start: number,
  end?: number,
): Uint8Array {
  if (hasEntrySlice(storage)) return storage.entrySlice(index, start, end);
  const data = storage.entries(index, index + 1)[0]?.data;
  if (data === undefined) throw new RangeError(`Log entry ${index} is not available`);
  return data.slice(start, checkSliceRange(index, start, end, data.byteLength));
}

/**
 * Checks `0 <= start <= end <= length` (integers; `end` defaults to
 * `length`) for a slice of entry `index` and returns `end`. Throws
 * `RangeError` (or `TypeError` for non-integers) naming the entry.
 *
 * @example
 * ```ts
 * import { checkSliceRange } from "./entry_slice.ts";
 * console.assert(checkSliceRange(1, 2, undefined, 10) === 10);
 * ```
 */
export function checkSliceRange(
  index: number,
  start: number,
  end: number | undefined,
  length: number,
): number {
  const stop = end ?? length;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(stop)) {
    throw new TypeError(`entrySlice: start and end must be integers, got ${start} and ${end}`);
  }
  if (start < 0 || start > stop || stop > length) {
    throw new RangeError(
      `entrySlice: bytes [${start}, ${stop}) are outside the ${length} bytes of entry ${index}`,
    );
  }
  return stop;
}
