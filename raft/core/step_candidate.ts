/**
 * Message handling of a candidate and a pre-candidate.
 *
 * @module
 */

import { ProposalDroppedError } from "./errors.ts";
import type { Raft } from "./raft.ts";
import type { Message } from "./types.ts";

/**
 * Candidate step: count votes (Raft §5.2), or pre-votes (thesis §9.6); step
 * down on hearing from a leader of our term.
 */
export function stepCandidate(r: Raft, m: Message): void {
  const local = m.from === r.id;
  switch (m.type) {
    case "prop":
    case "readIndex":
    case "transferLeader":
      if (local) throw new ProposalDroppedError("no leader: an election is in progress");
      if (m.type === "prop") r.refuseForwarded(m, `${r.id} is not the leader (it is campaigning)`);
      return;
    case "app":
      r.becomeFollower(m.term, m.from);
      r.handleAppendEntries(m);
      return;
    case "heartbeat":
      r.becomeFollower(m.term, m.from);
      r.handleHeartbeat(m);
      return;
    case "snap":
      r.becomeFollower(m.term, m.from);
      r.handleSnapshot(m);
      return;
    case "voteResp":
    case "preVoteResp": {
      const mine = r.role === "preCandidate" ? "preVoteResp" : "voteResp";
      if (m.type !== mine) return;
      r.trk.recordVote(m.from, !m.reject);
      const res = r.trk.tallyVotes();
      if (res === "won") {
        if (r.role === "preCandidate") {
          r.campaign("election");
        } else {
          r.becomeLeader();
          r.bcastAppend();
        }
      } else if (res === "lost") {
        // A rejection may carry a higher term; becomeFollower(r.term) keeps ours otherwise.
        r.becomeFollower(r.term, "");
      }
      return;
    }
    case "timeoutNow":
    case "appResp":
    case "heartbeatResp":
    case "readIndexResp":
    case "propRefused": // handled by Raft.step
    case "vote":
    case "preVote":
      return;
  }
}
