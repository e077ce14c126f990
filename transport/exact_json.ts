/**
 * JSON request bodies whose numbers are kept exactly: a number JavaScript
 * cannot hold (an integer beyond ±(2^53 - 1), a number beyond the double
 * range) is refused instead of stored as another value.
 *
 * @module
 */

import { BadRequest } from "./append_body.ts";

/**
 * Parses a JSON body; {@link BadRequest} `invalid_json` if it is not JSON,
 * or if it holds an integer beyond ±(2^53 - 1) or a number beyond the double
 * range (stored, they would read back as another number, or null, without a
 * word).
 *
 * @example
 * ```ts
 * import { parseJson } from "./exact_json.ts";
 * console.assert((parseJson('{"a":[1,2.5,1e20]}') as { a: number[] }).a[2] === 1e20);
 * let refused = false;
 * try {
 *   parseJson('{"a":12345678901234567891}');
 * } catch {
 *   refused = true;
 * }
 * console.assert(refused);
 * ```
 */
export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new BadRequest("invalid_json", `Body is not valid JSON: ${(e as Error).message}`);
  }
  if (hasSuspectNumber(value)) checkExactNumbers(text);
  return value;
}

/**
 * Whether a number the text said may have been changed by parsing: an
 * integer value beyond ±(2^53 - 1), or an infinity. Every number that
 * {@link checkExactNumbers} refuses parses to one of those; the check then
 * looks at the number's text (`1e20` is kept exactly, `100000000000000000001`
 * is not). Walks the parsed value (far cheaper than scanning the text), with
 * a stack of its own, so deep nesting cannot overflow the call stack.
 */
function hasSuspectNumber(root: unknown): boolean {
  if (typeof root !== "object" || root === null) return suspect(root);
  const stack: object[] = [root];
  for (let o = stack.pop(); o !== undefined; o = stack.pop()) {
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) {
        const v: unknown = o[i];
        if (typeof v === "object" && v !== null) stack.push(v);
        else if (suspect(v)) return true;
      }
    } else {
      for (const k in o) {
        const v: unknown = (o as Record<string, unknown>)[k];
        if (typeof v === "object" && v !== null) stack.push(v);
        else if (suspect(v)) return true;
      }
    }
  }
  return false;
}

function suspect(v: unknown): boolean {
  return typeof v === "number" && !Number.isSafeInteger(v) &&
    (Number.isInteger(v) || !Number.isFinite(v));
}

/**
 * Refuses integers beyond 2^53 and numbers beyond the double range, naming
 * the first one by its text.
 */
function checkExactNumbers(text: string): void {
  const reviver = (key: string, value: unknown, ctx?: { source?: string }) => {
    const src = ctx?.source;
    if (typeof value !== "number" || src === undefined) return value;
    if (!Number.isFinite(value) || (/^-?\d+$/.test(src) && !Number.isSafeInteger(value))) {
      throw new BadRequest(
        "invalid_json",
        `The number ${src}${key === "" ? "" : ` (at "${key}")`} cannot be kept exactly ` +
          `(integers within ±(2^53 - 1), doubles): send it as a string`,
      );
    }
    return value;
  };
  try {
    JSON.parse(text, reviver as (key: string, value: unknown) => unknown);
  } catch (e) {
    // The reviver walk recurses: nesting thousands deep overflows the stack.
    if (e instanceof RangeError) {
      throw new BadRequest("invalid_json", "Body is nested too deeply to check its numbers");
    }
    throw e;
  }
}
