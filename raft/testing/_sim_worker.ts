/**
 * Worker side of `sim_cli.ts`: runs the seeds it is sent and posts each
 * result back. Internal.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { runSeed, type SimOptions } from "./sim.ts";

/** A batch of seeds to run. */
export interface WorkerJob {
  readonly seeds: readonly number[];
  readonly options: SimOptions;
}

self.onmessage = (e: MessageEvent<WorkerJob | null>) => {
  const job = e.data;
  if (job === null) {
    self.close();
    return;
  }
  for (const seed of job.seeds) self.postMessage(runSeed(seed, job.options));
  self.postMessage("batch-done");
};
