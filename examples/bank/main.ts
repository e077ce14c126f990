/**
 * Serves the bank's HTTP API against a raftlog cluster.
 *
 * ```sh
 * deno task cluster                                   # the cluster, in another terminal
 * deno run -A examples/bank/main.ts [--port 8080] \
 *   [--cluster http://127.0.0.1:7001,http://127.0.0.1:7002,http://127.0.0.1:7003]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Bank } from "./bank.ts";
import { bankRoutes } from "./http.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "8080" },
    hostname: { type: "string", default: "127.0.0.1" },
    cluster: {
      type: "string",
      default: "http://127.0.0.1:7001,http://127.0.0.1:7002,http://127.0.0.1:7003",
    },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`bank: --port must be a port number, got "${values.port}"`);
  Deno.exit(2);
}
const urls = values.cluster.split(",").map((u) => u.trim()).filter((u) => u !== "");
const bank = Bank.connect({ urls, retries: 10 });
const app = bankRoutes(bank);
Deno.serve({
  hostname: values.hostname,
  port,
  onListen: ({ hostname, port }) =>
    console.log(`bank on http://${hostname}:${port} (event store: ${urls.join(", ")})`),
}, app.fetch);
