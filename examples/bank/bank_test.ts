/**
 * The bank against a real 3-node cluster: three event store nodes in this
 * process, each serving HTTP on a loopback port, replicating over HTTP.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RaftlogClient } from "../../eventstore/client.ts";
import { EventStore } from "../../eventstore/event_store.ts";
import { type CommandResult, EventStoreStateMachine } from "../../eventstore/state_machine.ts";
import type { RecordedEvent } from "../../eventstore/types.ts";
import type { RaftNode } from "../../raft/node.ts";
import { MemoryStorage } from "../../raft/storage/memory_storage.ts";
import { eventStoreRoutes } from "../../transport/eventstore_routes.ts";
import { type ServedNode, serveNode } from "../../transport/server.ts";
import { fetchJson, freePort, waitFor } from "../../tests/helpers.ts";
import {
  AccountExistsError,
  AccountNotFoundError,
  accountStream,
  Bank,
  InsufficientFundsError,
  TransferIdConflictError,
} from "./bank.ts";
import { EventIdConflictError } from "../../eventstore/errors.ts";
import { bankRoutes } from "./http.ts";

interface Cluster {
  readonly nodes: ServedNode<CommandResult>[];
  readonly urls: string[];
  leader(): Promise<ServedNode<CommandResult>>;
  stop(): Promise<void>;
}

async function startCluster(): Promise<Cluster> {
  const ids = ["n1", "n2", "n3"];
  const urls = ids.map(() => `http://127.0.0.1:${freePort()}`);
  const peers = Object.fromEntries(ids.map((id, i) => [id, urls[i]!]));
  const nodes = await Promise.all(ids.map((id, i) => {
    const storage = MemoryStorage.withVoters(ids);
    const sm = new EventStoreStateMachine({ storage });
    return serveNode<CommandResult>({
      id,
      hostname: "127.0.0.1",
      port: Number(new URL(urls[i]!).port),
      peers,
      clusterId: "bank-test",
      secret: "bank-test",
      storage,
      stateMachine: sm,
      tickMs: 10,
      requestTimeoutMs: 5000,
      routes: (node) => [eventStoreRoutes(new EventStore(node as RaftNode<CommandResult>, sm))],
    });
  }));
  const leader = () =>
    waitFor("a leader", () => nodes.find((n) => !n.node.stopped && n.node.role === "leader"));
  await leader();
  return {
    nodes,
    urls,
    leader,
    stop: async () => void await Promise.all(nodes.map((n) => n.stop())),
  };
}

/** A bank whose client starts at node `first` and fails over to the others. */
function bankAt(c: Cluster, first: number): Bank {
  const urls = c.urls.map((_, i) => c.urls[(first + i) % c.urls.length]!);
  return Bank.connect({ urls, retries: 30, retryDelayMs: 20 });
}

/** A small seeded generator, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every balance an account's history passes through (after each event). */
function runningBalances(events: readonly RecordedEvent[]): number[] {
  let b = 0;
  return events.map((e) => {
    const amount = (e.data as { amount?: number } | null)?.amount ?? 0;
    if (e.type === "Deposited" || e.type === "TransferReceived") b += amount;
    if (e.type === "Withdrawn" || e.type === "TransferSent") b -= amount;
    return b;
  });
}

