import assert from "node:assert/strict";
import type { Message } from "../raft/core/types.ts";
import { parseServeArgs } from "../cli.ts";
import { waitFor } from "../tests/helpers.ts";
import { HttpTransport } from "./peer_transport.ts";
import { normalizePeerUrl } from "./peer_url.ts";
import { heartbeat, rawWsServer, startPeer } from "./_peer_server_test.ts";

Deno.test("HttpTransport refuses a secret, cluster id or node id that headers would not carry unchanged", () => {
  const ok = { id: "n2", clusterId: "c1", secret: "s3cret", peers: {} };
  for (
    const bad of [
      { secret: "pässwort" },
      { secret: "s3cret " },
      { secret: " s3cret" },
      { secret: "密码" },
      { clusterId: "clüster" },
      { clusterId: "c\t1" },
      { id: "nö" },
    ]
  ) {
    assert.throws(
      () => new HttpTransport({ ...ok, ...bad }),
      /printable ASCII/,
      JSON.stringify(bad),
    );
  }
  const t = new HttpTransport({ ...ok, secret: "a secret with spaces inside" });
  try {
    assert.throws(() => t.addPeer("nö", "http://127.0.0.1:1"), /printable ASCII/);
    assert.throws(() => t.addPeer("n3", "ftp://127.0.0.1:1"), /http/);
  } finally {
    t.close();
  }
});

Deno.test("raftlog serve refuses a secret or cluster id that is not printable ASCII", () => {
  const args = ["--id", "n1", "--listen", "127.0.0.1:7001"];
  assert.throws(() => parseServeArgs([...args, "--secret", "pässwort"]), /cluster secret/);
  assert.throws(
    () => parseServeArgs([...args, "--secret", "s", "--cluster-id", "clüster"]),
    /--cluster-id/,
  );
  assert.equal(parseServeArgs([...args, "--secret", "s", "--cluster-id", "c 1"]).clusterId, "c 1");
});

Deno.test("peer URLs are normalized: an upper-case scheme or host still gets a stream", async () => {
  assert.equal(normalizePeerUrl("HTTP://LocalHost:7001/"), "http://localhost:7001");
  assert.equal(normalizePeerUrl("https://h:1/prefix//"), "https://h:1/prefix");
  assert.throws(() => normalizePeerUrl("ws://h:1"), /http/);
  assert.throws(() => normalizePeerUrl("not a url"), /not a URL/);
  const peer = startPeer();
  const url = peer.url.replace("http://", "HTTP://");
  const cfg = parseServeArgs([
    "--id",
    "n2",
    "--peers",
    `n1=${url},n2=http://127.0.0.1:1`,
    "--secret",
    "s",
  ]);
  assert.equal(cfg.peers.n1, peer.url);
  const t = new HttpTransport({ id: "n2", clusterId: "c", secret: "s", peers: { n1: url } });
  try {
    await waitFor("a heartbeat over the stream", () => {
      t.send([heartbeat("n2", "n1")]);
      return peer.got.length > 0;
    }, 5_000);
    assert.ok(peer.upgrades() >= 1, "it came over the stream");
  } finally {
    t.close();
    await peer.close();
  }
});

Deno.test("a stream whose handshake is never answered is reported unreachable and tried again", async () => {
  const srv = rawWsServer({ answer: false });
  let unreachable = 0;
  const t = new HttpTransport({
    id: "n2",
    clusterId: "c",
    secret: "s",
    timeoutMs: 200,
    peers: { n1: `http://127.0.0.1:${srv.port}` },
  });
  t.attach({ reportUnreachable: () => unreachable++, reportSnapshot() {} });
  try {
    await waitFor("a report and a new connection", () => {
      t.send([heartbeat("n2", "n1")]);
      return unreachable > 0 && srv.accepted() > 1;
    }, 5_000);
  } finally {
    t.close();
    srv.close();
  }
});

Deno.test("a peer that takes the stream but refuses every frame is backed off, not reconnected at once", async () => {
  // The node at n1's address is n9 (a replaced member): it closes each stream at the first frame.
  const peer = startPeer({ id: "n9" });
  const t = new HttpTransport({ id: "n2", clusterId: "c", secret: "s", peers: { n1: peer.url } });
  const start = Date.now();
  try {
    // Raft sends something every tick.
    await waitFor("7 stream attempts", () => {
      t.send([heartbeat("n2", "n1")]);
      return peer.upgrades() >= 7;
    }, 15_000);
    // Waits of 50, 100, 200, 400, 800 and 1000 ms come before the seventh attempt.
    const elapsed = Date.now() - start;
    assert.ok(elapsed >= 2_500, `7 attempts in ${elapsed} ms`);
  } finally {
    t.close();
    await peer.close();
  }
});

