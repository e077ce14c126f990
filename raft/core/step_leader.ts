/**
 * Message handling of a leader.
 *
 * @module
 */

import { ConfChangeError } from "./confchange.ts";
import { ProposalDroppedError, RaftInvariantError } from "./errors.ts";
import { LEASE_CONTEXT_PREFIX } from "./lease.ts";
import type { Raft } from "./raft.ts";
import type { TrackerConfig } from "./tracker/tracker.ts";
import type { Entry, Message, ProposeMessage } from "./types.ts";
import { NO_NODE } from "./types.ts";

const EMPTY = new Uint8Array(0);

/** Refuses a proposal: a local one throws, a forwarded one is answered (when it asks). */
function refuse(r: Raft, m: ProposeMessage, local: boolean, reason: string): void {
  if (local) throw new ProposalDroppedError(reason);
  r.refuseForwarded(m, reason);
}

function handlePropose(r: Raft, m: ProposeMessage, local: boolean): void {
  if (m.entries.length === 0) throw new RaftInvariantError("proposal with no entries");
  if (!r.trk.progress.has(r.id)) {
    return refuse(r, m, local, "this node was removed from the cluster");
  }
  if (r.isLearner && r.pendingStepDown !== 0) {
    // It steps down once the voters know (stepDownOnRemoval). Entries it appended meanwhile
    // would make its log longer than the voters': a voter that still counts it in a joint
    // configuration could then never win its vote. (Without stepDownOnRemoval it goes on
    // leading, and taking proposals, as before.)
    return refuse(r, m, local, "this leader was made a learner; it steps down once voters know");
  }
  if (r.removalIndex !== 0) {
    return refuse(
      r,
      m,
      local,
      `this leader leaves the voters at index ${r.removalIndex}; it steps down once voters know`,
    );
  }
  if (r.leadTransferee !== NO_NODE) {
    return refuse(r, m, local, `leadership is being transferred to ${r.leadTransferee}`);
  }
  const ents: Entry[] = [];
  const pendingBefore = r.pendingConfIndex;
  let removal = 0;
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    if (e.type !== "confChange") {
      ents.push(e);
      continue;
    }
    let checked: string | TrackerConfig;
    try {
      checked = r.validateConfChange(e.data);
    } catch (err) {
      if (!(err instanceof ConfChangeError)) throw err;
      if (local) throw err;
      checked = err.message;
    }
    if (typeof checked === "string") {
      if (local || m.entries.length === 1) return refuse(r, m, local, checked);
      // A forwarded change that is not allowed becomes a no-op, keeping the batch's indexes.
      r.logger?.("warn", `${r.id} ignored a forwarded configuration change: ${checked}`);
      ents.push({ term: 0, index: 0, type: "normal", data: EMPTY });
      continue;
    }
    ents.push(e);
    r.pendingConfIndex = r.raftLog.lastIndex() + i + 1;
    if (r.stepDownOnRemoval && !r.votesIn(checked)) removal = r.pendingConfIndex;
  }
  if (!r.appendEntry(ents)) {
    // A dropped change must not block the next one.
    r.pendingConfIndex = pendingBefore;
    return refuse(r, m, local, "too many uncommitted bytes; retry when the cluster catches up");
  }
  if (removal !== 0) r.removalIndex = removal;
  r.bcastAppend();
}

/**
 * Leader step: accept proposals, replicate, advance commit from acks
 * (Raft §5.3, §5.4.2), confirm reads (thesis §6.4), transfer leadership (§3.10).
 */
export function stepLeader(r: Raft, m: Message): void {
  const local = m.from === r.id;
  switch (m.type) {
    case "prop":
      handlePropose(r, m, local);
      return;
    case "readIndex":
      // A new leader must commit an entry of its term before it knows the commit index (§6.4).
      if (!r.committedEntryInCurrentTerm() && !r.trk.isSingleton(r.id)) {
        r.pendingReadIndexMessages.push(m);
        return;
      }
      r.sendReadIndexResponse(m);
      return;
    case "transferLeader": {
      const t = m.transferee;
      const pr = r.trk.progress.get(t);
      if (pr === undefined || pr.isLearner || !r.trk.isVoter(t)) {
        if (local) throw new RangeError(`Cannot transfer leadership to ${t}: it is not a voter`);
        return;
      }
      if (r.leadTransferee !== NO_NODE) {
        if (r.leadTransferee === t) return;
        r.abortLeaderTransfer();
      }
      if (t === r.id) return;
      // The transfer must finish within an election timeout.
      r.electionElapsed = 0;
      r.leadTransferee = t;
      if (pr.match === r.raftLog.lastIndex()) r.send({ type: "timeoutNow", to: t });
      else r.sendAppend(t);
      return;
    }
    case "app":
    case "heartbeat":
    case "snap":
      throw new RaftInvariantError(`two leaders in term ${r.term}: ${r.id} and ${m.from}`);
    case "appResp":
      handleAppendResponse(r, m);
      return;
    case "heartbeatResp":
      handleHeartbeatResponse(r, m);
      return;
    case "vote":
    case "preVote":
    case "voteResp":
    case "preVoteResp":
    case "timeoutNow":
    case "readIndexResp":
    case "propRefused": // handled by Raft.step
      return;
  }
}

function handleAppendResponse(r: Raft, m: Extract<Message, { type: "appResp" }>): void {
  const pr = r.trk.progress.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  if (m.commit !== undefined && m.commit > pr.knownCommit) {
    pr.knownCommit = m.commit;
    r.maybeStepDownAfterRemoval();
    if (r.role !== "leader") return;
  }
  if (m.reject) {
    let hint = m.rejectHint;
    if (m.logTerm > 0) hint = r.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === "replicate") pr.becomeProbe();
      r.sendAppend(m.from);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  // A probe acked at exactly our match (a caught-up follower) also moves it back to replicate.
  if (!pr.maybeUpdate(m.index) && !(pr.state === "probe" && pr.match === m.index)) return;
  if (pr.state === "probe") {
    pr.becomeReplicate();
  } else if (pr.state === "snapshot" && pr.match + 1 >= r.raftLog.firstIndex()) {
    // The follower caught up past the snapshot: continue from the log.
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === "replicate") {
    pr.inflights.freeLE(m.index);
  }
  if (r.maybeCommit()) {
    r.onCommitAdvanced();
  } else if (wasPaused) {
    r.sendAppend(m.from);
  }
  while (r.maybeSendAppend(m.from, false)) { /* refill the pipeline */ }
  if (m.from === r.leadTransferee && pr.match === r.raftLog.lastIndex()) {
    r.send({ type: "timeoutNow", to: m.from });
  }
}

function handleHeartbeatResponse(r: Raft, m: Extract<Message, { type: "heartbeatResp" }>): void {
  const pr = r.trk.progress.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  if (m.commit !== undefined && m.commit > pr.knownCommit) {
    pr.knownCommit = m.commit;
    r.maybeStepDownAfterRemoval();
    if (r.role !== "leader") return;
  }
  pr.msgAppFlowPaused = false;
  if (pr.match < r.raftLog.lastIndex() || pr.state === "probe") r.sendAppend(m.from);
  if (m.context === "") return;
  if (m.context.startsWith(LEASE_CONTEXT_PREFIX)) {
    r.lease.ack(m.context, m.from, (acks) => r.trk.voteResult(acks) === "won");
    return;
  }
  const acks = r.readOnly.recvAck(m.from, m.context);
  if (acks === undefined || r.trk.voteResult(acks) !== "won") return;
  for (const rs of r.readOnly.advance(m.context)) r.respondToRead(rs.from, rs.context, rs.index);
}