Deno.test("Bank on a 3-node cluster: concurrent transfers through every node, across a leader stop, never overdraw and conserve money", async () => {
  const c = await startCluster();
  try {
    const seed = Date.now() % 100_000;
    const rand = prng(seed);
    const accounts = ["a", "b", "c", "d", "e"];
    const setup = bankAt(c, 0);
    for (const a of accounts) {
      await setup.openAccount(a, a.toUpperCase());
      await setup.deposit(a, 100);
    }
    const banks = [0, 1, 2].map((i) => bankAt(c, i));
    let done = 0, insufficient = 0;
    const completed: string[] = [];
    const plan = Array.from({ length: 8 }, (_, w) =>
      Array.from({ length: 20 }, (_, i) => {
        const from = accounts[Math.floor(rand() * accounts.length)]!;
        const others = accounts.filter((a) => a !== from);
        return {
          transferId: `t${w}-${i}`,
          from,
          to: others[Math.floor(rand() * others.length)]!,
          amount: 1 + Math.floor(rand() * 70),
        };
      }));
    const workers = plan.map(async (transfers, w) => {
      const bank = banks[w % banks.length]!;
      for (const t of transfers) {
        try {
          const r = await bank.transfer(t.from, t.to, t.amount, { transferId: t.transferId });
          assert.ok(r.fromBalance >= 0, `seed ${seed}: ${t.transferId} left ${r.fromBalance}`);
          completed.push(t.transferId);
        } catch (e) {
          if (!(e instanceof InsufficientFundsError)) throw e;
          insufficient++;
        }
        done++;
      }
    });
    // Halfway, the leader stops; clients fail over and retry with the same ids.
    await waitFor("half the transfers", () => done >= 80, 30_000);
    const old = await c.leader();
    await old.stop();
    await Promise.all(workers);
    assert.ok(completed.length > 20, `seed ${seed}: only ${completed.length} transfers completed`);
    assert.ok(insufficient > 0, `seed ${seed}: the amounts should sometimes exceed a balance`);

    // Read everything back from a node that stayed up.
    const check = Bank.connect({ urls: c.urls.filter((u) => u !== old.url) });
    let total = 0;
    const sent = new Map<string, number>(), received = new Map<string, number>();
    for (const a of accounts) {
      const history = await check.history(a);
      const balances = runningBalances(history);
      assert.ok(balances.every((b) => b >= 0), `seed ${seed}: ${a} went negative: ${balances}`);
      const acct = await check.getAccount(a);
      assert.equal(acct.balance, balances.at(-1));
      total += acct.balance;
      for (const e of history) {
        const id = (e.data as { transferId?: string }).transferId;
        if (e.type === "TransferSent") sent.set(id!, (sent.get(id!) ?? 0) + 1);
        if (e.type === "TransferReceived") received.set(id!, (received.get(id!) ?? 0) + 1);
      }
    }
    assert.equal(total, 100 * accounts.length, `seed ${seed}: money was created or lost`);
    assert.deepEqual([...sent.keys()].sort(), [...completed].sort(), `seed ${seed}: debits`);
    assert.deepEqual([...received.keys()].sort(), [...completed].sort(), `seed ${seed}: credits`);
    assert.ok([...sent.values(), ...received.values()].every((n) => n === 1));
    assert.equal(await check.settlePendingTransfers(), 0);
  } finally {
    await c.stop();
  }
});

Deno.test("Bank on a 3-node cluster: 20 concurrent withdrawals of 10 from 100, through three nodes: exactly 10 succeed", async () => {
  const c = await startCluster();
  try {
    const banks = [0, 1, 2].map((i) => bankAt(c, i));
    await banks[0]!.openAccount("alice", "Alice");
    await banks[0]!.deposit("alice", 100);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => banks[i % 3]!.withdraw("alice", 10)),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const rejected = results.filter((r) => r.status === "rejected");
    assert.equal(ok.length, 10);
    assert.ok(rejected.every((r) => r.reason instanceof InsufficientFundsError));
    assert.equal((await banks[1]!.getAccount("alice")).balance, 0);
    const history = await banks[2]!.history("alice");
    assert.equal(history.filter((e) => e.type === "Withdrawn").length, 10);
  } finally {
    await c.stop();
  }
});

