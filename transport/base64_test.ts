import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { base64Of, bytesOfBase64 } from "./base64.ts";

const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ minLength: 3000, maxLength: 9000 }),
);

Deno.test("base64: the same text as node:buffer's, decoded back to the same bytes", () => {
  fc.assert(
    fc.property(bytes, fc.nat(8), (b, skip) => {
      const view = b.subarray(Math.min(skip, b.length));
      const text = base64Of(view);
      assert.equal(text, Buffer.from(view).toString("base64"));
      assert.deepEqual([...bytesOfBase64(text)], [...view]);
      // Without padding, as some encoders write it.
      assert.deepEqual([...bytesOfBase64(text.replace(/=+$/, ""))], [...view]);
    }),
    { numRuns: 300 },
  );
});

Deno.test("base64: small results share buffers without overwriting each other", () => {
  const sources = Array.from({ length: 400 }, (_, i) => {
    const b = new Uint8Array(1 + (i * 37) % 3000);
    for (let k = 0; k < b.length; k++) b[k] = (i * 7 + k) & 0xff;
    return b;
  });
  const decoded = sources.map((s) => bytesOfBase64(base64Of(s)));
  assert.ok(decoded.some((d, i) => i > 0 && d.buffer === decoded[i - 1]!.buffer), "no sharing");
  decoded.forEach((d, i) => assert.deepEqual([...d], [...sources[i]!], `result ${i}`));
});

Deno.test("base64: text that is not base64 is refused, and refusing it spoils nothing", () => {
  const before = bytesOfBase64(base64Of(new Uint8Array([9, 8, 7])));
  for (const bad of ["AQ!D", "AQID-A==", "A===", "AQIDBA=A", "é", "AQ_D"]) {
    assert.throws(() => bytesOfBase64(bad), SyntaxError, bad);
  }
  assert.throws(() => bytesOfBase64("!".repeat(10_000)), SyntaxError);
  assert.deepEqual([...before], [9, 8, 7]);
  assert.deepEqual([...bytesOfBase64(" AQ ID\n")], [1, 2, 3]);
});
