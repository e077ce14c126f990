/**
 * An optional bearer token for the client API: with one configured, the
 * application's routes (reads, writes, subscriptions) answer 401 unless the
 * request carries `Authorization: Bearer <token>`. Probes and operator routes
 * stay open (`/health`, `/ready`, `/status`, `/metrics`); peer, membership
 * and backup routes have the cluster secret instead.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";

const OPEN_PATHS = new Set(["/health", "/ready", "/status", "/metrics"]);

/**
 * Whether `path` is served without the client token.
 *
 * @example
 * ```ts
 * import { openWithoutToken } from "./client_token.ts";
 * console.assert(openWithoutToken("/health") && openWithoutToken("/raft/ws"));
 * console.assert(!openWithoutToken("/streams/a"));
 * ```
 */
export function openWithoutToken(path: string): boolean {
  return OPEN_PATHS.has(path) || path.startsWith("/raft/") || path === "/members" ||
    path.startsWith("/members/") || path === "/backup";
}

/**
 * Whether an `Authorization` header value is `Bearer <token>`, compared in
 * time that does not depend on where they differ.
 *
 * @example
 * ```ts
 * import { bearerMatches } from "./client_token.ts";
 * console.assert(bearerMatches("Bearer s3cret", "s3cret"));
 * console.assert(!bearerMatches("Bearer s3creT", "s3cret") && !bearerMatches(null, "s3cret"));
 * ```
 */
export function bearerMatches(header: string | null | undefined, token: string): boolean {
  if (header === null || header === undefined) return false;
  const want = `Bearer ${token}`;
  let diff = header.length ^ want.length;
  for (let i = 0; i < want.length; i++) {
    diff |= (header.charCodeAt(i) | 0) ^ want.charCodeAt(i);
  }
  return diff === 0;
}

/**
 * Checks a client token: non-empty, and usable in a header.
 *
 * @example
 * ```ts
 * import { checkClientToken } from "./client_token.ts";
 * checkClientToken("s3cret");
 * let refused = false;
 * try { checkClientToken("two words"); } catch { refused = true; }
 * console.assert(refused);
 * ```
 */
export function checkClientToken(token: string): void {
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new TypeError("The client token must be printable ASCII without spaces, and not empty");
  }
}

/**
 * The middleware: 401 `unauthorized` (with `WWW-Authenticate`) for a request
 * to a client route without the token. Preflights are answered before it (by
 * the CORS middleware), since browsers send them without credentials.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { clientTokenMiddleware } from "./client_token.ts";
 * const app = new Hono().use("*", clientTokenMiddleware("t")).get("/all", (c) => c.json({}));
 * console.assert((await app.request("/all")).status === 401);
 * console.assert((await app.request("/all", { headers: { authorization: "Bearer t" } })).status === 200);
 * ```
 */
export function clientTokenMiddleware(token: string): MiddlewareHandler {
  checkClientToken(token);
  return async (c, next) => {
    if (openWithoutToken(c.req.path) || bearerMatches(c.req.header("authorization"), token)) {
      return await next();
    }
    return c.json(
      {
        error: "unauthorized",
        message: "This node's client API needs Authorization: Bearer <token> (the right one)",
      },
      401,
      { "www-authenticate": 'Bearer realm="raftlog"' },
    );
  };
}
