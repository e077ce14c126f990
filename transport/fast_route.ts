/**
 * Fast routes: handlers for hot requests (single appends) that answer
 * without going through the Hono app's router and middleware, which costs a
 * noticeable share of a busy leader's CPU.
 *
 * @module
 */

/**
 * Answers a request exactly as the node's app would, or returns undefined
 * to leave it to the app. `path` is the request's path (no query string:
 * requests with one always go to the app). The server only offers requests
 * whose `content-length` is within the app's client body limit.
 *
 * @example
 * ```ts
 * import type { FastRoute } from "./fast_route.ts";
 * const health: FastRoute = (req, path) =>
 *   req.method === "GET" && path === "/ping" ? Promise.resolve(new Response("pong")) : undefined;
 * ```
 */
export type FastRoute = (req: Request, path: string) => Promise<Response> | undefined;

/**
 * The path of `url` when it has no query string or fragment; undefined otherwise.
 *
 * @example
 * ```ts
 * import { plainPath } from "./fast_route.ts";
 * console.assert(plainPath("http://h:1/streams/a") === "/streams/a");
 * console.assert(plainPath("http://h:1/streams/a?redirect=true") === undefined);
 * ```
 */
export function plainPath(url: string): string | undefined {
  const scheme = url.indexOf("://");
  const start = url.indexOf("/", scheme < 0 ? 0 : scheme + 3);
  if (start < 0) return undefined;
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x3f || c === 0x23) return undefined; // ? #
  }
  return url.slice(start);
}

/**
 * The request's declared body length when it is a plain decimal
 * `content-length`; undefined otherwise (chunked bodies, bad headers).
 *
 * @example
 * ```ts
 * import { declaredLength } from "./fast_route.ts";
 * console.assert(declaredLength(new Request("http://h/", { method: "POST", headers: { "content-length": "3" } })) === 3);
 * ```
 */
export function declaredLength(req: Request): number | undefined {
  const v = req.headers.get("content-length");
  if (v === null || v.length === 0 || v.length > 15) return undefined;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  return Number(v);
}

/**
 * A JSON response.
 *
 * @example
 * ```ts
 * import { jsonResponse } from "./fast_route.ts";
 * console.assert(jsonResponse({ a: 1 }, 201).status === 201);
 * ```
 */
export function jsonResponse(
  body: unknown,
  status: number,
  headers?: Record<string, string>,
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: headers === undefined
      ? { "content-type": "application/json" }
      : { "content-type": "application/json", ...headers },
  });
}
