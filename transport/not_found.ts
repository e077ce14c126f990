/**
 * Answers for requests no route takes: 405 with `Allow` when the path has
 * routes for other methods, else 404.
 *
 * @module
 */

import type { Context } from "hono";

/** A route as Hono lists it (`app.routes`); middleware has method `ALL`. */
export interface RouteEntry {
  readonly method: string;
  readonly path: string;
}

/** Whether a route pattern (`/streams/:stream`, `*` segments) matches `path`. */
function matches(pattern: string, path: string): boolean {
  const p = pattern.split("/"), s = path.split("/");
  if (p.length !== s.length) return false;
  for (let i = 0; i < p.length; i++) {
    const seg = p[i]!;
    if (seg === "*") continue;
    if (seg.startsWith(":") ? s[i] === "" : seg !== s[i]) return false;
  }
  return true;
}

/**
 * The methods some route (not middleware) serves `path` with, sorted; HEAD
 * with GET.
 *
 * @example
 * ```ts
 * import { allowedMethods } from "./not_found.ts";
 * const routes = [{ method: "ALL", path: "/*" }, { method: "GET", path: "/streams/:stream" }];
 * console.assert(allowedMethods(routes, "/streams/a").join() === "GET,HEAD");
 * console.assert(allowedMethods(routes, "/other").length === 0);
 * ```
 */
export function allowedMethods(routes: readonly RouteEntry[], path: string): string[] {
  const out = new Set<string>();
  for (const r of routes) {
    if (r.method !== "ALL" && matches(r.path, path)) out.add(r.method);
  }
  if (out.has("GET")) out.add("HEAD");
  return [...out].sort();
}

/**
 * The answer to a request no route took: 405 `method_not_allowed` with
 * `Allow` when `routes` serve its path with other methods, else 404
 * `not_found` (also when a route for its method refused it as unknown).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { notFound } from "./not_found.ts";
 * const app = new Hono().get("/all", (c) => c.text("ok"));
 * app.notFound((c) => notFound(c, app.routes));
 * const res = await app.request("/all", { method: "PUT" });
 * console.assert(res.status === 405 && res.headers.get("allow") === "GET, HEAD");
 * ```
 */
export function notFound(c: Context, routes: readonly RouteEntry[]): Response {
  const method = c.req.method, path = c.req.path;
  const allowed = allowedMethods(routes, path);
  if (allowed.length > 0 && !allowed.includes(method)) {
    const allow = allowed.join(", ");
    return c.json(
      {
        error: "method_not_allowed",
        message: `${method} is not allowed on ${path}; allowed: ${allow}`,
      },
      405,
      { allow },
    );
  }
  return c.json({ error: "not_found", message: `No route for ${method} ${path}` }, 404);
}
