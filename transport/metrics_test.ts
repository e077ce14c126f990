import assert from "node:assert/strict";
import { Histogram, NodeMetrics, renderMetrics } from "./metrics.ts";

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

Deno.test("added gauges and histograms are rendered at each scrape; a later add replaces; a failing gauge is left out", () => {
  const m = new NodeMetrics();
  let n = 1;
  m.addGauge("x_things", () => n);
  m.addGauge("x_broken", () => {
    throw new Error("closed");
  });
  const h = new Histogram();
  h.observe(0.0003);
  m.addHistogram("x_sync_seconds", h);
  const g = { term: 1, commit: 0, applied: 0, lastIndex: 0, isLeader: false, hasLeader: true };
  let text = renderMetrics(m, g);
  assert.match(text, /^x_things 1$/m);
  assert.doesNotMatch(text, /x_broken/);
  assert.match(text, /^x_sync_seconds_bucket\{le="0.0005"\} 1$/m);
  assert.match(text, /^x_sync_seconds_bucket\{le="0.00025"\} 0$/m);
  assert.match(text, /^raftlog_has_leader 1$/m);
  assert.match(text, /^raftlog_is_leader 0$/m);
  n = 7;
  m.addGauge("x_things", () => n * 2);
  m.leaderChanges = 3;
  text = renderMetrics(m, g);
  assert.equal(text.match(/^x_things /gm)?.length, 1);
  assert.match(text, /^x_things 14$/m);
  assert.match(text, /^raftlog_leader_changes_seen_total 3$/m);
});
