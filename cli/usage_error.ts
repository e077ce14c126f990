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
  /**
   * An error for a bad command line, which exits with code 2.
   * @param message What is wrong with the command line, and how to fix it.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
