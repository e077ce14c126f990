/**
 * Errors a running node's promises reject with, besides the core's
 * `NotLeaderError` and `ProposalDroppedError`.
 *
 * @module
 */

/**
 * A proposal or read did not complete in time. For a proposal the outcome is
 * unknown: it may still commit. Retry only idempotent commands.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "./node_errors.ts";
 * console.assert(new TimeoutError("propose", 100).message.includes("100 ms"));
 * ```
 */
export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not complete within ${ms} ms; its outcome is unknown`);
    this.name = "TimeoutError";
  }
}

/**
 * The node was stopped (or failed) before the request completed.
 *
 * @example
 * ```ts
 * import { StoppedError } from "./node_errors.ts";
 * console.assert(new StoppedError("n1").name === "StoppedError");
 * ```
 */
export class StoppedError extends Error {
  constructor(nodeId: string, cause?: unknown) {
    super(
      `Node ${nodeId} is stopped${
        cause === undefined ? "" : `: ${cause instanceof Error ? cause.message : cause}`
      }`,
    );
    this.name = "StoppedError";
  }
}

/**
 * What became of a proposal cannot be told on this node: it may have been
 * committed (and applied elsewhere) or not. Retry only idempotent commands.
 *
 * @example
 * ```ts
 * import { OutcomeUnknownError } from "./node_errors.ts";
 * console.assert(new OutcomeUnknownError("entry 7").message.includes("outcome is unknown"));
 * ```
 */
export class OutcomeUnknownError extends Error {
  constructor(what: string) {
    super(`${what}; its outcome is unknown`);
    this.name = "OutcomeUnknownError";
  }
}
