/**
 * Stream names: what is allowed and what is reserved.
 *
 * A name is 1 to 200 bytes of UTF-8 made of letters, digits and `_ - . : @ + = ~`,
 * and combining marks after its first character (the vowel signs of Hindi or
 * Thai, the accents of a decomposed "é"), so it fits in a URL path segment
 * unescaped, apart from non-ASCII letters. `.` and `..` are not names (URLs
 * resolve them as path steps). Names starting with `$` are reserved for the
 * store (`$all`). Names are compared as given: no Unicode normalization.
 *
 * @module
 */

import { utf8Length } from "./_bytes.ts";
import { InvalidStreamNameError } from "./errors.ts";

/**
 * Longest stream name, in UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { MAX_STREAM_NAME_BYTES } from "./stream_name.ts";
 * console.assert("orders-1".length <= MAX_STREAM_NAME_BYTES);
 * ```
 */
export const MAX_STREAM_NAME_BYTES = 200;

/**
 * The name that means "every stream" in subscriptions.
 *
 * @example
 * ```ts
 * import { ALL_STREAMS } from "./stream_name.ts";
 * console.assert(ALL_STREAMS === "$all");
 * ```
 */
export const ALL_STREAMS = "$all";

const ALLOWED = /^[\p{L}\p{N}_.:@+=~-][\p{L}\p{M}\p{N}_.:@+=~-]*$/u;

/**
 * Throws {@link InvalidStreamNameError} unless `name` is a valid, unreserved stream name.
 *
 * @example
 * ```ts
 * import { validateStreamName } from "./stream_name.ts";
 * validateStreamName("orders-1");
 * let reserved = false;
 * try { validateStreamName("$all"); } catch { reserved = true; }
 * console.assert(reserved);
 * ```
 */
export function validateStreamName(name: string): void {
  if (typeof name !== "string") throw new InvalidStreamNameError(String(name), "not a string");
  if (name.length === 0) throw new InvalidStreamNameError(name, "it is empty");
  if (name.startsWith("$")) {
    throw new InvalidStreamNameError(name, "names starting with $ are reserved");
  }
  // A UTF-16 unit is at most 3 UTF-8 bytes: short names need no byte count.
  if (
    name.length > MAX_STREAM_NAME_BYTES ||
    (name.length * 3 > MAX_STREAM_NAME_BYTES && utf8Length(name) > MAX_STREAM_NAME_BYTES)
  ) {
    throw new InvalidStreamNameError(name, `longer than ${MAX_STREAM_NAME_BYTES} bytes`);
  }
  if (!ALLOWED.test(name)) {
    throw new InvalidStreamNameError(
      name,
      "only letters, digits, combining marks (not first) and _ - . : @ + = ~ are allowed",
    );
  }
  if (name === "." || name === "..") {
    throw new InvalidStreamNameError(name, "URLs resolve . and .. as path steps");
  }
}

/**
 * True when `name` is a valid, unreserved stream name.
 *
 * @example
 * ```ts
 * import { isValidStreamName } from "./stream_name.ts";
 * console.assert(isValidStreamName("bank.account-42") && !isValidStreamName("a/b"));
 * ```
 */
export function isValidStreamName(name: string): boolean {
  try {
    validateStreamName(name);
    return true;
  } catch {
    return false;
  }
}
