/**
 * An event-sourced bank on the raftlog event store, driven over HTTP with
 * {@link RaftlogClient}. Each account is a stream `account-<id>`; its
 * balance is the fold of its events.
 *
 * Invariants, and how they hold without locks or a database:
 *
 * - **No negative balance, no double spend.** A withdrawal or a transfer's
 *   debit reads the account (its stream), checks the balance, and appends
 *   with `expectedRevision` = the revision it read. If anything was appended
 *   in between (another withdrawal, on any node, by any process), the store
 *   answers 409 and the bank reads again and decides again. Two debits can
 *   never both be decided on the same balance.
 * - **Exactly once.** Every command carries an id that becomes its event id
 *   (`operationId`, `transferId`). A retry after a timeout or a leader change
 *   is answered with the original result, and a command already in the
 *   account's history is not applied again.
 * - **Transfers complete.** A transfer is two appends: `TransferSent` on the
 *   source (the debit, guarded as above) and `TransferReceived` on the
 *   destination (a credit, which needs no guard) with event id
 *   `<transferId>:credit`. Crediting is idempotent, so if the process dies
 *   between the two, {@link Bank.settlePendingTransfers} finds debits
 *   without credits in `$all` and completes them; money is never lost or
 *   created.
 *
 * @module
 */

import { RaftlogClient, type RaftlogClientOptions } from "../../eventstore/client.ts";
import { StreamNotFoundError, WrongExpectedRevisionError } from "../../eventstore/errors.ts";
import type { EventData, RecordedEvent } from "../../eventstore/types.ts";

/**
 * An account as folded from its stream.
 *
 * @example
 * ```ts
 * import type { Account } from "./bank.ts";
 * const a: Account = { id: "alice", owner: "Alice", balance: 100, revision: 1 };
 * ```
 */
export interface Account {
  readonly id: string;
  readonly owner: string;
  /** In the smallest unit (cents); never negative. */
  readonly balance: number;
  /** Revision of the account's stream this state includes. */
  readonly revision: number;
}

/**
 * What a transfer did.
 *
 * @example
 * ```ts
 * import type { TransferResult } from "./bank.ts";
 * const t: TransferResult = { transferId: "t1", from: "alice", to: "bob", amount: 5, fromBalance: 95 };
 * ```
 */
export interface TransferResult {
  readonly transferId: string;
  readonly from: string;
  readonly to: string;
  readonly amount: number;
  /** The source account's balance right after the debit. */
  readonly fromBalance: number;
}

/**
 * The account does not exist.
 *
 * @example
 * ```ts
 * import { AccountNotFoundError } from "./bank.ts";
 * console.assert(new AccountNotFoundError("bob").message === "Account bob does not exist");
 * ```
 */
export class AccountNotFoundError extends Error {
  readonly account: string;
  constructor(account: string) {
    super(`Account ${account} does not exist`);
    this.name = "AccountNotFoundError";
    this.account = account;
  }
}

/**
 * An account with this id was opened before.
 *
 * @example
 * ```ts
 * import { AccountExistsError } from "./bank.ts";
 * console.assert(new AccountExistsError("bob").account === "bob");
 * ```
 */
export class AccountExistsError extends Error {
  readonly account: string;
  constructor(account: string) {
    super(`Account ${account} already exists`);
    this.name = "AccountExistsError";
    this.account = account;
  }
}

/**
 * A debit larger than the balance.
 *
 * @example
 * ```ts
 * import { InsufficientFundsError } from "./bank.ts";
 * const e = new InsufficientFundsError("alice", 10, 25);
 * console.assert(e.balance === 10 && e.amount === 25);
 * ```
 */
export class InsufficientFundsError extends Error {
  readonly account: string;
  readonly balance: number;
  readonly amount: number;
  constructor(account: string, balance: number, amount: number) {
    super(`Cannot debit ${amount} from account ${account}: the balance is ${balance}`);
    this.name = "InsufficientFundsError";
    this.account = account;
    this.balance = balance;
    this.amount = amount;
  }
}

/**
 * A `transferId` (or another operation id) already names a different
 * operation: another transfer's destination or amount, or an operation on
 * another account.
 *
 * @example
 * ```ts
 * import { TransferIdConflictError } from "./bank.ts";
 * const e = new TransferIdConflictError("t-1", "a transfer of 100 from bob to alice");
 * console.assert(e.transferId === "t-1" && /alice/.test(e.message));
 * ```
 */
