import assert from "node:assert/strict";
import { join } from "node:path";
import { confStateOf } from "../raft/core/conf_state.ts";
import { backupStream, readBackup } from "../raft/storage/backup_file.ts";
import { runBackupCommand } from "./backup.ts";

/** A member that answers `GET /backup` with `bytes` (cut short, or whole). */
function fakeMember(bytes: Uint8Array) {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    () => new Response(bytes.slice()),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    stop: async () => (ac.abort(), await server.finished),
  };
}

Deno.test("raftlog backup replaces --out only with a whole, intact backup", async () => {
  const dir = await Deno.makeTempDir();
  const backup = {
    metadata: { index: 9, term: 2, confState: confStateOf(["n1"]) },
    data: new Uint8Array(300_000).map((_, i) => i & 0xff),
  };
  const file = new Uint8Array(
    await new Response(backupStream(backup, { nodeId: "n1", clusterId: "c" })).arrayBuffer(),
  );
  const out = join(dir, "b.backup");
  await Deno.writeTextFile(out, "the previous backup");
  const errors: string[] = [];
  const origError = console.error;
  console.error = (...a: unknown[]) => errors.push(a.join(" "));
  try {
    for (
      const [what, bytes] of [["cut short", file.subarray(0, 200_000)], [
        "damaged",
        file.map((b, i) => i === 150_000 ? b ^ 4 : b),
      ]] as const
    ) {
      const m = fakeMember(bytes);
      try {
        assert.equal(
          await runBackupCommand(["--cluster", m.url, "--out", out, "--secret", "s"]),
          1,
          what,
        );
      } finally {
        await m.stop();
      }
      assert.equal(await Deno.readTextFile(out), "the previous backup", what);
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name),
        ["b.backup"],
        `${what}: no leftovers`,
      );
    }
    assert.match(errors.join("\n"), /cut short/);
    assert.match(errors.join("\n"), /CRC-32 mismatch/);
    const m = fakeMember(file);
    try {
      assert.equal(await runBackupCommand(["--cluster", m.url, "--out", out, "--secret", "s"]), 0);
    } finally {
      await m.stop();
    }
    assert.deepEqual(readBackup(await Deno.readFile(out)).backup.data, backup.data);
  } finally {
    console.error = origError;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("raftlog backup gives up a member that answers nothing, or stops sending, and asks the next", async () => {
  const dir = await Deno.makeTempDir();
  const backup = {
    metadata: { index: 3, term: 1, confState: confStateOf(["n1"]) },
    data: new Uint8Array(10),
  };
  const file = new Uint8Array(
    await new Response(backupStream(backup, { nodeId: "n1", clusterId: "c" })).arrayBuffer(),
  );
  const ac = new AbortController();
  let stalls = 0;
  // Answers nothing at all on /silent; on /stall, the first bytes and then nothing.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) => {
      stalls++;
      if (new URL(req.url).pathname.startsWith("/silent")) return new Promise<Response>(() => {});
      return new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(file.slice(0, 20));
          },
        }),
      );
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const good = fakeMember(file);
  const errors: string[] = [];
  const origError = console.error;
  console.error = (...a: unknown[]) => errors.push(a.join(" "));
  try {
    const out = join(dir, "b.backup");
    const code = await runBackupCommand(
      ["--cluster", `${base}/silent,${base}/stall,${good.url}`, "--out", out, "--secret", "s"],
      () => undefined,
      { idleMs: 100 },
    );
    assert.equal(code, 0, errors.join("\n"));
    assert.equal(stalls, 2);
    assert.equal(readBackup(await Deno.readFile(out)).info.index, 3);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["b.backup"]);
  } finally {
    console.error = origError;
    await good.stop();
    ac.abort();
    await server.finished.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
