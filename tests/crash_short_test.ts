import assert from "node:assert/strict";
import { runCrashTest } from "./crash_test.ts";

Deno.test("crash test: SIGKILL during synced writes loses no acknowledged entry (5 runs)", async () => {
  const r = await runCrashTest({ iterations: 5 });
  assert.deepEqual(r.errors, [], `seed ${r.seed}`);
  assert.ok(r.acknowledged > 0, "the writer acknowledged entries");
  assert.equal(r.lost, 0, `seed ${r.seed}: acknowledged entries lost`);
});
