import assert from "node:assert/strict";
import { CompactedError, UnavailableError } from "../core/errors.ts";
import { CONF, hookFs, range, sameEntry, withStorage } from "./_fs_hooks_test.ts";

// A follower holds entries 1..40 (term 1, 1..20 committed) in several segments and installs
// a snapshot at 60 (term 2) that its log does not hold: the whole log is replaced. Meanwhile
// the event store may read committed entries (say 10) and Raft may ask term(i). Every read
// must give the old entry / old term or CompactedError, never another error or a bogus value.
for (const cacheBytes of [0, 1 << 20]) {
  Deno.test(`reads during a log-replacing snapshot install give the old entry or CompactedError (cache ${cacheBytes})`, async () => {
    await withStorage({ segmentBytes: 512, cacheBytes, preallocateBytes: 0 }, async (s) => {
      const old = range(1, 41, 1);
      for (let i = 0; i < 40; i += 5) await s.save({ entries: old.slice(i, i + 5) });
      await s.save({ hardState: { term: 1, vote: "n1", commit: 20 }, entries: [] });
      const problems: string[] = [];
      const probe = (label: string) => {
        for (const i of [2, 10, 20, 39]) {
          try {
            const got = s.entries(i, i + 1)[0];
            if (!sameEntry(got, old[i - 1]!)) {
              problems.push(
                `${label}: entries(${i}) -> ${
                  JSON.stringify(got && { i: got.index, t: got.term })
                }`,
              );
            }
          } catch (e) {
            if (!(e instanceof CompactedError || e instanceof UnavailableError)) {
              problems.push(
                `${label}: entries(${i}) threw ${(e as Error).name}: ${(e as Error).message}`,
              );
            }
          }
          try {
            const t = s.term(i);
            if (t !== 1) problems.push(`${label}: term(${i}) -> ${t}`);
          } catch (e) {
            if (!(e instanceof CompactedError || e instanceof UnavailableError)) {
              problems.push(
                `${label}: term(${i}) threw ${(e as Error).name}: ${(e as Error).message}`,
              );
            }
          }
        }
      };
      const unhook = hookFs(probe);
      try {
        await s.save({
          hardState: { term: 2, vote: "", commit: 20 },
          entries: [],
          snapshot: {
            metadata: { index: 60, term: 2, confState: CONF },
            data: new Uint8Array([7]),
          },
        });
      } finally {
        unhook();
      }
      assert.equal(s.firstIndex(), 61);
      assert.deepEqual(problems, []);
    });
  });
}

function deletedWalFds(): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      const t = Deno.readLinkSync(`/proc/self/fd/${e.name}`);
      if (t.includes(".wal") && t.endsWith("(deleted)")) out.push(t);
    } catch { /* fd closed meanwhile */ }
  }
  return out;
}

// A read of an old entry while a log-replacing install deletes the segments (before each
// delete, after closeReader) reopens the segment's reader; the Segment object is then dropped
// with its handle open: the deleted file's space is never freed until the process exits.
Deno.test("a log-replacing snapshot install leaves no handle open on a deleted segment", async () => {
  await withStorage({ segmentBytes: 512, cacheBytes: 0, preallocateBytes: 0 }, async (s) => {
    const old = range(1, 41, 1);
    for (let i = 0; i < 40; i += 5) await s.save({ entries: old.slice(i, i + 5) });
    await s.save({ hardState: { term: 1, vote: "n1", commit: 20 }, entries: [] });
    const unhook = hookFs((label) => {
      if (!label.startsWith("before remove")) return;
      try {
        s.entries(s.firstIndex(), s.lastIndex() + 1);
      } catch {
        // Compacted: expected.
      }
    });
    try {
      await s.save({
        entries: [],
        snapshot: { metadata: { index: 60, term: 2, confState: CONF }, data: new Uint8Array([7]) },
      });
    } finally {
      unhook();
    }
    assert.deepEqual(deletedWalFds(), []);
  });
});
