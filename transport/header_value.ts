/**
 * Values that travel in HTTP headers between members (the cluster secret,
 * the cluster id, node ids): printable ASCII, so that every hop (fetch, the
 * WebSocket handshake, proxies) carries them unchanged.
 *
 * @module
 */

const PRINTABLE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/**
 * Throws a RangeError naming `what` unless `value` is printable ASCII
 * without leading or trailing spaces (spaces inside are fine).
 *
 * @example
 * ```ts
 * import { checkHeaderValue } from "./header_value.ts";
 * checkHeaderValue("cluster secret", "s3cret");
 * let err = "";
 * try { checkHeaderValue("cluster secret", "pässwort"); } catch (e) { err = String(e); }
 * console.assert(err.includes("printable ASCII"));
 * ```
 */
export function checkHeaderValue(what: string, value: string): void {
  if (!PRINTABLE.test(value)) {
    throw new RangeError(
      `The ${what} must be printable ASCII without leading or trailing spaces, got ${
        JSON.stringify(value)
      }`,
    );
  }
}
