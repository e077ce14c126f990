/**
 * A small typed client for the membership routes (`/members`). It only
 * needs `fetch`. Each call tries the given nodes in turn, from the last one
 * that answered, until one can answer: a node that cannot be reached or
 * answers 503 (no leader, removed: nothing was done) passes the call to
 * the next one. Other answers that are not a success become a
 * {@link MemberRequestError}. Followers forward changes to the leader, so
 * any member will do.
 *
 * @module
 */

import type { Member, MembersBody } from "./member_routes.ts";
import { SECRET_HEADER } from "./peer_transport.ts";

/**
 * A membership request answered with an error status (`status`, and the
 * `error` code of the body as `code`), or not answered by any node
 * (`status` 0, `code` "unreachable").
 *
 * @example
 * ```ts
 * import { MemberRequestError } from "./member_client.ts";
 * const e = new MemberRequestError(409, "member_exists", "n4 is already a learner");
 * console.assert(e.transient === false && new MemberRequestError(503, "no_leader", "").transient);
 * ```
 */
export class MemberRequestError extends Error {
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The answer's error code. */
  readonly code: string;
  /** The whole error body, e.g. `member` for `member_exists`. */
  readonly body: Readonly<Record<string, unknown>>;
  /** An error for an answer with `status`, error `code`, `message` and the whole `body`. */
  constructor(
    status: number,
    code: string,
    message: string,
    body: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = "MemberRequestError";
    this.status = status;
    this.code = code;
    this.body = body;
  }

  /**
   * True when retrying may succeed: no node answered, no leader, a timeout,
   * a failed forward, another change in progress, or a learner still catching up.
   */
  get transient(): boolean {
    return this.status === 0 || this.status >= 500 || this.code === "change_in_progress" ||
      this.code === "not_caught_up";
  }
}

/**
 * Options of {@link MemberClient}.
 *
 * @example
 * ```ts
 * import type { MemberClientOptions } from "./member_client.ts";
 * const o: MemberClientOptions = { urls: ["http://127.0.0.1:7001"], secret: "s", timeoutMs: 5000 };
 * ```
 */
export interface MemberClientOptions {
  /** Base URL of one node, or of several (tried in turn when one cannot answer). */
  readonly urls: string | readonly string[];
  /** The cluster secret. */
  readonly secret: string;
  /**
   * Timeout of one HTTP request in ms. Default 20,000: longer than a node
   * takes to answer a change it forwarded (1.5 request timeouts, 15 s by
   * default), so that its answer, not this timeout, says what became of it.
   */
  readonly timeoutMs?: number;
  /** Default: the global `fetch`. */
  readonly fetch?: (input: string, init?: RequestInit) => Promise<Response>;
}

/**
 * Lists, adds, promotes and removes cluster members over HTTP.
 *
 * @example
 * ```ts
 * import { MemberClient, MemberRequestError } from "./member_client.ts";
 * const client = new MemberClient({
 *   urls: "http://127.0.0.1:7001",
 *   secret: "s",
 *   fetch: () => Promise.resolve(Response.json({ error: "no_leader", message: "No leader" }, { status: 503 })),
 * });
 * try {
 *   await client.add({ id: "n4", url: "http://127.0.0.1:7004", role: "learner" });
 * } catch (e) {
 *   console.assert(e instanceof MemberRequestError && e.code === "no_leader" && e.transient);
 * }
 * ```
 */
export class MemberClient {
  readonly #urls: readonly string[];
  readonly #secret: string;
  readonly #timeoutMs: number;
  readonly #fetch: (input: string, init?: RequestInit) => Promise<Response>;
  /** Where the next call starts: the node that last answered, or the one after a failed one. */
  #start = 0;

  /** A client of the nodes at `opts.urls`. Throws a `TypeError` when there is none. */
  constructor(opts: MemberClientOptions) {
    const urls = typeof opts.urls === "string" ? [opts.urls] : opts.urls;
    if (urls.length === 0) throw new TypeError("MemberClient needs at least one node URL");
    this.#urls = urls.map((u) => u.replace(/\/+$/, ""));
    this.#secret = opts.secret;
    this.#timeoutMs = opts.timeoutMs ?? 20_000;
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  /** The membership as the first reachable node has applied it. */
  list(): Promise<MembersBody> {
    return this.#request("GET", "/members");
  }

  /** Adds a member (a learner unless `role` is "voter"); resolves with the new membership. */
  add(member: { id: string; url: string; role?: Member["role"] }): Promise<MembersBody> {
    return this.#request("POST", "/members", member);
  }

  /** Makes a learner a voter; resolves with the new membership. */
  promote(id: string): Promise<MembersBody> {
    return this.#request("POST", `/members/${encodeURIComponent(id)}/promote`);
  }

  /** Hands leadership to voter `id`; resolves with the membership once `id` leads. */
  transferLeadership(id: string): Promise<MembersBody> {
    return this.#request("POST", `/members/${encodeURIComponent(id)}/transfer-leadership`);
  }

  /** Removes a member; resolves with the new membership. */
  remove(id: string): Promise<MembersBody> {
    return this.#request("DELETE", `/members/${encodeURIComponent(id)}`);
  }

  async #request(method: string, path: string, body?: unknown): Promise<MembersBody> {
    const failures: string[] = [];
    let unavailable: MemberRequestError | undefined;
    const n = this.#urls.length;
    for (let k = 0; k < n; k++) {
      const at = (this.#start + k) % n;
      const base = this.#urls[at]!;
      let res: Response;
      try {
        res = await this.#fetch(`${base}${path}`, {
          method,
          headers: { [SECRET_HEADER]: this.#secret, "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
      } catch (e) {
        const why = `${base}: ${e instanceof Error ? e.message : e}`;
        // A change that timed out went out, and may be done: not sent again here (the caller's
        // retry starts at the next node). One that found no node to connect to can go on.
        if (method !== "GET" && e instanceof DOMException && e.name === "TimeoutError") {
          this.#start = (at + 1) % n;
          throw new MemberRequestError(
            504,
            "timeout",
            `${method} ${base}${path}: no answer within ${this.#timeoutMs} ms; the change may have been made`,
          );
        }
        failures.push(why);
        continue;
      }
      const text = await res.text();
      let json: Record<string, unknown> = {};
      try {
        json = text === "" ? {} : JSON.parse(text);
      } catch {
        json = { message: text };
      }
      if (res.ok) {
        this.#start = at;
        return json as unknown as MembersBody;
      }
      const err = new MemberRequestError(
        res.status,
        typeof json.error === "string" ? json.error : `http_${res.status}`,
        `${method} ${base}${path}: ${res.status} ${
          typeof json.message === "string" ? json.message : text
        }`,
        json,
      );
      // A 503 says nothing was done: another node may do it. A change whose outcome is unknown
      // (502, 504) is not sent again here, but the caller's retry starts at the next node.
      // Except `stopped`, which a node of an earlier version also answered for a change it had
      // taken, which may still commit (the eventstore client treats it as unknown too).
      const refused = res.status === 503 && err.code !== "stopped";
      if (refused || (method === "GET" && err.transient)) {
        unavailable = err;
        failures.push(err.message);
        continue;
      }
      if (err.transient) this.#start = (at + 1) % n;
      throw err;
    }
    this.#start = (this.#start + 1) % n;
    if (unavailable !== undefined && failures.length === 1) throw unavailable;
    throw new MemberRequestError(
      unavailable?.status ?? 0,
      unavailable?.code ?? "unreachable",
      `${method} ${path}: no node could answer (${failures.join("; ")})`,
      unavailable?.body ?? {},
    );
  }
}
