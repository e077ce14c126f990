/**
 * `raftlog serve --cors-origins` and `--client-token`: parsed, checked, and in
 * effect on a real node process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
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

Deno.test("--client-token, --client-token-file or RAFTLOG_CLIENT_TOKEN set the client token; bad ones are refused", async () => {
  assert.equal(parseServeArgs(BASE).clientToken, undefined);
  assert.equal(parseServeArgs([...BASE, "--client-token", "abc"]).clientToken, "abc");
  assert.equal(
    parseServeArgs(BASE, (n) => n === "RAFTLOG_CLIENT_TOKEN" ? "from-env" : undefined)
      .clientToken,
    "from-env",
  );
  const dir = await Deno.makeTempDir({ prefix: "raftlog-token-" });
  try {
    const file = join(dir, "token");
    await Deno.writeTextFile(file, "from-file\n");
    assert.equal(parseServeArgs([...BASE, "--client-token-file", file]).clientToken, "from-file");
    const refused: string[][] = [
      ["--client-token", "two words"],
      ["--client-token", ""],
      ["--client-token", "a", "--client-token-file", file],
      ["--client-token-file", join(dir, "missing")],
    ];
    for (const args of refused) {
      assert.throws(() => parseServeArgs([...BASE, ...args]), UsageError, args.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a node started with --client-token-file refuses client requests without the token", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-token-" });
  const tokenFile = join(dir, "token");
  await Deno.writeTextFile(tokenFile, "s3cret-token\n");
  const procs = startNodes([join(dir, "n1")], {
    app: "events",
    secret: "s",
    extraArgs: ["--client-token-file", tokenFile],
  });
  try {
    const leader = await leaderOf(procs);
    const append = (headers: Record<string, string>) =>
      fetch(`${leader.url}/streams/orders-1`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: '{"type":"Placed"}',
      });
    const refused = await append({});
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    const done = await append({ authorization: "Bearer s3cret-token" });
    assert.equal(done.status, 201, await done.text());
    const health = await fetch(`${leader.url}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    await stopNodes(procs);
    await Deno.remove(dir, { recursive: true });
  }
});
