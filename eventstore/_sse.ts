/**
 * A Server-Sent Events parser over a byte stream (the body of a `fetch`),
 * following the WHATWG event-stream rules: lines end with CRLF, LF or CR;
 * `data` lines join with "\n"; a blank line dispatches; `:` starts a comment.
 *
 * @module
 */

/**
 * One dispatched SSE message. `id` is the last event id seen so far (it
 * persists across messages, as in `EventSource`).
 *
 * @example
 * ```ts
 * import type { SseMessage } from "./_sse.ts";
 * const m: SseMessage = { event: "message", data: "{}", id: "3" };
 * ```
 */
export interface SseMessage {
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
  readonly retry?: number;
}

/**
 * Parses SSE messages from a byte stream. `onActivity` is called for every
 * chunk (comments included), for idle detection. Aborting `signal` cancels
 * the stream and ends the iteration.
 *
 * @example
 * ```ts
 * import { parseSse } from "./_sse.ts";
 * const body = new Blob(["id: 1\ndata: a\ndata: b\n\n: hb\n\nevent: x\r\ndata: c\r\n\r\n"]).stream();
 * const got = [];
 * for await (const m of parseSse(body)) got.push(m);
 * console.assert(got.length === 2 && got[0]!.data === "a\nb" && got[1]!.event === "x" && got[1]!.id === "1");
 * ```
 */
export async function* parseSse(
  body: ReadableStream<Uint8Array>,
  options: { onActivity?: () => void; signal?: AbortSignal } = {},
): AsyncGenerator<SseMessage, void, undefined> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const { onActivity, signal } = options;
  const cancel = () => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  if (signal?.aborted) cancel();
  let buf = "";
  let event = "";
  let data: string[] = [];
  let id: string | undefined;
  let retry: number | undefined;
  let skipLf = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || signal?.aborted) return;
      onActivity?.();
      buf += value;
      let start = 0;
      for (let i = 0; i < buf.length; i++) {
        const ch = buf.charCodeAt(i);
        if (skipLf) {
          skipLf = false;
          if (ch === 10) {
            start = i + 1;
            continue;
          }
        }
        if (ch !== 10 && ch !== 13) continue;
        const line = buf.slice(start, i);
        start = i + 1;
        if (ch === 13) skipLf = true;
        if (line === "") {
          if (data.length > 0) {
            yield {
              event: event === "" ? "message" : event,
              data: data.join("\n"),
              id,
              ...(retry !== undefined ? { retry } : {}),
            };
          }
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? "" : line.slice(colon + 1);
        if (v.startsWith(" ")) v = v.slice(1);
        if (field === "data") data.push(v);
        else if (field === "event") event = v;
        else if (field === "id") {
          if (!v.includes("\0")) id = v;
        } else if (field === "retry" && /^\d+$/.test(v)) retry = Number(v);
      }
      buf = buf.slice(start);
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
    await reader.cancel().catch(() => {});
  }
}
