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
  /** `what` did not complete within `ms` milliseconds. */
  constructor(what: string, ms: number) {
    super(`${what} did not complete within ${ms} ms; its outcome is unknown`);
    this.name = "TimeoutError";
  }
}

/**
 * The node was stopped (or failed) before the request completed. For a
 * proposal or membership change it had already taken, `outcomeUnknown` is
 * true: it may be in the log, and be committed (by the rest of the cluster,
 * or by this node after a restart). Otherwise nothing was done.
 *
 * @example
 * ```ts
 * import { StoppedError } from "./node_errors.ts";
 * console.assert(new StoppedError("n1").name === "StoppedError");
 * console.assert(new StoppedError("n1", undefined, { outcomeUnknown: true }).outcomeUnknown);
 * ```
 */
export class StoppedError extends Error {
  /** The request was taken before the node stopped: it may still take effect. */
  readonly outcomeUnknown: boolean;
  /** Node `nodeId` stopped (because of `cause`, when it failed). */
  constructor(nodeId: string, cause?: unknown, options: { outcomeUnknown?: boolean } = {}) {
    super(
      `Node ${nodeId} ${
        options.outcomeUnknown ? "stopped before the request completed" : "is stopped"
      }${cause === undefined ? "" : `: ${cause instanceof Error ? cause.message : cause}`}${
        options.outcomeUnknown ? "; its outcome is unknown" : ""
      }`,
    );
    this.name = "StoppedError";
    this.outcomeUnknown = options.outcomeUnknown ?? false;
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
  /** `what` may or may not have taken effect. */
  constructor(what: string) {
    super(`${what}; its outcome is unknown`);
    this.name = "OutcomeUnknownError";
  }
}