export class TransferIdConflictError extends Error {
  readonly transferId: string;
  /** `what` says what the id already names. */
  constructor(transferId: string, what: string) {
    super(
      `Transfer id ${transferId} already names ${what}: a retry must repeat the same ` +
        `transfer, a new transfer needs a new id`,
    );
    this.name = "TransferIdConflictError";
    this.transferId = transferId;
  }
}

/**
 * Options of {@link Bank}.
 *
 * @example
 * ```ts
 * import type { BankOptions } from "./bank.ts";
 * const o: BankOptions = { maxConflictRetries: 50 };
 * ```
 */
export interface BankOptions {
  /** How often a command is re-decided after a concurrent change (409). Default 100. */
  readonly maxConflictRetries?: number;
}

/** Event types of an account stream. */
type AccountEvent =
  | { type: "AccountOpened"; data: { owner: string } }
  | { type: "Deposited"; data: { amount: number } }
  | { type: "Withdrawn"; data: { amount: number } }
  | { type: "TransferSent"; data: { transferId: string; to: string; amount: number } }
  | { type: "TransferReceived"; data: { transferId: string; from: string; amount: number } };

/** The fold of an account stream, plus the ids of the commands it holds. */
interface State {
  owner: string;
  balance: number;
  revision: number;
  ids: Set<string>;
  /** Transfers this account sent: transferId -> destination and amount. */
  sent: Map<string, { to: string; amount: number }>;
}

/**
 * The stream of an account.
 *
 * @example
 * ```ts
 * import { accountStream } from "./bank.ts";
 * console.assert(accountStream("alice") === "account-alice");
 * ```
 */
export function accountStream(id: string): string {
  return `account-${id}`;
}

function validId(what: string, v: string): void {
  if (typeof v !== "string" || !/^[A-Za-z0-9_.@=~-]{1,64}$/.test(v)) {
    throw new TypeError(`${what} must be 1-64 letters, digits or _ . @ = ~ -, got "${v}"`);
  }
}

function validAmount(v: number): void {
  if (!Number.isSafeInteger(v) || v <= 0) {
    throw new RangeError(`amount must be a positive integer (cents), got ${v}`);
  }
}

/**
 * Applies one event to a state. Events at or below the state's revision are
 * already in it (two reads of one account may overlap) and are skipped.
 */
function evolve(s: State, e: RecordedEvent): void {
  if (e.revision <= s.revision) return;
  if (e.revision !== s.revision + 1) {
    throw new Error(`Account stream ${e.stream} skipped from ${s.revision} to ${e.revision}`);
  }
  const ev = { type: e.type, data: e.data } as AccountEvent;
  s.revision = e.revision;
  s.ids.add(e.id);
  switch (ev.type) {
    case "AccountOpened":
      s.owner = ev.data.owner;
      break;
    case "Deposited":
    case "TransferReceived":
      s.balance += ev.data.amount;
      break;
    case "Withdrawn":
      s.balance -= ev.data.amount;
      break;
    case "TransferSent":
      s.balance -= ev.data.amount;
      s.sent.set(ev.data.transferId, { to: ev.data.to, amount: ev.data.amount });
      break;
  }
}

