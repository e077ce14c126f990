/**
 * Random requests against the event store over real HTTP (one node, and any
 * node of three, whose followers forward writes), wired as
 * `raftlog serve` wires it (fast routes, body limits, JSON errors): whatever
 * the method, path, query, headers and body, the answer is never a server
 * error, every refusal is JSON naming its cause, and the appends the node
 * acknowledged hold gapless, distinct positions.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { serveEventStoreCluster } from "./helpers.ts";

interface FuzzRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  expected: string | undefined;
  body: string | undefined;
  /** Sends the last acknowledged append again instead (a client's retry). */
  repeat: boolean;
  /** Which node gets it (modulo the cluster's size). */
  at: number;
}

const STREAMS = ["acct-1", "acct-2", "orders-1"];

const streamName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...STREAMS) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "",
      "$all",
      "$sys",
      "a/b",
      "%",
      "%2F",
      "..",
      " x",
      "é",
      "x".repeat(300),
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
);

const numberish = fc.oneof(
  fc.nat(12).map(String),
  fc.constantFrom("", "0", "-1", "abc", "1.5", "1e3", "10001", "9007199254740993", "0x10", " 1"),
);

const queryValue = fc.oneof(
  numberish,
  fc.constantFrom("forward", "backward", "local", "leader", "linearizable", "true", "false", "T"),
);

const query = fc.dictionary(
  fc.constantFrom(
    "from",
    "limit",
    "direction",
    "consistency",
    "minPosition",
    "hard",
    "type",
    "prefix",
    "redirect",
  ),
  queryValue,
  { maxKeys: 3 },
);

const eventObject = fc.record({
  id: fc.oneof(fc.uuid(), fc.constantFrom("", "not-a-uuid"), fc.integer()),
  type: fc.oneof(fc.constantFrom("Opened", "Deposited"), fc.string({ maxLength: 4 }), fc.integer()),
  data: fc.jsonValue({ maxDepth: 2 }),
  metadata: fc.jsonValue({ maxDepth: 1 }),
}, { requiredKeys: [] });

// Events the store accepts (unless the expected revision says otherwise).
const validEvent = fc.record({
  id: fc.uuid(),
  type: fc.constantFrom("Opened", "Deposited"),
  data: fc.jsonValue({ maxDepth: 2 }),
}, { requiredKeys: ["type"] });

const body = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 4, arbitrary: validEvent.map((e) => JSON.stringify(e)) },
  { weight: 2, arbitrary: fc.array(validEvent, { maxLength: 3 }).map((a) => JSON.stringify(a)) },
  { weight: 4, arbitrary: eventObject.map((e) => JSON.stringify(e)) },
  { weight: 3, arbitrary: fc.array(eventObject, { maxLength: 4 }).map((a) => JSON.stringify(a)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "{",
      "",
      "null",
      '{"type":"T","data":1e400}',
      '{"type":"T","data":12345678901234567890}',
      '{"maxCount":2}',
      '{"truncateBefore":1,"maxAge":60}',
    ),
  },
);

const pathOf = fc.tuple(
  fc.constantFrom(
    "/streams",
    "/streams/{s}",
    "/streams/{s}",
    "/streams/{s}",
    "/streams/{s}/{n}",
    "/streams/{s}/metadata",
    "/all",
    "/subscribe/streams/{s}",
    "/subscribe/all",
    "/projections/count",
    "/projections/{s}",
    "/projections/count/{s}",
    "/{s}",
  ),
  streamName,
  fc.boolean(),
  numberish,
).map(([template, s, encode, n]) =>
  template.replace("{s}", encode ? encodeURIComponent(s) : s).replace("{n}", encodeURIComponent(n))
);

const expectedHeader = fc.option(
  fc.constantFrom("any", "no_stream", "stream_exists", "0", "1", "-1", "abc", "1.5", " 2", ""),
  { nil: undefined },
);

const anyRequest: fc.Arbitrary<Omit<FuzzRequest, "at">> = fc.record({
  method: fc.constantFrom("GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD"),
  path: pathOf,
  query,
  expected: expectedHeader,
  body,
  repeat: fc.constant(false),
});