Deno.test("Bank: retries with the same operation or transfer id apply once; settlePendingTransfers completes a debit left without its credit", async () => {
  const c = await startCluster();
  try {
    const bank = bankAt(c, 1);
    await bank.openAccount("alice", "Alice");
    await bank.openAccount("bob", "Bob");
    await assert.rejects(bank.openAccount("bob", "Bob"), AccountExistsError);
    await assert.rejects(bank.getAccount("carol"), AccountNotFoundError);
    await assert.rejects(bank.transfer("alice", "carol", 1), AccountNotFoundError);

    // The same deposit twice (say, the caller timed out and retried), from two processes.
    await bank.deposit("alice", 50, { operationId: "dep-1" });
    await bankAt(c, 2).deposit("alice", 50, { operationId: "dep-1" });
    assert.equal((await bank.getAccount("alice")).balance, 50);

    await bank.transfer("alice", "bob", 20, { transferId: "tx-1" });
    await bankAt(c, 0).transfer("alice", "bob", 20, { transferId: "tx-1" });
    assert.equal((await bank.getAccount("alice")).balance, 30);
    assert.equal((await bank.getAccount("bob")).balance, 20);

    // A process that wrote the debit and died before the credit.
    const client = new RaftlogClient({ urls: c.urls });
    await client.append(accountStream("alice"), {
      id: "tx-2:debit",
      type: "TransferSent",
      data: { transferId: "tx-2", to: "bob", amount: 30 },
    }, { expectedRevision: (await bank.getAccount("alice")).revision });
    assert.equal((await bank.getAccount("bob")).balance, 20);
    assert.equal(await bank.settlePendingTransfers(), 1);
    assert.equal(await bankAt(c, 2).settlePendingTransfers(), 0);
    assert.equal((await bank.getAccount("alice")).balance, 0);
    assert.equal((await bank.getAccount("bob")).balance, 50);
    await assert.rejects(bank.withdraw("alice", 1), InsufficientFundsError);

    // A retry with the id of a debit left without its credit, but another amount or
    // destination, is refused: crediting what the request says would create money.
    await bank.deposit("bob", 100, { operationId: "dep-2" });
    await client.append(accountStream("bob"), {
      id: "tx-3:debit",
      type: "TransferSent",
      data: { transferId: "tx-3", to: "alice", amount: 10 },
    }, { expectedRevision: (await bank.getAccount("bob")).revision });
    await assert.rejects(
      bank.transfer("bob", "alice", 5000, { transferId: "tx-3" }),
      TransferIdConflictError,
    );
    // The id of another account's transfer: the store refuses the debit (ids are unique).
    await assert.rejects(
      bank.transfer("bob", "alice", 10, { transferId: "tx-1" }),
      EventIdConflictError,
    );
    await bank.transfer("bob", "alice", 10, { transferId: "tx-3" }); // the real retry
    const total = (await bank.getAccount("alice")).balance + (await bank.getAccount("bob")).balance;
    assert.equal(total, 150, "deposits of 50 and 100, nothing created");
    assert.equal((await bank.getAccount("alice")).balance, 10);
  } finally {
    await c.stop();
  }
});

Deno.test("bankRoutes over a 3-node cluster answer 201, 200, 404, 409, 422 and 400", async () => {
  const c = await startCluster();
  const ac = new AbortController();
  const app = bankRoutes(bankAt(c, 2));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    app.fetch,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const post = (path: string, body: unknown) =>
    fetchJson(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  try {
    assert.equal((await post("/accounts", { id: "alice", owner: "Alice" })).status, 201);
    assert.equal((await post("/accounts", { id: "bob", owner: "Bob" })).status, 201);
    assert.equal((await post("/accounts", { id: "bob", owner: "Bob" })).status, 409);
    const dep = await post("/accounts/alice/deposits", { amount: 100, operationId: "d1" });
    assert.deepEqual([dep.status, dep.body.balance], [200, 100]);
    const t = await post("/transfers", { from: "alice", to: "bob", amount: 60 });
    assert.deepEqual([t.status, t.body.fromBalance], [201, 40]);
    const over = await post("/transfers", { from: "alice", to: "bob", amount: 60 });
    assert.deepEqual([over.status, over.body.error, over.body.balance], [
      422,
      "insufficient_funds",
      40,
    ]);
    assert.equal((await post("/accounts/alice/withdrawals", { amount: 41 })).status, 422);
    assert.equal((await post("/accounts/alice/withdrawals", { amount: -1 })).status, 400);
    assert.equal((await post("/transfers", { from: "alice", to: "zed", amount: 1 })).status, 404);
    assert.equal((await fetchJson(`${base}/accounts/zed`)).status, 404);
    const bob = await fetchJson(`${base}/accounts/bob`);
    assert.deepEqual([bob.status, bob.body.balance], [200, 60]);
    const h = await fetchJson(`${base}/accounts/bob/history`);
    assert.deepEqual(
      (h.body.events as { type: string }[]).map((e) => e.type),
      ["AccountOpened", "TransferReceived"],
    );
    // Ids name one operation: another transfer under a transfer's id, or an operation id
    // already used on another account, is 409.
    const x1 = { from: "alice", to: "bob", amount: 10, transferId: "x1" };
    assert.equal((await post("/transfers", x1)).status, 201);
    assert.equal((await post("/transfers", x1)).status, 201);
    const other = await post("/transfers", { ...x1, amount: 20 });
    assert.deepEqual([other.status, other.body.error], [409, "transfer_id_conflict"]);
    const reused = await post("/accounts/bob/deposits", { amount: 5, operationId: "d1" });
    assert.deepEqual([reused.status, reused.body.error], [409, "operation_id_conflict"]);
    const both = await Promise.all(["alice", "bob"].map((a) => fetchJson(`${base}/accounts/${a}`)));
    assert.deepEqual(both.map((r) => r.body.balance), [30, 70]);
  } finally {
    ac.abort();
    await server.finished;
    await c.stop();
  }
});
