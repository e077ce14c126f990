/**
 * Cross-origin access for browser pages on other origins (CORS), off unless
 * origins are configured: preflights are answered, and answers carry
 * `Access-Control-Allow-Origin` for an allowed `Origin`. Peer routes
 * (`/raft/`) never take part.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

/** Request headers a page may send: those the client API reads, and the client token. */
const ALLOWED_HEADERS = ["authorization", "content-type", "expected-revision", "last-event-id"];
/** Answer headers a page may read: where a new event is, when to retry. */
const EXPOSED_HEADERS = ["location", "retry-after"];

/**
 * Checks an origin list: `*` alone, or origins such as `https://app.example`
 * (scheme, host and port, no path). Throws a `TypeError` naming the bad one.
 *
 * @example
 * ```ts
 * import { checkCorsOrigins } from "./cors.ts";
 * checkCorsOrigins(["https://app.example", "http://localhost:5173"]);
 * let refused = false;
 * try { checkCorsOrigins(["https://app.example/page"]); } catch { refused = true; }
 * console.assert(refused);
 * ```
 */
export function checkCorsOrigins(origins: readonly string[]): void {
  if (origins.includes("*") && origins.length > 1) {
    throw new TypeError(
      `CORS origin "*" allows every origin and goes alone, got ${origins.join(",")}`,
    );
  }
  for (const o of origins) {
    if (o === "*") continue;
    let url: URL | undefined;
    try {
      url = new URL(o);
    } catch {
      url = undefined;
    }
    if (url === undefined || !/^https?:$/.test(url.protocol) || url.origin !== o) {
      throw new TypeError(
        `CORS origin ${
          JSON.stringify(o)
        } is not an origin (scheme://host[:port], no path or slash)`,
      );
    }
  }
}

/**
 * A comma-separated origin list (as `--cors-origins` takes it), checked
 * (see {@link checkCorsOrigins}).
 *
 * @example
 * ```ts
 * import { parseCorsOrigins } from "./cors.ts";
 * console.assert(parseCorsOrigins("https://a.example, http://localhost:5173").length === 2);
 * ```
 */
export function parseCorsOrigins(list: string): string[] {
  const origins = list.split(",").map((o) => o.trim()).filter((o) => o !== "");
  checkCorsOrigins(origins);
  return origins;
}

/**
 * The CORS middleware for `origins` (see {@link checkCorsOrigins}), which
 * leaves peer routes alone.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { corsMiddleware } from "./cors.ts";
 * const app = new Hono().use("*", corsMiddleware(["https://app.example"])).get("/all", (c) => c.json({}));
 * const res = await app.request("/all", { headers: { origin: "https://app.example" } });
 * console.assert(res.headers.get("access-control-allow-origin") === "https://app.example");
 * ```
 */
export function corsMiddleware(origins: readonly string[]): MiddlewareHandler {
  checkCorsOrigins(origins);
  const handler = cors({
    origin: origins.includes("*") ? "*" : [...origins],
    allowMethods: ["GET", "HEAD", "POST", "PUT", "DELETE"],
    allowHeaders: ALLOWED_HEADERS,
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  });
  return async (c, next) => {
    if (c.req.path.startsWith("/raft/")) return await next();
    return await handler(c, next);
  };
}
