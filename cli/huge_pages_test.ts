import assert from "node:assert/strict";
import { HUGE_PAGES_TUNABLE, hugePagesEnv } from "./huge_pages.ts";

Deno.test("hugePagesEnv adds the tunable, keeps the others, and leaves a chosen hugetlb alone", () => {
  assert.deepEqual(hugePagesEnv(undefined), { GLIBC_TUNABLES: HUGE_PAGES_TUNABLE });
  assert.deepEqual(hugePagesEnv(""), { GLIBC_TUNABLES: HUGE_PAGES_TUNABLE });
  assert.deepEqual(hugePagesEnv("glibc.malloc.mxfast=0"), {
    GLIBC_TUNABLES: `glibc.malloc.mxfast=0:${HUGE_PAGES_TUNABLE}`,
  });
  assert.deepEqual(hugePagesEnv("glibc.malloc.hugetlb=0"), {});
  assert.deepEqual(hugePagesEnv("glibc.malloc.mxfast=0:glibc.malloc.hugetlb=2"), {});
});
