/**
 * A limit on request body size, as Hono middleware.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";

/** Options of {@link bodyLimit}. */
export interface BodyLimitOptions {
  /** Largest body in bytes. */
  readonly maxSize: number;
  /** The answer to a larger body. */
  readonly onError: (c: Context) => Response | Promise<Response>;
}

/**
 * Refuses request bodies over `maxSize` bytes. A declared `content-length`
 * is checked before anything is read. A body without one (chunked) is read
 * up to the limit, and the handler gets a request holding the bytes read.
 *
 * That request is made from the URL, method and headers of the one served,
 * not from the served request itself: a copy would follow the served
 * request's abort signal, and Deno.serve then warns, once per process, that
 * such signals also abort on successful responses.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { bodyLimit } from "./body_limit.ts";
 * const app = new Hono();
 * app.post("/", bodyLimit({ maxSize: 3, onError: (c) => c.text("too large", 413) }), (c) => c.text("ok"));
 * const res = await app.request("/", { method: "POST", body: "abcd" });
 * console.assert(res.status === 413);
 * ```
 */
export function bodyLimit(opts: BodyLimitOptions): MiddlewareHandler {
  const { maxSize, onError } = opts;
  return async function bodyLimit(c, next) {
    const raw = c.req.raw;
    if (raw.body === null) return await next();
    const declared = raw.headers.get("content-length");
    if (declared !== null && !raw.headers.has("transfer-encoding")) {
      return Number.parseInt(declared, 10) > maxSize ? await onError(c) : await next();
    }
    let size = 0;
    let buffer = new Uint8Array(0);
    const reader = raw.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const at = size;
      size += value.length;
      if (size > maxSize) {
        await reader.cancel().catch(() => {});
        return await onError(c);
      }
      if (size > buffer.length) {
        const grown = new Uint8Array(Math.min(maxSize, Math.max(size, buffer.length * 2)));
        grown.set(buffer.subarray(0, at));
        buffer = grown;
      }
      buffer.set(value, at);
    }
    c.req.raw = new Request(raw.url, {
      method: raw.method,
      headers: raw.headers,
      body: buffer.subarray(0, size),
    });
    return await next();
  };
}
