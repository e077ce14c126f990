/**
 * A request of a node's caller that waits for its outcome.
 *
 * @module
 */

/** The settling functions of a request's promise, and the cancel of its deadline. */
export interface Pending<R> {
  resolve(v: R): void;
  reject(e: unknown): void;
  cancelTimer(): void;
}
