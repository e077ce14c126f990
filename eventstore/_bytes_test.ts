import assert from "node:assert/strict";
import { PAGE_BYTES, touchPages } from "./_bytes.ts";

function untouchedPages(buf: Uint8Array): number[] {
  const out: number[] = [];
  for (let p = 0; p * PAGE_BYTES < buf.length; p++) {
    const page = buf.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES);
    if (!page.includes(0)) out.push(p);
  }
  return out;
}

Deno.test("touchPages: fractional steps (bytes applied times a growth factor) touch every page", () => {
  const buf = new Uint8Array(256 * PAGE_BYTES + 123).fill(1);
  let at = 0;
  let calls = 0;
  // 1.25 times odd byte counts (the bytes of applied commands), below and above a page.
  for (let k = 0; at < buf.length; k++, calls++) {
    const next = touchPages(buf, at, 1.25 * (k % 2 === 0 ? 777 + 2 * (k % 50) : 9001 + 2 * k));
    assert.ok(Number.isInteger(next), `offset ${next} after call ${calls}`);
    assert.ok(next > at, "each call moves on");
    at = next;
  }
  assert.equal(at, buf.length);
  assert.deepEqual(untouchedPages(buf), []);
});

Deno.test("touchPages: steps larger than a page, a fractional start, and the end of the buffer", () => {
  const buf = new Uint8Array(10 * PAGE_BYTES).fill(1);
  let at = touchPages(buf, 0.5, 3 * PAGE_BYTES + 0.25);
  assert.equal(at, 3 * PAGE_BYTES + 1);
  assert.equal(untouchedPages(buf)[0], 4, "pages 0 to 3 are touched, 4 not yet");
  at = touchPages(buf, at, 100 * PAGE_BYTES);
  assert.equal(at, buf.length, "stops at the end");
  assert.deepEqual(untouchedPages(buf), []);
  assert.equal(touchPages(buf, at, 10), buf.length, "nothing left to touch");
});
