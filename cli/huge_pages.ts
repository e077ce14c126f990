/**
 * Transparent huge pages for the nodes raftlog's scripts start.
 *
 * A node's index grows by tens of megabytes a second under heavy appends,
 * and on a virtual machine every first touch of a 4 KiB page is costly.
 * glibc's `glibc.malloc.hugetlb=1` tunable has malloc ask the kernel for
 * transparent huge pages (2 MiB) for its large blocks, which is where typed
 * arrays live: far fewer faults and TLB misses. It takes effect only from
 * the process's start, through the `GLIBC_TUNABLES` environment variable,
 * so it is set on the processes `deno task cluster` and the benchmarks
 * spawn, and recommended for `raftlog serve` in production (README). Other
 * C libraries and systems without transparent huge pages ignore it.
 *
 * @module
 */

/** The tunable added to `GLIBC_TUNABLES`. */
export const HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1";

/**
 * The environment to add to a node process's: `GLIBC_TUNABLES` with
 * {@link HUGE_PAGES_TUNABLE} added to `current` (the variable's value now),
 * or nothing when `current` already chooses `glibc.malloc.hugetlb` (set it
 * to 0 to opt out).
 *
 * @example
 * ```ts
 * import { hugePagesEnv } from "./huge_pages.ts";
 * console.assert(hugePagesEnv(undefined).GLIBC_TUNABLES === "glibc.malloc.hugetlb=1");
 * console.assert(hugePagesEnv("glibc.malloc.hugetlb=0").GLIBC_TUNABLES === undefined);
 * ```
 */
export function hugePagesEnv(current: string | undefined): Record<string, string> {
  if (current === undefined || current === "") return { GLIBC_TUNABLES: HUGE_PAGES_TUNABLE };
  if (current.split(":").some((t) => t.startsWith("glibc.malloc.hugetlb="))) return {};
  return { GLIBC_TUNABLES: `${current}:${HUGE_PAGES_TUNABLE}` };
}
