/**
 * Checks the checker against histories recorded from real systems with known
 * verdicts (Jepsen's etcd register histories and Porcupine's kv histories). The
 * data lives in the shared test-data folder beside the repository and is never
 * copied into it; without that folder these tests are skipped.
 */
import assert from "node:assert/strict";
import { checkHistory } from "./check.ts";
import { kvModel } from "./model_kv.ts";
import { registerModel } from "./model_register.ts";
import { parseJepsenLog } from "./parse_jepsen.ts";
import { parseKvLog } from "./parse_kv.ts";

const root = new URL("../../../../shared/testdata/", import.meta.url);
let why = "";
try {
  if (!Deno.statSync(root).isDirectory) why = `${root.pathname} is not a directory`;
} catch (err) {
  why = err instanceof Deno.errors.NotFound
    ? `${root.pathname} does not exist (the repository is expected to sit beside shared/)`
    : `${root.pathname} cannot be read: ${(err as Error).message}`;
}
const exists = why === "";
if (!exists) console.log(`ground_truth_test.ts: skipping the ground-truth tests: ${why}`);

Deno.test({
  name: "checkHistory() with registerModel reproduces every jepsen-etcd verdict",
  ignore: !exists,
  fn() {
    const dir = new URL("jepsen-etcd/", root);
    const verdicts = Deno.readTextFileSync(new URL("verdicts.txt", dir)).trim().split("\n")
      .map((line) => line.trim().split(/\s+/) as [string, string]);
    assert.ok(verdicts.length >= 101, `expected at least 101 verdicts, found ${verdicts.length}`);
    const mismatches: string[] = [];
    for (const [file, expected] of verdicts) {
      const history = parseJepsenLog(Deno.readTextFileSync(new URL(file, dir)), { source: file });
      const result = checkHistory(registerModel, history);
      if (result.verdict !== expected) {
        mismatches.push(`${file}: got ${result.verdict}, want ${expected}`);
      }
    }
    assert.deepEqual(mismatches, []);
  },
});

Deno.test({
  name: "checkHistory() with kvModel reproduces every kv-append verdict",
  ignore: !exists,
  fn() {
    const dir = new URL("kv-append/", root);
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".txt"))
      .sort();
    assert.equal(files.length, 6);
    for (const file of files) {
      const history = parseKvLog(Deno.readTextFileSync(new URL(file, dir)), { source: file });
      const result = checkHistory(kvModel, history);
      const expected = file.endsWith("-ok.txt") ? "linearizable" : "not-linearizable";
      assert.equal(result.verdict, expected, file);
      if (!result.ok) {
        // A violation comes with the operations that could not be placed.
        assert.ok((result.unplaced?.length ?? 0) > 0, file);
      }
    }
  },
});
