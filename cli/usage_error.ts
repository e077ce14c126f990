/**
 * The error of bad command-line arguments.
 *
 * @module
 */

/**
 * Bad command-line arguments; `main` prints the message and exits with code 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "./usage_error.ts";
 * console.assert(new UsageError("--id is required").name === "UsageError");
 * ```
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
