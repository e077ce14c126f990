import assert from "node:assert/strict";
import { entrySize } from "../core/storage.ts";
import type { Entry } from "../core/types.ts";
import { EntryCache, pinsLittle } from "./entry_cache.ts";

const ent = (index: number, size = 84): Entry => ({
  index,
  term: 1,
  type: "normal",
  data: new Uint8Array(size),
});

Deno.test("EntryCache evicts the oldest entries beyond maxBytes", () => {
  const c = new EntryCache(10 * entrySize(ent(1)));
  for (let i = 1; i <= 25; i++) c.append([ent(i)]);
  assert.equal(c.count, 10);
  assert.equal(c.first, 16);
  assert.equal(c.last, 25);
  assert.equal(c.bytes, 10 * entrySize(ent(1)));
  assert.ok(!c.has(15) && c.has(16) && c.has(25) && !c.has(26));
  assert.deepEqual(c.slice(20, 23).map((e) => e.index), [20, 21, 22]);
});

Deno.test("EntryCache restarts on a gap, truncates and drops compacted entries", () => {
  const c = new EntryCache(1 << 20);
  c.append([ent(1), ent(2), ent(3), ent(4)]);
  c.truncateFrom(3);
  assert.equal(c.last, 2);
  c.append([ent(3)]);
  assert.equal(c.last, 3);
  c.dropBefore(3);
  assert.equal(c.first, 3);
  assert.equal(c.count, 1);
  c.append([ent(10)]); // not contiguous: restart
  assert.equal(c.first, 10);
  assert.equal(c.count, 1);
  c.truncateFrom(5);
  assert.equal(c.count, 0);
  assert.equal(c.bytes, 0);
});

Deno.test("EntryCache with maxBytes 0 caches nothing", () => {
  const c = new EntryCache(0);
  c.append([ent(1)]);
  assert.equal(c.count, 0);
  assert.ok(!c.has(1));
});

Deno.test("EntryCache stays consistent over many appends and evictions", () => {
  const c = new EntryCache(50 * entrySize(ent(1, 10)));
  for (let i = 1; i <= 10_000; i++) c.append([ent(i, 10)]);
  assert.equal(c.count, 50);
  assert.deepEqual(c.slice(9951, 10_001).map((e) => e.index)[0], 9951);
  assert.equal(c.slice(9951, 10_001).length, 50);
});

Deno.test("EntryCache keeps copies of entries whose data are views into larger buffers", () => {
  const c = new EntryCache(1 << 20);
  const message = new Uint8Array(64 << 10);
  const own = ent(1, 10);
  const view: Entry = { index: 2, term: 1, type: "normal", data: message.subarray(100, 110) };
  c.append([own, view]);
  const [a, b] = c.slice(1, 3);
  assert.equal(a, own);
  assert.equal(b!.data.buffer.byteLength, 10);
  assert.deepEqual([...b!.data], [...view.data]);
});

Deno.test("EntryCache keeps views into small shared buffers (base64 decodes) by reference", () => {
  const c = new EntryCache(1 << 20);
  const pool = new Uint8Array(8 << 10);
  const view: Entry = { index: 1, term: 1, type: "normal", data: pool.subarray(100, 400) };
  c.append([view]);
  assert.equal(c.slice(1, 2)[0], view);
  assert.ok(!pinsLittle(new Uint8Array((8 << 10) + 21).subarray(0, 10)));
  assert.ok(pinsLittle(new Uint8Array((8 << 10) + 20).subarray(0, 10)));
});

Deno.test("EntryCache copies only what it can keep from a large append", () => {
  const c = new EntryCache(3 * entrySize(ent(1)));
  const message = new Uint8Array(1 << 20);
  const ents: Entry[] = [];
  for (let i = 1; i <= 100; i++) {
    ents.push({ index: i, term: 1, type: "normal", data: message.subarray(i * 84, i * 84 + 84) });
  }
  c.append(ents);
  assert.equal(c.first, 98);
  assert.equal(c.count, 3);
  assert.equal(c.bytes, 3 * entrySize(ent(1)));
  for (const e of c.slice(98, 101)) assert.equal(e.data.buffer.byteLength, 84);
});