Deno.test("many large appends to one peer go over the stream in several frames, in order, none by request", async () => {
  const peer = startPeer();
  let posts = 0;
  const t = new HttpTransport({
    id: "n2",
    clusterId: "c",
    secret: "s",
    peers: { n1: peer.url },
    fetch: (input, init) => {
      if (String(input).endsWith("/raft/messages")) posts++;
      return fetch(input, init);
    },
  });
  try {
    await waitFor("the stream", () => {
      t.send([heartbeat("n2", "n1")]);
      return peer.got.length > 0;
    }, 5_000);
    const before = peer.got.length;
    // 30 appends of 1 MiB each (about 42 MB of JSON): a follower far behind.
    const apps: Message[] = Array.from({ length: 30 }, (_, i) => ({
      type: "app",
      from: "n2",
      to: "n1",
      term: 1,
      index: i,
      logTerm: 1,
      commit: 0,
      entries: [{ term: 1, index: i + 1, type: "normal", data: new Uint8Array(1 << 20).fill(i) }],
    }));
    t.send(apps);
    await waitFor("every append", () => peer.got.length >= before + 30, 20_000);
    const got = peer.got.slice(before).filter((m) => m.type === "app");
    assert.deepEqual(got.map((m) => m.type === "app" ? m.index : -1), apps.map((_, i) => i));
    assert.equal(posts, 0, "none went by request");
  } finally {
    t.close();
    await peer.close();
  }
});

Deno.test("a removed peer's URL is kept: a message Raft still sends it (a follower answering a leader it saw removed in an older entry) gets there", async () => {
  const peer = startPeer();
  const t = new HttpTransport({ id: "n2", clusterId: "c", secret: "s", peers: { n1: peer.url } });
  try {
    await waitFor("the stream", () => {
      t.send([heartbeat("n2", "n1")]);
      return peer.got.length > 0;
    }, 5_000);
    t.removePeer("n1");
    assert.deepEqual(t.peerIds(), []);
    const before = peer.got.length;
    await waitFor("a message after the removal", () => {
      t.send([heartbeat("n2", "n1", 7)]);
      return peer.got.length > before;
    }, 5_000);
    assert.equal(peer.got.at(-1)?.term, 7);
    assert.deepEqual(t.peerIds(), ["n1"]);
  } finally {
    t.close();
    await peer.close();
  }
});

Deno.test("a stream tells the receiver its sender's URL", async () => {
  const told: [string, string][] = [];
  const n1 = startPeer({ id: "n1", onPeerUrl: (id, url) => told.push([id, url]) });
  const t = new HttpTransport({
    id: "n2",
    clusterId: "c",
    secret: "s",
    url: "http://127.0.0.1:7002",
    peers: { n1: n1.url },
  });
  try {
    await waitFor("n2's stream to n1", () => {
      t.send([heartbeat("n2", "n1")]);
      return n1.got.length > 0;
    }, 5_000);
    assert.deepEqual(told, [["n2", "http://127.0.0.1:7002"]]);
  } finally {
    t.close();
    await n1.close();
  }
});

Deno.test("learnPeerUrl routes messages to a node that is not a peer, and never moves a peer", async () => {
  const n2 = startPeer({ id: "n2" });
  const n3 = startPeer({ id: "n3" });
  const t = new HttpTransport({ id: "n1", clusterId: "c", secret: "s", peers: { n2: n2.url } });
  try {
    t.send([heartbeat("n1", "n3")]);
    assert.deepEqual(t.peerIds(), ["n2"], "n3 is unknown: its message is dropped");
    t.learnPeerUrl("n3", n3.url);
    await waitFor("a message to n3", () => {
      t.send([heartbeat("n1", "n3")]);
      return n3.got.length > 0;
    }, 5_000);
    // What a stream says does not move a member, and a URL that is none is ignored.
    t.learnPeerUrl("n2", n3.url);
    t.learnPeerUrl("n4", "not a url");
    await waitFor("n2's messages at n2's URL", () => {
      t.send([heartbeat("n1", "n2", 5), heartbeat("n1", "n4")]);
      return n2.got.some((m) => m.term === 5);
    }, 5_000);
    assert.deepEqual(t.peerIds().sort(), ["n2", "n3"]);
  } finally {
    t.close();
    await n2.close();
    await n3.close();
  }
});

Deno.test("HttpTransport: a removed node routed to once can still be told its new URL by a stream", async () => {
  // n3 was removed while at a URL where nothing listens now; it runs elsewhere and opens a
  // stream to us saying so (learnPeerUrl). An answer we sent it before that must not pin the
  // old URL: the promoted PeerState makes learnPeerUrl a no-op (`this.#peers.has(id)`).
  const n3 = startPeer({ id: "n3" });
  const t = new HttpTransport({
    id: "n1",
    clusterId: "c",
    secret: "s",
    peers: { n3: "http://127.0.0.1:1" },
  });
  try {
    t.removePeer("n3");
    t.send([heartbeat("n1", "n3")]); // an answer to a stale message: goes to the old URL
    t.learnPeerUrl("n3", n3.url);
    await waitFor("a message at n3's new URL", () => {
      t.send([heartbeat("n1", "n3", 9)]);
      return n3.got.some((m) => m.term === 9);
    }, 5_000);
  } finally {
    t.close();
    await n3.close();
  }
});

Deno.test("HttpTransport reports each stream that opens (round trips are measured afresh on it)", async () => {
  const peer = startPeer();
  const connected: string[] = [];
  const t = new HttpTransport({ id: "n2", clusterId: "c", secret: "s", peers: { n1: peer.url } });
  t.attach({
    reportUnreachable() {},
    reportSnapshot() {},
    reportConnected: (id) => connected.push(id),
  });
  try {
    await waitFor("the stream", () => {
      t.send([heartbeat("n2", "n1")]);
      return peer.got.length > 0;
    }, 5_000);
    assert.deepEqual(connected, ["n1"]);
  } finally {
    t.close();
    await peer.close();
  }
});
