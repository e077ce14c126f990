import assert from "node:assert/strict";
import { Hono } from "hono";
import { bodyLimit } from "./body_limit.ts";

function app(): Hono {
  const a = new Hono();
  a.post(
    "/",
    bodyLimit({ maxSize: 8, onError: (c) => c.json({ error: "too_large" }, 413) }),
    async (c) => c.text(`got ${await c.req.text()}`),
  );
  return a;
}

/** A request body with no declared length: sent chunked. */
function chunked(...parts: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(ctrl) {
      for (const p of parts) ctrl.enqueue(enc.encode(p));
      ctrl.close();
    },
  });
}

Deno.test("bodyLimit: a declared length over the limit is refused before the body is read", async () => {
  const res = await app().request("/", { method: "POST", body: "123456789" });
  assert.equal(res.status, 413);
  assert.deepEqual(await res.json(), { error: "too_large" });
  const ok = await app().request("/", { method: "POST", body: "12345678" });
  assert.equal(await ok.text(), "got 12345678");
});

Deno.test("bodyLimit: a chunked body is read up to the limit and handed on whole", async () => {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app().fetch);
  try {
    const url = `http://127.0.0.1:${server.addr.port}/`;
    const ok = await fetch(url, { method: "POST", body: chunked("1234", "5678") });
    assert.equal(await ok.text(), "got 12345678");
    const big = await fetch(url, { method: "POST", body: chunked("1234", "5678", "9") });
    assert.equal(big.status, 413);
    assert.deepEqual(await big.json(), { error: "too_large" });
  } finally {
    await server.shutdown();
  }
});

Deno.test("bodyLimit: a chunked body does not make Deno.serve warn about request.signal", async () => {
  // The warning comes once per process: a fresh one serves one chunked request.
  const script = `
    import { Hono } from "hono";
    import { bodyLimit } from ${JSON.stringify(new URL("./body_limit.ts", import.meta.url).href)};
    const a = new Hono();
    a.post("/", bodyLimit({ maxSize: 100, onError: (c) => c.text("no", 413) }), async (c) => c.text("got " + await c.req.text()));
    const s = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, a.fetch);
    const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("abc")); c.close(); } });
    const res = await fetch("http://127.0.0.1:" + s.addr.port + "/", { method: "POST", body });
    console.log(await res.text());
    await s.shutdown();
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", new URL("../deno.json", import.meta.url).pathname, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(stdout.includes("got abc"), stderr);
  assert.ok(!stderr.includes("request.signal"), stderr);
});
