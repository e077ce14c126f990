import assert from "node:assert/strict";
import {
  applyConfChange,
  type ConfChange,
  ConfChangeError,
  decodeConfChange,
  encodeConfChange,
} from "./confchange.ts";
import { configFromConfState, confStateFromConfig, type TrackerConfig } from "./tracker/tracker.ts";
import type { ConfState } from "./types.ts";

function cfg(voters: string[], learners: string[] = []): TrackerConfig {
  return configFromConfState({
    voters,
    learners,
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  });
}

function apply(c: TrackerConfig, cc: ConfChange): ConfState {
  return confStateFromConfig(applyConfChange(c, cc));
}

Deno.test("applyConfChange: single changes apply directly (§4.1)", () => {
  const table: [string[], string[], ConfChange, Partial<ConfState>][] = [
    [["a", "b", "c"], [], { changes: [{ type: "addVoter", nodeId: "d" }] }, {
      voters: ["a", "b", "c", "d"],
    }],
    [["a", "b", "c"], [], { changes: [{ type: "removeNode", nodeId: "b" }] }, {
      voters: ["a", "c"],
    }],
    [["a", "b"], [], { changes: [{ type: "addLearner", nodeId: "l" }] }, {
      voters: ["a", "b"],
      learners: ["l"],
    }],
    [["a", "b"], ["l"], { changes: [{ type: "addVoter", nodeId: "l" }] }, {
      voters: ["a", "b", "l"],
      learners: [],
    }],
    [["a", "b", "c"], [], { changes: [{ type: "addLearner", nodeId: "c" }] }, {
      voters: ["a", "b"],
      learners: ["c"],
    }],
    [["a", "b"], ["l"], { changes: [{ type: "removeNode", nodeId: "l" }] }, {
      voters: ["a", "b"],
      learners: [],
    }],
    [["a", "b"], [], { changes: [{ type: "removeNode", nodeId: "zz" }] }, { voters: ["a", "b"] }],
  ];
  for (const [voters, learners, cc, want] of table) {
    const got = apply(cfg(voters, learners), cc);
    for (const [k, v] of Object.entries(want)) {
      assert.deepEqual(got[k as keyof ConfState], v, `${JSON.stringify(cc)} ${k}`);
    }
    assert.deepEqual(got.votersOutgoing, [], "not joint");
  }
});

Deno.test("applyConfChange: several changes never apply at once; they enter a joint configuration (§4.3)", () => {
  const c = cfg(["a", "b", "c"], ["d"]);
  const joint = applyConfChange(c, {
    changes: [{ type: "addVoter", nodeId: "d" }, { type: "removeNode", nodeId: "a" }],
  });
  const cs = confStateFromConfig(joint);
  assert.deepEqual(cs.voters, ["b", "c", "d"]);
  assert.deepEqual(cs.votersOutgoing, ["a", "b", "c"]);
  assert.equal(cs.autoLeave, true, "the auto transition leaves by itself");
  assert.throws(
    () => applyConfChange(joint, { changes: [{ type: "addVoter", nodeId: "e" }] }),
    ConfChangeError,
    "no new change while joint",
  );
  const left = confStateFromConfig(applyConfChange(joint, { changes: [] }));
  assert.deepEqual(left.voters, ["b", "c", "d"]);
  assert.deepEqual(left.votersOutgoing, []);
  assert.equal(left.autoLeave, false);
  assert.throws(() => applyConfChange(cfg(["a"]), { changes: [] }), ConfChangeError, "not joint");
});

Deno.test("applyConfChange: explicit and implicit transitions always go through joint", () => {
  for (const transition of ["explicit", "implicit"] as const) {
    const cs = apply(cfg(["a", "b", "c"]), {
      changes: [{ type: "addVoter", nodeId: "d" }],
      transition,
    });
    assert.deepEqual(cs.votersOutgoing, ["a", "b", "c"]);
    assert.equal(cs.autoLeave, transition === "implicit");
  }
});

Deno.test("applyConfChange: demoting an outgoing voter waits in learnersNext until the joint config is left", () => {
  const joint = applyConfChange(cfg(["a", "b", "c"]), {
    changes: [{ type: "addLearner", nodeId: "a" }],
    transition: "explicit",
  });
  let cs = confStateFromConfig(joint);
  assert.deepEqual(cs.voters, ["b", "c"]);
  assert.deepEqual(cs.votersOutgoing, ["a", "b", "c"], "a still votes in the outgoing half");
  assert.deepEqual(cs.learners, []);
  assert.deepEqual(cs.learnersNext, ["a"]);
  cs = confStateFromConfig(applyConfChange(joint, { changes: [] }));
  assert.deepEqual(cs.learners, ["a"]);
  assert.deepEqual(cs.learnersNext, []);
});

Deno.test("applyConfChange never removes every voter", () => {
  assert.throws(
    () => applyConfChange(cfg(["a"]), { changes: [{ type: "removeNode", nodeId: "a" }] }),
    ConfChangeError,
  );
  assert.throws(
    () =>
      applyConfChange(cfg(["a", "b"]), {
        changes: [{ type: "removeNode", nodeId: "a" }, { type: "removeNode", nodeId: "b" }],
      }),
    ConfChangeError,
  );
});

Deno.test("encodeConfChange/decodeConfChange round-trip and reject garbage", () => {
  const cc: ConfChange = {
    changes: [{ type: "addVoter", nodeId: "n4" }, { type: "removeNode", nodeId: "n1" }],
    transition: "explicit",
    context: "http://n4:8080",
  };
  assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  const enc = new TextEncoder();
  for (
    const bad of [
      "",
      "{",
      "{}",
      '{"changes":[{"type":"boom","nodeId":"x"}]}',
      '{"changes":[{"type":"addVoter","nodeId":""}]}',
    ]
  ) {
    assert.throws(() => decodeConfChange(enc.encode(bad)), ConfChangeError, bad);
  }
});
