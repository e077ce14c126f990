/**
 * Request bodies as text, strictly: bytes that are not UTF-8 are refused
 * rather than replaced with U+FFFD, which would store something else than
 * what the client sent.
 *
 * @module
 */

const strict = new TextDecoder("utf-8", { fatal: true });

/**
 * The body decoded as UTF-8 (a leading byte-order mark dropped). Throws a
 * SyntaxError (answered as 400 `invalid_json`) for bytes that are not
 * UTF-8. Takes a `Request` or Hono's request (which keeps the body read).
 *
 * @example
 * ```ts
 * import { bodyText } from "./body_text.ts";
 * console.assert((await bodyText(new Request("http://h/", { method: "POST", body: "{}" }))) === "{}");
 * const bad = new Request("http://h/", { method: "POST", body: new Uint8Array([0x7b, 0xff, 0x7d]) });
 * let err = "";
 * try { await bodyText(bad); } catch (e) { err = String(e); }
 * console.assert(err.includes("not valid UTF-8"));
 * ```
 */
export async function bodyText(req: { arrayBuffer(): Promise<ArrayBuffer> }): Promise<string> {
  const bytes = await req.arrayBuffer();
  try {
    return strict.decode(bytes);
  } catch {
    throw new SyntaxError("the body is not valid UTF-8");
  }
}
