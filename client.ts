/**
 * The event store's HTTP client on its own: {@link RaftlogClient}, the errors
 * it throws and the types it returns. Nothing here uses Deno's APIs, so it
 * runs in Deno, Node (20 and later), Bun and browsers, and brings none of the
 * node's code along (`jsr:@raftlog/raftlog/client`).
 *
 * @example
 * ```ts
 * import { RaftlogClient, WrongExpectedRevisionError } from "./client.ts";
 *
 * const client = new RaftlogClient({
 *   urls: "http://127.0.0.1:9",
 *   fetch: () => Response.json({ error: "wrong_expected_revision", message: "no", currentRevision: 4 }, { status: 409 }),
 * });
 * try {
 *   await client.append("orders-1", { type: "Placed" }, { expectedRevision: "no_stream" });
 * } catch (e) {
 *   console.assert(e instanceof WrongExpectedRevisionError && e.currentRevision === 4);
 * }
 * ```
 *
 * @module
 */

export {
  type ClientListStreamsOptions,
  type ClientReadAllOptions,
  type ClientReadOptions,
  type ClientReadStreamOptions,
  type ClientSubscribeOptions,
  type ClientSubscriptionItem,
  RaftlogClient,
  type RaftlogClientOptions,
  RaftlogHttpError,
} from "./eventstore/client.ts";
export type * from "./eventstore/types.ts";
export * from "./eventstore/errors.ts";
export {
  ALL_STREAMS,
  isValidStreamName,
  MAX_STREAM_NAME_BYTES,
  validateStreamName,
} from "./eventstore/stream_name.ts";
export { parseExpectedRevision } from "./eventstore/expected_revision.ts";
