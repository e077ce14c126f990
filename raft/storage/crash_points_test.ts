/**
 * Crash states found by simulating power loss and kills at each file
 * operation: each test builds the directory such a crash leaves and checks
 * that reopening keeps what was acknowledged.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ConfState, Entry } from "../core/types.ts";
import { confStateOf } from "../core/conf_state.ts";
import { FileStorage } from "./file_storage.ts";
import { writeSnapshotFile } from "./snapshot_file.ts";
import { CrashSim, writeImage } from "./_crash_sim_test.ts";

const CONF: ConfState = confStateOf(["n1"]);
const quiet = () => {};

function ent(index: number, term: number, size = 64): Entry {
  return { index, term, type: "normal", data: new Uint8Array(size).fill(index & 0xff) };
}

function copyDir(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const e of Deno.readDirSync(from)) {
    if (e.isFile && e.name !== "LOCK") Deno.copyFileSync(join(from, e.name), join(to, e.name));
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftlog-crash-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const preallocateBytes of [0, 4096]) {
  Deno.test(`compaction keeps the acknowledged term and vote durable through a power loss (zeros ahead: ${preallocateBytes})`, async () => {
    await withDir(async (root) => {
      const dir = join(root, "live");
      const s = await FileStorage.open(dir, {
        bootstrap: CONF,
        segmentBytes: 100,
        preallocateBytes,
        logger: quiet,
      });
      // Segment A: a new term and vote with entries 1-3. Segment B: entries 4-6, synced.
      await s.save({
        hardState: { term: 2, vote: "n1", commit: 0 },
        entries: [ent(1, 2), ent(2, 2), ent(3, 2)],
      }, { sync: true });
      await s.save({ entries: [ent(4, 2), ent(5, 2), ent(6, 2)] }, { sync: true });
      const segments = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
        n.endsWith(".wal")
      )
        .sort();
      assert.equal(segments.length, 2, `segments: ${segments}`);
      const lastDurable = Deno.readFileSync(join(dir, segments[1]!));
      // A commit-only change is saved without sync (Raft does not need it durable). Then a
      // snapshot, and compaction deletes segment A, which held the term and vote.
      await s.save({ hardState: { term: 2, vote: "n1", commit: 6 }, entries: [] }, { sync: false });
      await s.createSnapshot(3, CONF, new Uint8Array([1]));
      await s.compact(3);
      assert.ok(!Deno.readDirSync(dir).some((e) => e.name === segments[0]), "segment A deleted");
      // Power loss: segment B as it was at its last sync by a save (the commit-only write
      // lost), everything else as it is.
      const crashed = join(root, "crashed");
      copyDir(dir, crashed);
      Deno.writeFileSync(join(crashed, segments[1]!), lastDurable);
      await s.close();
      const r = await FileStorage.open(crashed, { logger: quiet });
      try {
        const hs = r.initialState().hardState;
        assert.equal(hs.term, 2, `term lost: ${JSON.stringify(hs)}`);
        assert.equal(hs.vote, "n1", `vote lost: ${JSON.stringify(hs)}`);
      } finally {
        await r.close();
      }
    });
  });
}

Deno.test("open finishes a snapshot install a kill cut short while the hard state file was written", async () => {
  await withDir(async (dir) => {
    const s = await FileStorage.open(dir, { bootstrap: CONF, logger: quiet });
    await s.save({
      hardState: { term: 2, vote: "n1", commit: 1 },
      entries: [ent(1, 2), ent(2, 2), ent(3, 2)],
    });
    await s.close();
    // What a kill inside the install of a snapshot at 10 (beyond the log) leaves: the snapshot
    // file written, hardstate.tmp being written, no segment deleted yet.
    await writeSnapshotFile(dir, {
      metadata: { index: 10, term: 2, confState: CONF },
      data: new Uint8Array([7]),
    });
    Deno.writeFileSync(join(dir, "hardstate.tmp"), new Uint8Array([1, 2, 3]));
    const r = await FileStorage.open(dir, { logger: quiet });
    try {
      assert.equal(r.lastIndex(), 10);
      assert.equal(r.initialState().hardState.term, 2);
      assert.equal(r.initialState().hardState.vote, "n1");
      assert.ok(!Deno.readDirSync(dir).some((e) => e.name === "hardstate.tmp"));
    } finally {
      await r.close();
    }
  });
});

Deno.test("a snapshot installed with a new term never leaves a log above the node's term after a crash", async () => {
  await withDir(async (root) => {
    const dir = join(root, "live");
    Deno.mkdirSync(dir);
    // The simulator watches from the start: it knows what of each file is durable.
    const sim = new CrashSim(dir);
    sim.torn = true;
    sim.install();
    let s: FileStorage;
    let first: number;
    try {
      s = await FileStorage.open(dir, { bootstrap: CONF, logger: quiet });
      await s.save({ entries: [ent(1, 1)], hardState: { term: 1, vote: "n1", commit: 0 } });
      first = sim.images.length;
      // A leader of term 3 sends a snapshot beyond the log: term and snapshot in one save.
      await s.save({
        entries: [],
        hardState: { term: 3, vote: "", commit: 9 },
        snapshot: { metadata: { index: 9, term: 3, confState: CONF }, data: new Uint8Array([1]) },
      });
    } finally {
      sim.uninstall();
    }
    await s.close();
    const images = sim.images.slice(first);
    assert.ok(images.length > 5);
    for (const [i, img] of images.entries()) {
      const at = join(root, `img${i}`);
      writeImage(img, at);
      const r = await FileStorage.open(at, { logger: quiet });
      try {
        const hs = r.initialState().hardState;
        const last = r.term(r.lastIndex());
        assert.ok(
          last <= hs.term,
          `crash after ${img.label} [${img.kind}]: log term ${last} > term ${hs.term}`,
        );
      } finally {
        await r.close();
      }
    }
  });
});
