import assert from "node:assert/strict";
import { NotLeaderError, ProposalDroppedError } from "../raft/core/errors.ts";
import { OutcomeUnknownError, StoppedError, TimeoutError } from "../raft/node_errors.ts";
import { errorBody } from "./errors.ts";

Deno.test("errorBody: refusals that did nothing are 503 with Retry-After", () => {
  for (
    const [e, code] of [
      [new NotLeaderError("n2", "n1", { url: "http://n1" }), "not_leader"],
      [new NotLeaderError("n2", ""), "no_leader"],
      [new ProposalDroppedError("full"), "proposal_dropped"],
      [new StoppedError("n2"), "stopped"],
    ] as const
  ) {
    const b = errorBody(e);
    assert.equal(b.status, 503);
    assert.equal(b.body.error, code);
    assert.equal(b.headers?.["retry-after"], "1");
  }
});

Deno.test("errorBody: an unknown outcome is 504, never a 503 that invites a blind retry", () => {
  for (
    const [e, code] of [
      [new TimeoutError("propose", 100), "timeout"],
      [new OutcomeUnknownError("entry 7 was committed"), "outcome_unknown"],
      [new StoppedError("n2", new Error("disk full"), { outcomeUnknown: true }), "outcome_unknown"],
    ] as const
  ) {
    const b = errorBody(e);
    assert.equal(b.status, 504);
    assert.equal(b.body.error, code);
    assert.match(b.body.message, /outcome is unknown/);
  }
});
