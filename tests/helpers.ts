/**
 * Helpers for integration tests: free ports, waiting on conditions with deadlines.
 *
 * @module
 */

/** A free loopback port (the OS picks one; it is closed before use). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Polls `cond` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  what: string,
  cond: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ""}`,
  );
}

/** fetch + JSON body, always consuming the body. */
export async function fetchJson(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { redirect: "manual", ...init });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text === "" ? {} : JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}
