/** `raftlog serve --cors-origins`: parsed, checked, and in effect on a real node process. */
import assert from "node:assert/strict";
import { parseServeArgs } from "../cli.ts";
import { UsageError } from "../cli/usage_error.ts";
import { leaderOf, startNodes, stopNodes } from "./_procs.ts";

const BASE = ["--id", "n1", "--listen", "127.0.0.1:7001", "--secret", "s"];

Deno.test("--cors-origins takes a comma-separated list of origins, or *, and refuses anything else", () => {
  assert.deepEqual(parseServeArgs(BASE).corsOrigins, []);
  assert.deepEqual(
    parseServeArgs([...BASE, "--cors-origins", "https://app.example, http://localhost:5173"])
      .corsOrigins,
    ["https://app.example", "http://localhost:5173"],
  );
  assert.deepEqual(parseServeArgs([...BASE, "--cors-origins", "*"]).corsOrigins, ["*"]);
  for (const bad of ["https://app.example/", "app.example", "*,https://app.example"]) {
    assert.throws(
      () => parseServeArgs([...BASE, "--cors-origins", bad]),
      (e: unknown) => e instanceof UsageError && /--cors-origins/.test(e.message),
      bad,
    );
  }
});

Deno.test("a node started with --cors-origins answers a browser's preflight and append with CORS headers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-cors-" });
  const origin = "http://localhost:5173";
  const procs = startNodes([dir], {
    app: "events",
    secret: "s",
    extraArgs: ["--cors-origins", origin],
  });
  try {
    const leader = await leaderOf(procs);
    const pre = await fetch(`${leader.url}/streams/orders-1`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST" },
    });
    await pre.body?.cancel();
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), origin);
    const res = await fetch(`${leader.url}/streams/orders-1`, {
      method: "POST",
      headers: { origin, "content-type": "application/json" },
      body: '{"type":"Placed"}',
    });
    assert.equal(res.status, 201, await res.text());
    assert.equal(res.headers.get("access-control-allow-origin"), origin);
  } finally {
    await stopNodes(procs);
    await Deno.remove(dir, { recursive: true });
  }
});
