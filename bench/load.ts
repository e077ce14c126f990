/**
 * A closed-loop HTTP load generator, run as its own process by
 * `bench/cluster.ts`: `--connections` loops, each sending one request at a
 * time over keep-alive, for `--seconds`. Prints one JSON line:
 * `{requests, errors, seconds, rps, p50Ms, p99Ms}`.
 *
 * Run: `deno run --allow-net bench/load.ts --url URL [--method POST] [--bodies FILE]
 * [--connections 32] [--seconds 10]`. `--bodies` is a JSON array of request
 * bodies, sent in turn.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    url: { type: "string" },
    method: { type: "string", default: "POST" },
    bodies: { type: "string" },
    connections: { type: "string", default: "32" },
    seconds: { type: "string", default: "10" },
  },
});
if (values.url === undefined) {
  console.error("load: --url is required");
  Deno.exit(2);
}
const url = values.url;
const method = values.method;
const bodies: string[] = values.bodies === undefined
  ? [""]
  : JSON.parse(Deno.readTextFileSync(values.bodies));
const connections = Number(values.connections);
const seconds = Number(values.seconds);

// Latencies in microseconds, one slot per request (grown as needed).
let lat = new Float64Array(1 << 20);
let n = 0;
let errors = 0;
let next = 0;
const headers = { "content-type": "application/json" };
const start = performance.now();
const end = start + seconds * 1000;

async function loop(): Promise<void> {
  while (performance.now() < end) {
    const body = method === "GET" ? null : bodies[next++ % bodies.length]!;
    const t0 = performance.now();
    try {
      const res = await fetch(url, { method, headers, body });
      await res.arrayBuffer();
      if (res.status >= 300) {
        errors++;
        continue;
      }
    } catch {
      errors++;
      continue;
    }
    if (n === lat.length) {
      const grown = new Float64Array(lat.length * 2);
      grown.set(lat);
      lat = grown;
    }
    lat[n++] = (performance.now() - t0) * 1000;
  }
}

await Promise.all(Array.from({ length: connections }, loop));
const elapsed = (performance.now() - start) / 1000;
const sorted = lat.subarray(0, n).sort();
const pct = (p: number) => n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(n * p))]! / 1000;
console.log(JSON.stringify({
  requests: n,
  errors,
  seconds: elapsed,
  rps: n / elapsed,
  p50Ms: pct(0.5),
  p99Ms: pct(0.99),
}));
