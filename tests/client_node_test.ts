/**
 * The `./client` entry point outside Deno: bundled for browsers (so it needs
 * neither Deno's APIs nor Node's modules) and run by Node against a real
 * node over HTTP, with the store's typed errors and a live subscription.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { serveEventStoreCluster } from "./helpers.ts";

const root = new URL("..", import.meta.url).pathname;

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed:\n${text}\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

// What a Node program does with the client: every line of its output is checked below.
const NODE_PROGRAM = `
import { RaftlogClient, StreamNotFoundError, WrongExpectedRevisionError } from "./client.js";
const client = new RaftlogClient({ urls: process.argv[2] });
const out = {};
const opened = { id: "5b0c7f0e-1c1a-4c7e-9a43-2b5b0d1c9e01", type: "Opened", data: { owner: "ann" } };
out.first = await client.append("acct-1", [opened], { expectedRevision: "no_stream" });
out.retry = await client.append("acct-1", [opened], { expectedRevision: "no_stream" });
try {
  await client.append("acct-1", { type: "Deposited", data: { amount: 5 } }, { expectedRevision: "no_stream" });
  out.conflict = "accepted";
} catch (e) {
  out.conflict = { typed: e instanceof WrongExpectedRevisionError, currentRevision: e.currentRevision };
}
try {
  await client.read("nobody");
  out.missing = "found";
} catch (e) {
  out.missing = e instanceof StreamNotFoundError;
}
const ac = new AbortController();
out.subscription = [];
for await (const item of client.subscribe("acct-1", { signal: ac.signal })) {
  out.subscription.push(item.kind === "event" ? item.event.type + "@" + item.event.revision : "caught-up");
  if (item.kind === "caught-up") {
    await client.append("acct-1", { type: "Deposited", data: { amount: 7 } }, { expectedRevision: 0 });
  }
  if (out.subscription.length === 3) break;
}
ac.abort();
out.read = (await client.read("acct-1")).events.map((e) => [e.type, e.revision, e.data]);
out.projection = (await client.getProjection("count")).state;
out.streams = await client.listStreams({ prefix: "acct-" });
console.log(JSON.stringify(out));
`;

Deno.test("the ./client entry point bundles for browsers and works from Node over HTTP", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-client-node-" });
  const [node] = await serveEventStoreCluster(1, {
    projections: [{ name: "count", init: 0, apply: (n: number) => n + 1 }],
    heartbeatMs: 20,
  });
  try {
    await node!.node.waitForLeader(5000);
    const bundle = join(dir, "client.js");
    await run(Deno.execPath(), [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--config",
      join(root, "deno.json"),
      "-o",
      bundle,
      join(root, "client.ts"),
    ], root);
    const code = await Deno.readTextFile(bundle);
    assert.match(code, /RaftlogClient = class/);
    assert.doesNotMatch(code, /\bDeno\./, "the client must not use Deno's APIs");
    await Deno.writeTextFile(join(dir, "program.mjs"), NODE_PROGRAM);
    const out = JSON.parse(
      await run("node", ["program.mjs", node!.url], dir),
    );
    const first = { stream: "acct-1", firstRevision: 0, lastRevision: 0, position: 0 };
    assert.deepEqual(out.first, { ...first, replayed: false });
    // A retry with the same id returns the original result and writes nothing.
    assert.deepEqual(out.retry, { ...first, replayed: true });
    assert.deepEqual(out.conflict, { typed: true, currentRevision: 0 });
    assert.equal(out.missing, true);
    assert.deepEqual(out.subscription, ["Opened@0", "caught-up", "Deposited@1"]);
    assert.deepEqual(out.read, [["Opened", 0, { owner: "ann" }], ["Deposited", 1, { amount: 7 }]]);
    assert.equal(out.projection, 2);
    assert.deepEqual(out.streams, { streams: [{ stream: "acct-1", revision: 1 }], next: null });
    // The Node program's appends are the store's: one event per append, nothing twice.
    const stored = await (await fetch(`${node!.url}/streams/acct-1`)).json();
    assert.equal(stored.events.length, 2);
  } finally {
    await node!.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
