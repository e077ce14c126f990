import assert from "node:assert/strict";
import { main } from "./cli.ts";

async function run(args: string[], files: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(args, {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    readTextFile: (path) => {
      const text = files[path];
      return text === undefined
        ? Promise.reject(new Deno.errors.NotFound(`No such file: ${path}`))
        : Promise.resolve(text);
    },
  });
  return { status, out, err };
}

const GOOD = [
  '{"process": 0, "type": "invoke", "f": "write", "value": 1}',
  '{"process": 0, "type": "ok", "f": "write", "value": 1}',
  '{"process": 1, "type": "invoke", "f": "read", "value": null}',
  '{"process": 1, "type": "ok", "f": "read", "value": 1}',
].join("\n");
const STALE = GOOD.replace('"ok", "f": "read", "value": 1', '"ok", "f": "read", "value": null');

Deno.test("main() prints a verdict per file and a summary, exiting 0 when all are linearizable", async () => {
  const { status, out } = await run(["--model", "register", "a.jsonl", "b.jsonl"], {
    "a.jsonl": GOOD,
    "b.jsonl": GOOD,
  });
  assert.equal(status, 0);
  assert.deepEqual(out, [
    "a.jsonl: linearizable (2 operations)",
    "b.jsonl: linearizable (2 operations)",
    "lincheck: 2 histories, 2 linearizable, 0 not linearizable",
  ]);
});

Deno.test("main() exits 1 and shows the unplaced operation when a history is not linearizable", async () => {
  const { status, out } = await run(["--model", "register", "--format", "json", "a", "b"], {
    a: GOOD,
    b: STALE,
  });
  assert.equal(status, 1);
  assert.match(out[1]!, /^b: not linearizable \(longest linearizable prefix: 1 of 2 operations/);
  assert.ok(out.some((l) => l.startsWith('  could not place: process 1 {"f":"read"} -> null')));
  assert.equal(out.at(-1), "lincheck: 2 histories, 1 linearizable, 1 not linearizable");
});

Deno.test("main() exits 2 on unknown model or format, mismatched format, or no files", async () => {
  for (
    const [args, message] of [
      [["--model", "queue", "x"], /unknown model "queue"/],
      [["--model", "register", "--format", "csv", "x"], /unknown format "csv"/],
      [
        ["--model", "kv", "--format", "jepsen", "x"],
        /format jepsen holds register histories, not kv/,
      ],
      [["--format", "json", "x"], /--model is required/],
      [["--model", "kv"], /no history files given/],
      [["--model", "kv", "--bogus", "x"], /bogus/],
      [["--model", "kv", "--max-steps=-3", "x"], /--max-steps must be a positive integer/],
      [["--model", "kv", "--timeout", "soon", "x"], /--timeout must be a positive number/],
    ] as const
  ) {
    const { status, err } = await run([...args]);
    assert.equal(status, 2, args.join(" "));
    assert.match(err[0]!, message);
  }
});

Deno.test("main() exits 2 naming file and line of a malformed history, after checking the others", async () => {
  const { status, out, err } = await run(["--model", "register", "good", "bad", "missing"], {
    good: GOOD,
    bad: GOOD + "\n{not json}",
  });
  assert.equal(status, 2);
  assert.match(err[0]!, /^lincheck: error: bad:5: invalid JSON/);
  assert.match(err[1]!, /^lincheck: error: cannot read missing/);
  assert.equal(
    out.at(-1),
    "lincheck: 1 histories, 1 linearizable, 0 not linearizable, 2 unreadable",
  );
});

Deno.test("main() reports unknown and exits 3 when --max-steps runs out", async () => {
  const lines: string[] = [];
  for (let i = 0; i < 12; i++) {
    lines.push(`{"process": ${i}, "type": "invoke", "f": "write", "value": ${i}}`);
  }
  for (let i = 0; i < 12; i++) {
    lines.push(`{"process": ${i}, "type": "ok", "f": "write", "value": ${i}}`);
  }
  lines.push(
    '{"process": 99, "type": "invoke", "f": "read"}',
    '{"process": 99, "type": "ok", "f": "read", "value": 77}',
  );
  const { status, out } = await run(["--model", "register", "--max-steps", "10", "h"], {
    h: lines.join("\n"),
  });
  assert.equal(status, 3);
  assert.match(out[0]!, /^h: unknown \(stopped after 10 steps/);
  assert.equal(out.at(-1), "lincheck: 1 histories, 0 linearizable, 0 not linearizable, 1 unknown");
});

Deno.test("main() checks kv and stream histories by key", async () => {
  const kv = [
    '{:process 0, :type :invoke, :f :append, :key "a", :value "x"}',
    '{:process 0, :type :ok, :f :append, :key "a", :value "x"}',
    '{:process 0, :type :invoke, :f :get, :key "a", :value nil}',
    '{:process 0, :type :ok, :f :get, :key "a", :value "y"}',
  ].join("\n");
  const kvRun = await run(["--model", "kv", "--format", "kv", "k.txt"], { "k.txt": kv });
  assert.equal(kvRun.status, 1);
  assert.match(kvRun.out[0]!, /^k\.txt: not linearizable in key "a"/);

  const stream = [
    {
      process: 0,
      type: "invoke",
      f: "append",
      key: "s",
      value: { events: ["e1"], expected: "no_stream" },
    },
    { process: 0, type: "ok", f: "append", key: "s", value: { revisions: [0] } },
    { process: 1, type: "invoke", f: "read", key: "s", value: null },
    { process: 1, type: "ok", f: "read", key: "s", value: ["e1"] },
  ].map((e) => JSON.stringify(e)).join("\n");
  const streamRun = await run(["--model", "stream", "s.jsonl"], { "s.jsonl": stream });
  assert.equal(streamRun.status, 0);
});

Deno.test("cli.ts runs as a program and sets its exit code", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = `${dir}/good.jsonl`;
    const stale = `${dir}/stale.jsonl`;
    await Deno.writeTextFile(good, GOOD);
    await Deno.writeTextFile(stale, STALE);
    const cli = new URL("./cli.ts", import.meta.url).pathname;
    const exec = (files: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", cli, "--model", "register", "--format", "json", ...files],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const ok = await exec([good]);
    assert.equal(ok.code, 0);
    assert.match(
      new TextDecoder().decode(ok.stdout),
      /lincheck: 1 histories, 1 linearizable, 0 not linearizable\n$/,
    );
    const bad = await exec([good, stale]);
    assert.equal(bad.code, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
