/**
 * Expected revisions: parsing (the `Expected-Revision` header), the numeric
 * code stored in commands, and the check against a stream's state.
 *
 * @module
 */

import type { CurrentRevision, ExpectedRevision } from "./types.ts";

const ANY = -1;
const NO_STREAM = -2;
const STREAM_EXISTS = -3;

/**
 * Parses `any`, `no_stream`, `stream_exists` or a revision number.
 * Throws `TypeError` for anything else.
 *
 * @example
 * ```ts
 * import { parseExpectedRevision } from "./expected_revision.ts";
 * console.assert(parseExpectedRevision("4") === 4);
 * console.assert(parseExpectedRevision(" no_stream ") === "no_stream");
 * ```
 */
export function parseExpectedRevision(text: string): ExpectedRevision {
  const t = text.trim();
  if (t === "any" || t === "no_stream" || t === "stream_exists") return t;
  if (/^\d{1,16}$/.test(t)) {
    const n = Number(t);
    if (Number.isSafeInteger(n)) return n;
  }
  throw new TypeError(
    `Expected revision must be any, no_stream, stream_exists or a revision number, got ${
      JSON.stringify(text)
    }`,
  );
}

/**
 * Throws `TypeError` unless `e` is a valid {@link ExpectedRevision}.
 *
 * @example
 * ```ts
 * import { validateExpectedRevision } from "./expected_revision.ts";
 * validateExpectedRevision(3);
 * let bad = false;
 * try { validateExpectedRevision(-1); } catch { bad = true; }
 * console.assert(bad);
 * ```
 */
export function validateExpectedRevision(e: unknown): asserts e is ExpectedRevision {
  if (e === "any" || e === "no_stream" || e === "stream_exists") return;
  if (typeof e === "number" && Number.isSafeInteger(e) && e >= 0) return;
  throw new TypeError(
    `Expected revision must be any, no_stream, stream_exists or a revision number, got ${
      JSON.stringify(e)
    }`,
  );
}

/**
 * The number stored in a command for an expected revision.
 *
 * @example
 * ```ts
 * import { decodeExpectedRevision, encodeExpectedRevision } from "./expected_revision.ts";
 * console.assert(decodeExpectedRevision(encodeExpectedRevision("stream_exists")) === "stream_exists");
 * ```
 */
export function encodeExpectedRevision(e: ExpectedRevision): number {
  switch (e) {
    case "any":
      return ANY;
    case "no_stream":
      return NO_STREAM;
    case "stream_exists":
      return STREAM_EXISTS;
    default:
      return e;
  }
}

/**
 * Inverse of {@link encodeExpectedRevision}. Throws `RangeError` on an unknown code.
 *
 * @example
 * ```ts
 * import { decodeExpectedRevision } from "./expected_revision.ts";
 * console.assert(decodeExpectedRevision(7) === 7 && decodeExpectedRevision(-1) === "any");
 * ```
 */
export function decodeExpectedRevision(n: number): ExpectedRevision {
  if (n === ANY) return "any";
  if (n === NO_STREAM) return "no_stream";
  if (n === STREAM_EXISTS) return "stream_exists";
  if (Number.isSafeInteger(n) && n >= 0) return n;
  throw new RangeError(`Unknown expected revision code ${n}`);
}

/**
 * True when a stream whose current revision is `current` satisfies `expected`.
 *
 * @example
 * ```ts
 * import { matchesExpectedRevision } from "./expected_revision.ts";
 * console.assert(matchesExpectedRevision("no_stream", "no_stream"));
 * console.assert(!matchesExpectedRevision(4, 6));
 * console.assert(matchesExpectedRevision("stream_exists", 0));
 * ```
 */
export function matchesExpectedRevision(
  expected: ExpectedRevision,
  current: CurrentRevision,
): boolean {
  switch (expected) {
    case "any":
      return true;
    case "no_stream":
      return current === "no_stream";
    case "stream_exists":
      return current !== "no_stream";
    default:
      return current === expected;
  }
}

/**
 * Formats an expected revision for the `Expected-Revision` header.
 *
 * @example
 * ```ts
 * import { formatExpectedRevision } from "./expected_revision.ts";
 * console.assert(formatExpectedRevision(12) === "12");
 * ```
 */
export function formatExpectedRevision(e: ExpectedRevision): string {
  return String(e);
}