// Appends the store may well accept, so that the state the other requests meet grows.
const likelyAppend: fc.Arbitrary<Omit<FuzzRequest, "at">> = fc.record({
  method: fc.constant("POST"),
  path: fc.constantFrom(...STREAMS).map((s) => `/streams/${s}`),
  query: fc.constant({}),
  expected: fc.option(fc.constantFrom("any", "stream_exists", "no_stream", "0", "1", "2"), {
    nil: undefined,
  }),
  body: fc.oneof(
    validEvent.map((e) => JSON.stringify(e)),
    fc.array(validEvent, { minLength: 1, maxLength: 3 }).map((a) => JSON.stringify(a)),
  ),
  repeat: fc.boolean(),
});

// Reads of what exists, with any query.
const likelyRead: fc.Arbitrary<Omit<FuzzRequest, "at">> = fc.record({
  method: fc.constant("GET"),
  path: fc.oneof(
    fc.constantFrom(...STREAMS).map((s) => `/streams/${s}`),
    fc.tuple(fc.constantFrom(...STREAMS), numberish).map(([s, n]) => `/streams/${s}/${n}`),
    fc.constantFrom("/all", "/streams", "/projections/count", `/projections/count/${STREAMS[0]}`),
  ),
  query,
  expected: fc.constant(undefined),
  body: fc.constant(undefined),
  repeat: fc.constant(false),
});

const request = fc.tuple(
  fc.oneof(
    { weight: 3, arbitrary: likelyAppend },
    { weight: 2, arbitrary: likelyRead },
    { weight: 5, arbitrary: anyRequest },
  ),
  fc.nat(5),
).map(([r, at]): FuzzRequest => ({ ...r, at }));

interface Acknowledged {
  stream: string;
  firstRevision: number;
  lastRevision: number;
  position: number;
}

/**
 * Sends random request sequences to the nodes of an `n`-node cluster
 * (followers forward writes) and checks every answer, then the positions.
 */
