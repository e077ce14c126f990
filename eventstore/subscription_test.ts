import assert from "node:assert/strict";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import { EventStoreStateMachine } from "./state_machine.ts";
import { subscribePages } from "./subscription.ts";

Deno.test("a subscription waiting for a snapshot install ends when its signal aborts", async () => {
  const sm = new EventStoreStateMachine({ storage: MemoryStorage.withVoters(["n1"]) });
  let reads = 0;
  const install = new Promise<void>(() => {}); // an install that does not finish
  const ac = new AbortController();
  const it = subscribePages(sm, "$all", { signal: ac.signal }, () => (reads++, install));
  const next = it.next();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(reads, 1, "it waits for the install before reading");
  ac.abort();
  assert.deepEqual(await next, { value: undefined, done: true });
});

Deno.test("a subscription reads once no install is under way", async () => {
  const sm = new EventStoreStateMachine({ storage: MemoryStorage.withVoters(["n1"]) });
  let finish!: () => void;
  let install: Promise<void> | undefined = new Promise<void>((r) => (finish = r));
  const ac = new AbortController();
  const it = subscribePages(sm, "$all", { signal: ac.signal }, () => install);
  const next = it.next();
  install.then(() => (install = undefined));
  finish();
  assert.deepEqual(await next, { value: { kind: "caught-up", position: -1 }, done: false });
  ac.abort();
  await it.return(undefined);
});
