/**
 * Building {@link ConfState}s: a configuration that is not joint.
 *
 * @module
 */

import type { ConfState, NodeId } from "./types.ts";

/**
 * The (non-joint) configuration of these voters and learners.
 *
 * @example
 * ```ts
 * import { confStateOf } from "./conf_state.ts";
 * const cs = confStateOf(["n1", "n2", "n3"], ["n4"]);
 * console.assert(cs.voters.length === 3 && cs.learners[0] === "n4" && !cs.autoLeave);
 * console.assert(confStateOf([]).voters.length === 0);
 * ```
 */
export function confStateOf(
  voters: readonly NodeId[],
  learners: readonly NodeId[] = [],
): ConfState {
  return {
    voters: [...voters],
    learners: [...learners],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
}

/**
 * Every node a configuration lists: voters (of both halves of a joint
 * configuration) and learners (also those still voting in the outgoing half).
 *
 * @example
 * ```ts
 * import { confStateOf, membersOf } from "./conf_state.ts";
 * console.assert([...membersOf(confStateOf(["n1"], ["n2"]))].join() === "n1,n2");
 * ```
 */
export function membersOf(cs: ConfState): Set<NodeId> {
  return new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext]);
}
