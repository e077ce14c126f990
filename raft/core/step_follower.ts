/**
 * Message handling of a follower.
 *
 * @module
 */

import { NotLeaderError, ProposalDroppedError } from "./errors.ts";
import type { Raft } from "./raft.ts";
import type { Message } from "./types.ts";
import { NO_NODE } from "./types.ts";

/**
 * Follower step: accept the leader's appends, heartbeats and snapshots;
 * forward local proposals, reads and transfers to the leader.
 */
export function stepFollower(r: Raft, m: Message): void {
  const local = m.from === r.id;
  switch (m.type) {
    case "prop":
      if (!local) {
        // Only our own proposals are forwarded, so none can loop.
        return r.refuseForwarded(
          m,
          `${r.id} is not the leader${r.lead === NO_NODE ? "" : ` (${r.lead} is)`}`,
        );
      }
      if (r.lead === NO_NODE) throw new ProposalDroppedError("no leader is known");
      if (r.disableProposalForwarding) throw new NotLeaderError(r.id, r.lead);
      r.send({
        type: "prop",
        to: r.lead,
        entries: m.entries,
        ...(m.context !== undefined ? { context: m.context } : {}),
      });
      return;
    case "readIndex":
      if (!local) return;
      if (r.lead === NO_NODE) {
        throw new NotLeaderError(r.id, NO_NODE);
      }
      r.send({ type: "readIndex", to: r.lead, context: m.context });
      return;
    case "transferLeader":
      if (!local) return;
      if (r.lead === NO_NODE) throw new ProposalDroppedError("no leader is known to transfer from");
      r.send({ type: "transferLeader", to: r.lead, transferee: m.transferee });
      return;
    case "app":
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleAppendEntries(m);
      return;
    case "heartbeat":
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleHeartbeat(m);
      return;
    case "snap":
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleSnapshot(m);
      return;
    case "timeoutNow":
      // Leadership transfer (thesis §3.10): campaign at once, skipping pre-vote.
      r.hup(true);
      return;
    case "readIndexResp":
      r.readStates.push({ index: m.index, context: m.context });
      return;
    case "propRefused": // handled by Raft.step
    case "appResp":
    case "heartbeatResp":
    case "vote":
    case "preVote":
    case "voteResp":
    case "preVoteResp":
      return;
  }
}
