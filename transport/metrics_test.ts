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

Deno.test("process metrics: CPU time grows with work, memory and descriptors are the process's own", () => {
  const g = { term: 1, commit: 0, applied: 0, lastIndex: 0, isLeader: true };
  const value = (text: string, name: string) => {
    const m = text.match(new RegExp(`^${name} ([0-9.e+]+)$`, "m"));
    assert.ok(m, `${name} missing`);
    return Number(m[1]);
  };
  const before = renderMetrics(new NodeMetrics(), g);
  const t0 = performance.now();
  let x = 0;
  while (performance.now() - t0 < 60) x += Math.sqrt(x + 1);
  assert.ok(x > 0);
  const file = Deno.makeTempFileSync();
  const held = Deno.openSync(file);
  let after: string;
  try {
    after = renderMetrics(new NodeMetrics(), g);
  } finally {
    held.close();
    Deno.removeSync(file);
  }
  const cpu = value(after, "process_cpu_seconds_total") -
    value(before, "process_cpu_seconds_total");
  assert.ok(cpu >= 0.03 && cpu < 5, `60 ms of busy work counted as ${cpu} s`);
  const rss = value(after, "process_resident_memory_bytes"), now = Deno.memoryUsage();
  assert.ok(rss > 10e6 && rss > now.rss / 2 && rss < now.rss * 2, `rss ${rss} vs ${now.rss}`);
  assert.ok(value(after, "raftlog_heap_used_bytes") <= value(after, "raftlog_heap_total_bytes"));
  assert.ok(value(after, "raftlog_external_memory_bytes") >= 0);
  const start = value(after, "process_start_time_seconds"), nowS = Date.now() / 1000;
  assert.ok(start <= nowS && start > nowS - performance.now() / 1000 - 5, `start ${start}`);
  if (Deno.build.os === "linux") {
    // The temporary file was open at the second scrape only.
    assert.equal(value(after, "process_open_fds"), value(before, "process_open_fds") + 1);
    assert.ok(value(after, "process_max_fds") >= value(after, "process_open_fds"));
  }
});
