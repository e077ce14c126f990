/** `deno task cluster` (cluster.ts): its options are checked before anything is written. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function cluster(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(ROOT, "deno.json"), join(ROOT, "cluster.ts"), ...args],
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("cluster.ts refuses a bad --log-level, --base-port or --cors-origins with exit 2, writing nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-cluster-cli-" });
  try {
    const data = join(dir, "c");
    const level = await cluster(["--data", data, "--log-level", "bogus"]);
    assert.equal(level.code, 2, level.stderr);
    assert.match(level.stderr, /--log-level must be one of debug, info, warn, error/);
    const tooHigh = await cluster(["--data", data, "--nodes", "3", "--base-port", "65534"]);
    assert.equal(tooHigh.code, 2);
    assert.match(tooHigh.stderr, /base-port.*65533/);
    // 65533-65535 are valid ports: only the log level is refused then.
    const top = await cluster([
      "--data",
      data,
      "--nodes",
      "3",
      "--base-port",
      "65533",
      "--log-level",
      "x",
    ]);
    assert.equal(top.code, 2);
    assert.match(top.stderr, /--log-level/);
    const cors = await cluster(["--data", data, "--cors-origins", "https://app.example/page"]);
    assert.equal(cors.code, 2, cors.stderr);
    assert.match(
      cors.stderr,
      /--cors-origins: CORS origin "https:\/\/app.example\/page" is not an origin/,
    );
    assert.equal([...Deno.readDirSync(dir)].length, 0, "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