async function fuzz(n: number): Promise<void> {
  const nodes = await serveEventStoreCluster(n, {
    projections: [{ name: "count", init: 0, apply: (n: number) => n + 1 }],
    storeTimeoutMs: 100,
    heartbeatMs: 50,
    serve: {
      raft: { electionTick: 50, heartbeatTick: 5, preVote: true, checkQuorum: true },
      requestTimeoutMs: 2000,
      maxBodyBytes: 4096,
    },
  });
  const acked = new Map<string, Acknowledged>();
  const statuses = new Map<number, number>();
  let replays = 0;
  const electionAnswers: string[] = [];
  try {
    await Promise.all(nodes.map((s) => s.node.waitForLeader(5000)));
    const term = Math.max(...nodes.map((s) => s.node.status().term));
    let lastAppend: FuzzRequest | undefined;
    const send = async (sent: FuzzRequest): Promise<void> => {
      const r = sent.repeat && lastAppend !== undefined ? lastAppend : sent;
      const qs = new URLSearchParams(r.query).toString();
      let url: URL;
      try {
        url = new URL(`${nodes[sent.at % n]!.url}${r.path}${qs === "" ? "" : `?${qs}`}`);
      } catch {
        return; // Not a URL a client could send.
      }
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (r.expected !== undefined) headers["expected-revision"] = r.expected;
      const withBody = r.method !== "GET" && r.method !== "HEAD";
      const res = await fetch(url, {
        method: r.method,
        headers,
        redirect: "manual",
        body: withBody ? r.body ?? null : null,
      });
      const what = `${r.method} ${url.host}${url.pathname}${url.search} ${
        r.body ?? ""
      } -> ${res.status}`;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const sse = res.headers.get("content-type")?.startsWith("text/event-stream") ?? false;
      if (sse) {
        assert.equal(res.status, 200, what);
        await res.body?.cancel();
        return;
      }
      const text = await res.text();
      if (r.method === "HEAD") {
        assert.equal(text, "", what);
        assert.ok(
          res.status < 500 || (res.status === 504 && "minPosition" in r.query) ||
            (res.status === 503 && n > 1 && r.query.consistency === "leader"),
          what,
        );
        return;
      }
      // A wait for a position not reached yet ends in a timeout; nothing else is a server error.
      if (res.status === 504 && "minPosition" in r.query) {
        assert.equal(JSON.parse(text).error, "timeout", what);
        return;
      }
      // A follower refuses reads at consistency=leader, naming the leader.
      if (res.status === 503 && n > 1 && r.query.consistency === "leader") {
        assert.equal(JSON.parse(text).error, "not_leader", what);
        return;
      }
      // Answers of an election (a busy machine can stall a node past its timeout): checked below.
      if (n > 1 && [502, 503, 504].includes(res.status)) {
        const code = JSON.parse(text).error;
        assert.ok(
          ["no_leader", "forward_failed", "timeout", "outcome_unknown"].includes(code),
          what,
        );
        electionAnswers.push(what);
        return;
      }
      assert.ok(res.status < 500, `${what}: ${text}`);
      if (res.status === 307) return;
      const json = JSON.parse(text);
      if (res.status >= 400) {
        assert.equal(typeof json.error, "string", `${what}: ${text}`);
        assert.equal(typeof json.message, "string", `${what}: ${text}`);
        // A specific code, not the catch-alls for errors no check foresaw.
        assert.ok(!["internal", "invalid_request"].includes(json.error), `${what}: ${text}`);
        if (Deno.env.get("FUZZ_CODES")) console.log(res.status, json.error, json.message);
      }
      if (r.method === "POST" && (res.status === 201 || res.status === 200)) {
        const a = json as Acknowledged;
        const key = `${a.stream}@${a.position}`;
        const before = acked.get(key);
        if (res.status === 201) {
          assert.equal(before, undefined, `${what}: position written twice`);
          lastAppend = { ...r, expected: undefined };
        } else {
          assert.deepEqual(before, a, `${what}: a replay answers the original result`);
          replays++;
        }
        acked.set(key, a);
      }
    };
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 6 }), async (rs) => {
        for (const r of rs) await send(r);
      }),
      { numRuns: 150 },
    );
    if (Deno.env.get("FUZZ_CODES")) console.log("statuses", JSON.stringify([...statuses]));
    // The fuzz reached the interesting answers, not only refusals.
    for (const s of [200, 201, 400, 404, 409]) {
      assert.ok((statuses.get(s) ?? 0) > 0, `no ${s} in ${JSON.stringify([...statuses])}`);
    }
    assert.ok(replays > 0, "no append was retried");
    if (electionAnswers.length > 0) {
      // Only while leadership changed hands; a write answered so may have been done.
      const now = Math.max(...nodes.map((s) => s.node.status().term));
      assert.ok(now > term, `no election, yet: ${electionAnswers.join("; ")}`);
    }
    // Acknowledged appends tile the positions from 0 up: no gap (unless a write's outcome was
    // not known), no position twice.
    const ranges = [...acked.values()]
      .map((a) => [a.position - (a.lastRevision - a.firstRevision), a.position] as const)
      .sort((x, y) => x[0] - y[0]);
    let next = 0;
    for (const [lo, hi] of ranges) {
      if (electionAnswers.length === 0) {
        assert.equal(lo, next, `positions ${JSON.stringify(ranges)}`);
      } else assert.ok(lo >= next, `positions ${JSON.stringify(ranges)}`);
      next = hi + 1;
    }
    const all = await (await fetch(`${nodes[0]!.url}/all?limit=10000&consistency=linearizable`))
      .json();
    const positions = all.events.map((e: { position: number }) => e.position);
    assert.ok(positions.every((p: number, i: number) => i === 0 || p > positions[i - 1]));
    if (electionAnswers.length === 0) assert.ok((positions.at(-1) ?? -1) < next);
  } finally {
    await Promise.all(nodes.map((s) => s.stop()));
  }
}

Deno.test("random requests to a node's event store API get no server error, JSON refusals, and gapless acknowledged positions", () =>
  fuzz(1));

Deno.test("random requests to any node of a three-node cluster (followers forward writes) get the same", () =>
  fuzz(3));
