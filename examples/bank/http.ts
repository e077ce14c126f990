/**
 * The bank's HTTP API (Hono), over a {@link Bank}:
 *
 * ```
 * POST /accounts                  {"id","owner","operationId"?}  201 account; 409 account_exists
 * GET  /accounts/:id                                             200 account; 404 account_not_found
 * GET  /accounts/:id/history                                     200 {"events":[...]}
 * POST /accounts/:id/deposits     {"amount","operationId"?}      200 account
 * POST /accounts/:id/withdrawals  {"amount","operationId"?}      200 account; 422 insufficient_funds
 * POST /transfers                 {"from","to","amount","transferId"?}  201 transfer; 422, 404,
 *                                 409 transfer_id_conflict (the id names another transfer)
 * POST /transfers/settle                                          200 {"settled": n}
 * ```
 *
 * Amounts are positive integers (cents). Errors are
 * `{"error": "<code>", "message": "..."}`; an operation id already used on
 * another account is 409 `operation_id_conflict`.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { z } from "zod";
import { RaftlogHttpError } from "../../eventstore/client.ts";
import {
  AccountExistsError,
  AccountNotFoundError,
  type Bank,
  InsufficientFundsError,
  TransferIdConflictError,
} from "./bank.ts";
import { EventIdConflictError } from "../../eventstore/errors.ts";

const id = z.string().regex(/^[A-Za-z0-9_.@=~-]{1,64}$/);
const amount = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const openSchema = z.object({ id, owner: z.string().min(1).max(200), operationId: id.optional() })
  .strict();
const moneySchema = z.object({ amount, operationId: id.optional() }).strict();
const transferSchema = z.object({ from: id, to: id, amount, transferId: id.optional() }).strict();

function fail(c: Context, e: unknown): Response {
  const body = (code: string) => ({ error: code, message: (e as Error).message });
  if (e instanceof AccountNotFoundError) return c.json(body("account_not_found"), 404);
  if (e instanceof AccountExistsError) return c.json(body("account_exists"), 409);
  if (e instanceof InsufficientFundsError) {
    return c.json({ ...body("insufficient_funds"), balance: e.balance }, 422);
  }
  if (e instanceof TransferIdConflictError) return c.json(body("transfer_id_conflict"), 409);
  // An operation id already used by an operation on another account.
  if (e instanceof EventIdConflictError) return c.json(body("operation_id_conflict"), 409);
  if (e instanceof TypeError || e instanceof RangeError) {
    return c.json(body("invalid_request"), 400);
  }
  if (e instanceof RaftlogHttpError) return c.json(body(e.code), 503);
  return c.json(body("internal"), 500);
}

async function parse<T>(c: Context, schema: z.ZodType<T>): Promise<T> {
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    throw new TypeError("Body is not valid JSON");
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
    throw new TypeError(issues.join("; "));
  }
  return r.data;
}

/**
 * The routes.
 *
 * @example
 * ```ts
 * import { Bank } from "./bank.ts";
 * import { bankRoutes } from "./http.ts";
 * import { RaftlogClient } from "../../eventstore/client.ts";
 * import { EventStore } from "../../eventstore/event_store.ts";
 * import { eventStoreRoutes } from "../../transport/eventstore_routes.ts";
 * import { MemoryStorage } from "../../raft/storage/memory_storage.ts";
 *
 * const store = await EventStore.start({ id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} }, tickMs: 5 });
 * await store.node.waitForLeader(2000);
 * const es = eventStoreRoutes(store);
 * const app = bankRoutes(new Bank(new RaftlogClient({ urls: "http://n1", fetch: (u, i) => es.request(u, i) })));
 * const post = (path: string, body: unknown) =>
 *   app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
 * console.assert((await post("/accounts", { id: "alice", owner: "Alice" })).status === 201);
 * console.assert((await post("/accounts/alice/withdrawals", { amount: 5 })).status === 422);
 * await store.stop();
 * ```
 */
export function bankRoutes(bank: Bank): Hono {
  const app = new Hono();

  app.post("/accounts", async (c) => {
    try {
      const b = await parse(c, openSchema);
      const opts = b.operationId === undefined ? {} : { operationId: b.operationId };
      return c.json(await bank.openAccount(b.id, b.owner, opts), 201);
    } catch (e) {
      return fail(c, e);
    }
  });

  app.get("/accounts/:id", async (c) => {
    try {
      return c.json(await bank.getAccount(c.req.param("id")));
    } catch (e) {
      return fail(c, e);
    }
  });

  app.get("/accounts/:id/history", async (c) => {
    try {
      const events = await bank.history(c.req.param("id"));
      return c.json({
        events: events.map((e) => ({
          revision: e.revision,
          position: e.position,
          type: e.type,
          data: e.data,
          timestamp: e.timestamp,
        })),
      });
    } catch (e) {
      return fail(c, e);
    }
  });

  app.post("/accounts/:id/deposits", async (c) => {
    try {
      const b = await parse(c, moneySchema);
      const opts = b.operationId === undefined ? {} : { operationId: b.operationId };
      return c.json(await bank.deposit(c.req.param("id"), b.amount, opts));
    } catch (e) {
      return fail(c, e);
    }
  });

  app.post("/accounts/:id/withdrawals", async (c) => {
    try {
      const b = await parse(c, moneySchema);
      const opts = b.operationId === undefined ? {} : { operationId: b.operationId };
      return c.json(await bank.withdraw(c.req.param("id"), b.amount, opts));
    } catch (e) {
      return fail(c, e);
    }
  });

  app.post("/transfers", async (c) => {
    try {
      const b = await parse(c, transferSchema);
      const opts = b.transferId === undefined ? {} : { transferId: b.transferId };
      return c.json(await bank.transfer(b.from, b.to, b.amount, opts), 201);
    } catch (e) {
      return fail(c, e);
    }
  });

  app.post("/transfers/settle", async (c) => {
    try {
      return c.json({ settled: await bank.settlePendingTransfers() });
    } catch (e) {
      return fail(c, e);
    }
  });

  return app;
}
