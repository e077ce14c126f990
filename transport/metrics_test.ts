import assert from "node:assert/strict";
import { NodeMetrics, renderMetrics } from "./metrics.ts";

Deno.test("renderMetrics escapes label values (a peer id with a quote, a backslash, a newline)", () => {
  const m = new NodeMetrics();
  m.observeRtt('n"2\\x\ny', 3);
  const text = renderMetrics(m, { term: 1, commit: 0, applied: 0, lastIndex: 0, isLeader: true });
  const lines = text.split("\n").filter((l) => l.startsWith("raftlog_peer_rtt_seconds"));
  assert.ok(lines.length > 0);
  for (const l of lines) assert.ok(l.includes('peer="n\\"2\\\\x\\ny"'), l);
  // Every sample line is `name{labels} value` or `name value`.
  for (const l of text.split("\n")) {
    if (l === "" || l.startsWith("#")) continue;
    assert.match(l, /^[a-z_]+(\{([a-z]+="([^"\\\n]|\\.)*",?)+\})? [0-9.e+Inf-]+$/, l);
  }
});
