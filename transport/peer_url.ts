/**
 * Peer addresses in one form: members compare, store and connect to the
 * URL as `normalizePeerUrl` writes it.
 *
 * @module
 */

/**
 * `url` with its scheme and host in lower case and no trailing slash; throws
 * a RangeError unless it is an http:// or https:// URL.
 *
 * @example
 * ```ts
 * import { normalizePeerUrl } from "./peer_url.ts";
 * console.assert(normalizePeerUrl("HTTP://Node-1:7001/") === "http://node-1:7001");
 * ```
 */
export function normalizePeerUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RangeError(`Peer URL "${url}" is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new RangeError(`Peer URL "${url}" must be an http:// or https:// URL`);
  }
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
}