/** How an event changes a balance. */
function delta(e: AccountEvent): number {
  switch (e.type) {
    case "Deposited":
    case "TransferReceived":
      return e.data.amount;
    case "Withdrawn":
    case "TransferSent":
      return -e.data.amount;
    default:
      return 0;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The bank: commands and queries over accounts, against a raftlog cluster.
 *
 * @example
 * ```ts
 * import { Bank, InsufficientFundsError } from "./bank.ts";
 * import { RaftlogClient } from "../../eventstore/client.ts";
 * import { EventStore } from "../../eventstore/event_store.ts";
 * import { eventStoreRoutes } from "../../transport/eventstore_routes.ts";
 * import { MemoryStorage } from "../../raft/storage/memory_storage.ts";
 *
 * // A one-node store in process; against a cluster, pass its URLs instead.
 * const store = await EventStore.start({ id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} }, tickMs: 5 });
 * await store.node.waitForLeader(2000);
 * const app = eventStoreRoutes(store);
 * const bank = new Bank(new RaftlogClient({ urls: "http://n1", fetch: (u, i) => app.request(u, i) }));
 *
 * await bank.openAccount("alice", "Alice");
 * await bank.openAccount("bob", "Bob");
 * await bank.deposit("alice", 100);
 * await bank.transfer("alice", "bob", 30);
 * console.assert((await bank.getAccount("bob")).balance === 30);
 * try {
 *   await bank.withdraw("alice", 71);
 * } catch (e) {
 *   console.assert(e instanceof InsufficientFundsError);
 * }
 * await store.stop();
 * ```
 */
export class Bank {
  readonly client: RaftlogClient;
  readonly #maxRetries: number;
  /** Folded accounts, caught up by reading only the events after `revision`. */
  readonly #cache = new Map<string, State>();

  constructor(client: RaftlogClient, options: BankOptions = {}) {
    this.client = client;
    this.#maxRetries = options.maxConflictRetries ?? 100;
  }

  /** A bank over a cluster given by its node URLs. */
  static connect(options: RaftlogClientOptions, bankOptions: BankOptions = {}): Bank {
    return new Bank(new RaftlogClient(options), bankOptions);
  }

  /** Reads the account's new events and folds them into its cached state. */
  async #load(id: string): Promise<State> {
    let s = this.#cache.get(id);
    if (s === undefined) {
      s = { owner: "", balance: 0, revision: -1, ids: new Set(), sent: new Map() };
      this.#cache.set(id, s);
    }
    for (let from = s.revision + 1;;) {
      let page;
      try {
        page = await this.client.read(accountStream(id), { from, limit: 1000 });
      } catch (e) {
        if (e instanceof StreamNotFoundError) throw new AccountNotFoundError(id);
        throw e;
      }
      for (const e of page.events) evolve(s, e);
      if (page.next === null) break;
      from = page.next;
    }
    if (s.revision < 0) throw new AccountNotFoundError(id);
    return s;
  }

  /**
   * Decides a command on the account's current state and appends its event
   * with the revision it was decided on; on a concurrent change, reads the
   * new events and decides again. `decide` returns undefined when the
   * command is already in the history (a retry): nothing is appended.
   * Resolves with the account as of the command's event.
   */
  async #execute(
    id: string,
    decide: (s: Readonly<State>) => (EventData & AccountEvent) | undefined,
  ): Promise<Account> {
    for (let attempt = 0;; attempt++) {
      const s = await this.#load(id);
      const revision = s.revision, balance = s.balance;
      const event = decide(s);
      if (event === undefined) return { id, owner: s.owner, balance, revision };
      try {
        const r = await this.client.append(accountStream(id), event, {
          expectedRevision: revision,
        });
        if (r.replayed) {
          // The same command, sent before (by a retry of the caller's): report the state now.
          const now = await this.#load(id);
          return { id, owner: now.owner, balance: now.balance, revision: now.revision };
        }
        return { id, owner: s.owner, balance: balance + delta(event), revision: r.lastRevision };
      } catch (e) {
        if (!(e instanceof WrongExpectedRevisionError) || attempt >= this.#maxRetries) throw e;
        // Someone appended first: back off a little (less contention), re-read, decide again.
        await sleep(Math.random() * Math.min(50, 2 * (attempt + 1)));
      }
    }
  }

  /**
   * Opens an account with balance 0. Rejects with {@link AccountExistsError}
   * unless the account was opened by this very command (same `operationId`:
   * a retry).
   */
  async openAccount(
    id: string,
    owner: string,
    options: { operationId?: string } = {},
  ): Promise<Account> {
    validId("account id", id);
    const opId = options.operationId ?? crypto.randomUUID();
    validId("operationId", opId);
    try {
      const r = await this.client.append(
        accountStream(id),
        { id: opId, type: "AccountOpened", data: { owner } },
        { expectedRevision: "no_stream" },
      );
      if (r.replayed) return await this.getAccount(id);
    } catch (e) {
      if (e instanceof WrongExpectedRevisionError) throw new AccountExistsError(id);
      throw e;
    }
    return { id, owner, balance: 0, revision: 0 };
  }

  /** The account's current state. Rejects with {@link AccountNotFoundError}. */
  async getAccount(id: string): Promise<Account> {
    validId("account id", id);
    const s = await this.#load(id);
    return { id, owner: s.owner, balance: s.balance, revision: s.revision };
  }

  /** The account's events, oldest first. */
  async history(id: string): Promise<RecordedEvent[]> {
    validId("account id", id);
    const out: RecordedEvent[] = [];
    for (let from = 0;;) {
      let page;
      try {
        page = await this.client.read(accountStream(id), { from, limit: 1000 });
      } catch (e) {
        if (e instanceof StreamNotFoundError) throw new AccountNotFoundError(id);
        throw e;
      }
      out.push(...page.events);
      if (page.next === null) return out;
      from = page.next;
    }
  }

  /**
   * Deposits `amount`. With the same `operationId`, a retry deposits once.
   */
  async deposit(
    id: string,
    amount: number,
    options: { operationId?: string } = {},
  ): Promise<Account> {
    validId("account id", id);
    validAmount(amount);
    const opId = options.operationId ?? crypto.randomUUID();
    validId("operationId", opId);
    return await this.#execute(
      id,
      (s) => s.ids.has(opId) ? undefined : { id: opId, type: "Deposited", data: { amount } },
    );
  }

  /**
   * Withdraws `amount`, never below zero: rejects with
   * {@link InsufficientFundsError}. With the same `operationId`, a retry
   * withdraws once.
   */
  async withdraw(
    id: string,
    amount: number,
    options: { operationId?: string } = {},
  ): Promise<Account> {
    validId("account id", id);
    validAmount(amount);
    const opId = options.operationId ?? crypto.randomUUID();
    validId("operationId", opId);
    return await this.#execute(id, (s) => {
      if (s.ids.has(opId)) return undefined;
      if (s.balance < amount) throw new InsufficientFundsError(id, s.balance, amount);
      return { id: opId, type: "Withdrawn", data: { amount } };
    });
  }

  /**
   * Moves `amount` from one account to another: debits the source (guarded
   * like a withdrawal), then credits the destination. With the same
   * `transferId`, a retry transfers once.
   */
  async transfer(
    from: string,
    to: string,
    amount: number,
    options: { transferId?: string } = {},
  ): Promise<TransferResult> {
    validId("account id", from);
    validId("account id", to);
    validAmount(amount);
    if (from === to) throw new TypeError(`Cannot transfer from account ${from} to itself`);
    const transferId = options.transferId ?? crypto.randomUUID();
    validId("transferId", transferId);
    await this.#load(to); // The destination must exist before money leaves the source.
    const debitId = `${transferId}:debit`;
    const s = await this.#execute(from, (s) => {
      // A retry (the same transferId) must be the same transfer: crediting another amount or
      // account than the debit did would create money.
      const done = s.sent.get(transferId);
      if (done !== undefined) {
        if (done.to !== to || done.amount !== amount) {
          const what = `a transfer of ${done.amount} from ${from} to ${done.to}`;
          throw new TransferIdConflictError(transferId, what);
        }
        return undefined;
      }
      if (s.ids.has(debitId)) {
        throw new TransferIdConflictError(transferId, `another operation on account ${from}`);
      }
      if (s.balance < amount) throw new InsufficientFundsError(from, s.balance, amount);
      return { id: debitId, type: "TransferSent", data: { transferId, to, amount } };
    });
    await this.#credit(transferId, from, to, amount);
    return { transferId, from, to, amount, fromBalance: s.balance };
  }

  /** The credit half of a transfer; idempotent by its event id. */
  async #credit(transferId: string, from: string, to: string, amount: number): Promise<void> {
    await this.client.append(
      accountStream(to),
      { id: `${transferId}:credit`, type: "TransferReceived", data: { transferId, from, amount } },
      { expectedRevision: "stream_exists" },
    );
  }

  /**
   * Completes transfers whose debit was written but whose credit was not
   * (the process stopped in between). Safe to run at any time, from any
   * number of processes. Resolves with how many it completed.
   */
  async settlePendingTransfers(): Promise<number> {
    const sent = new Map<string, { from: string; to: string; amount: number }>();
    const received = new Set<string>();
    for (let from = 0;;) {
      const page = await this.client.readAll({
        from,
        type: ["TransferSent", "TransferReceived"],
        prefix: "account-",
        limit: 1000,
      });
      for (const e of page.events) {
        const d = e.data as { transferId: string; to?: string; amount: number };
        if (e.type === "TransferSent") {
          sent.set(d.transferId, {
            from: e.stream.slice("account-".length),
            to: d.to!,
            amount: d.amount,
          });
        } else received.add(d.transferId);
      }
      if (page.next === null) break;
      from = page.next;
    }
    let settled = 0;
    for (const [transferId, t] of sent) {
      if (received.has(transferId)) continue;
      await this.#credit(transferId, t.from, t.to, t.amount);
      settled++;
    }
    return settled;
  }
}
