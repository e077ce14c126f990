/**
 * Crash fuzzing of FileStorage: random workloads (appends, commit-only
 * saves without sync, new terms replacing uncommitted suffixes, snapshots
 * and compaction, leader snapshot installs, reopens, snapshots written
 * alongside saves) run under the crash simulator; every image a kill or a
 * power loss could leave must open, and hold a log and hard state between
 * the last acknowledged (synced) state and the state after the operation in
 * progress, with the last log term never above the hard state's term.
 * `CRASH_SEEDS=n CRASH_SEED0=s` run more seeds; a failure names its seed.
 */
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { FileStorage } from "./file_storage.ts";
import type { ConfState, Entry, HardState } from "../core/types.ts";
import { confStateOf } from "../core/conf_state.ts";
import { CrashSim, writeImage } from "./_crash_sim_test.ts";

const CONF: ConfState = confStateOf(["n1", "n2", "n3"]);
const quiet = () => {};

function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

interface MEnt {
  term: number;
  crc: number;
  len: number;
}
interface State {
  log: (MEnt | null)[];
  lastIndex: number;
  hs: HardState;
  label: string;
}

function clone(s: State, label: string): State {
  return { log: s.log.slice(), lastIndex: s.lastIndex, hs: { ...s.hs }, label };
}

async function runSeed(
  seed: number,
  opts: { segmentBytes: number; preallocateBytes: number; ops: number },
): Promise<string[]> {
  const rnd = prng(seed);
  const root = await Deno.makeTempDir({ prefix: "rv-fuzz-" });
  const dir = join(root, "live");
  Deno.mkdirSync(dir);
  const sim = new CrashSim(dir);
  sim.torn = true;
  const failures: string[] = [];
  const history: State[] = [{
    log: [null],
    lastIndex: 0,
    hs: { term: 0, vote: "", commit: 0 },
    label: "init",
  }];
  const ackAt: number[] = []; // per op k: earliest valid history index
  let ack = 0;
  let cur = history[0]!;
  let snapIndex = 0;
  const opState: number[] = [];
  sim.tag = -1;
  sim.install();
  let s: FileStorage;
  try {
    s = await FileStorage.open(dir, {
      bootstrap: CONF,
      segmentBytes: opts.segmentBytes,
      preallocateBytes: opts.preallocateBytes,
      logger: quiet,
    });
    const mk = (index: number, term: number): { e: Entry; m: MEnt } => {
      const len = rnd(4) === 0 ? 0 : rnd(300);
      const data = new Uint8Array(len);
      for (let i = 0; i < len; i++) data[i] = rnd(256);
      return { e: { index, term, type: "normal", data }, m: { term, crc: crc32(data), len } };
    };
    // `n` new entries after `cur`'s last, recorded in `next` (the first term begins with them).
    const appendTo = (cur: State, next: State, n: number): Entry[] => {
      const ents: Entry[] = [];
      for (let i = 0; i < n; i++) {
        const { e, m } = mk(cur.lastIndex + 1 + i, cur.hs.term || 1);
        ents.push(e);
        next.log[e.index] = m;
      }
      next.lastIndex = cur.lastIndex + n;
      if (cur.hs.term === 0) next.hs = { term: 1, vote: "n1", commit: cur.hs.commit };
      return ents;
    };
    for (let k = 0; k < opts.ops; k++) {
      sim.tag = k;
      ackAt[k] = ack;
      opState[k] = history.length - 1;
      const next = clone(cur, "");
      const choice = rnd(100);
      let synced = true;
      let label = "";
      if (choice < 12) {
        const sub = rnd(3);
        if (sub === 0) {
          label = "reopen";
          await s.close();
          s = await FileStorage.open(dir, {
            segmentBytes: opts.segmentBytes,
            preallocateBytes: opts.preallocateBytes,
            logger: quiet,
          });
        } else if (sub === 1) {
          // unsynced append (API allows it)
          const ents = appendTo(cur, next, 1 + rnd(3));
          const hsChanged = JSON.stringify(next.hs) !== JSON.stringify(cur.hs);
          synced = false;
          label = `append ${ents[0]!.index}..${next.lastIndex} (sync false)`;
          await s.save({ entries: ents, ...(hsChanged ? { hardState: next.hs } : {}) }, {
            sync: false,
          });
        } else {
          // snapshot written concurrently with an append
          if (cur.hs.commit <= snapIndex) continue;
          const at = cur.hs.commit;
          const e = appendTo(cur, next, 1)[0]!;
          const hsChanged = JSON.stringify(next.hs) !== JSON.stringify(cur.hs);
          label = `concurrent createSnapshot ${at} + append ${e.index}`;
          const big = new Uint8Array(200000 + rnd(1000));
          const p1 = s.createSnapshot(at, CONF, big);
          const p2 = s.save({ entries: [e], ...(hsChanged ? { hardState: next.hs } : {}) }, {
            sync: true,
          });
          await Promise.all([p1, p2]);
          snapIndex = at;
        }
      } else if (choice < 40) {
        // leader/follower append, maybe with commit advance
        const ents = appendTo(cur, next, 1 + rnd(4));
        if (rnd(2) === 0 && cur.lastIndex > cur.hs.commit) {
          next.hs = { ...next.hs, commit: cur.lastIndex };
        }
        const hsChanged = JSON.stringify(next.hs) !== JSON.stringify(cur.hs);
        label = `append ${ents[0]!.index}..${next.lastIndex}${
          hsChanged ? " hs " + JSON.stringify(next.hs) : ""
        }`;
        await s.save({ entries: ents, ...(hsChanged ? { hardState: next.hs } : {}) }, {
          sync: true,
        });
      } else if (choice < 55) {
        if (cur.lastIndex <= cur.hs.commit) continue;
        next.hs = { ...cur.hs, commit: cur.lastIndex };
        synced = false;
        label = `commit-only ${next.hs.commit} (sync false)`;
        await s.save({ entries: [], hardState: next.hs }, { sync: false });
      } else if (choice < 70) {
        // new term, maybe replacing an uncommitted suffix
        const term = (cur.hs.term || 1) + 1;
        next.hs = { term, vote: ["n1", "n2", "n3"][rnd(3)]!, commit: cur.hs.commit };
        const ents: Entry[] = [];
        if (rnd(3) > 0) {
          const from = cur.hs.commit + 1 + rnd(cur.lastIndex - cur.hs.commit + 1);
          const n = 1 + rnd(3);
          for (let i = 0; i < n; i++) {
            const { e, m } = mk(from + i, term);
            ents.push(e);
            next.log[e.index] = m;
          }
          next.log.length = from + n;
          next.lastIndex = from + n - 1;
        }
        label = `term ${term} vote ${next.hs.vote}${
          ents.length ? ` entries ${ents[0]!.index}..${next.lastIndex}` : ""
        }`;
        await s.save({ entries: ents, hardState: next.hs }, { sync: true });
      } else if (choice < 85) {
        if (cur.hs.commit <= snapIndex) continue;
        const at = cur.hs.commit;
        label = `createSnapshot ${at} + compact`;
        await s.createSnapshot(at, CONF, new Uint8Array([at & 0xff]));
        snapIndex = at;
        const first = s.firstIndex();
        const upTo = first + rnd(at - first + 1);
        label += ` ${upTo}`;
        if (upTo >= first) await s.compact(upTo);
      } else {
        // leader snapshot beyond the log (or matching it)
        const term = cur.hs.term || 1;
        let idx: number;
        let sterm: number;
        if (rnd(2) === 0 && cur.lastIndex > cur.hs.commit && cur.log[cur.lastIndex] !== null) {
          idx = cur.hs.commit + 1 + rnd(cur.lastIndex - cur.hs.commit);
          sterm = cur.log[idx]!.term;
        } else {
          idx = cur.lastIndex + 1 + rnd(3);
          sterm = term;
          for (let i = 1; i <= idx; i++) next.log[i] = null;
          next.log.length = idx + 1;
          next.lastIndex = idx;
        }
        next.hs = { ...cur.hs, term, vote: cur.hs.vote || "n1", commit: idx };
        label = `install snapshot ${idx} term ${sterm}`;
        await s.save({
          entries: [],
          hardState: next.hs,
          snapshot: {
            metadata: { index: idx, term: sterm, confState: CONF },
            data: new Uint8Array([1, 2]),
          },
        }, { sync: true });
        snapIndex = Math.max(snapIndex, idx);
      }
      next.label = label;
      history.push(next);
      cur = next;
      // history index of state after this op = history.length - 1
      if (synced) ack = history.length - 1;
      // relabel: images tagged k refer to op k whose state is history.length-1
      opState[k] = history.length - 1;
    }
    sim.tag = opts.ops;
    ackAt[opts.ops] = ack;
    await s.close();
  } finally {
    sim.uninstall();
  }
  // verify images
  const seen = new Set<string>();
  let n = 0;
  for (const img of sim.images) {
    const k = img.tag as number;
    const key = [...img.files].map(([nm, b]) =>
      nm + ":" + b.length + ":" + crc32(b)
    ).sort().join("|") + "@" + k;
    if (seen.has(key)) continue;
    seen.add(key);
    const lo = k < 0 ? 0 : ackAt[k] ?? ack;
    const hi = k < 0 ? 0 : opState[k] ?? history.length - 1;
    // states valid: history[lo..hi] where hi is the state after op k (or the previous one if op skipped)
    const valid = history.slice(lo, Math.max(lo, hi) + 1);
    const idir = join(root, `img${n++}`);
    writeImage(img, idir);
    const where = `seed ${seed} op ${k} (${
      history[hi]?.label
    }) crash after ${img.label} [${img.kind}]`;
    let r: FileStorage;
    try {
      r = await FileStorage.open(idir, { logger: quiet });
    } catch (e) {
      failures.push(`${where}: open failed: ${(e as Error).message}`);
      continue;
    }
    try {
      const fi = r.firstIndex();
      const li = r.lastIndex();
      const hs = r.initialState().hardState;
      const ents = li >= fi ? r.entries(fi, li + 1) : [];
      const logOk = valid.some((st) => {
        if (st.lastIndex !== li) return false;
        for (const e of ents) {
          const m = st.log[e.index];
          if (m === undefined) return false;
          if (m === null) continue;
          if (m.term !== e.term || m.len !== e.data.length || m.crc !== crc32(e.data)) return false;
        }
        return true;
      });
      const hsOk = valid.some((st) => st.hs.term === hs.term && st.hs.vote === hs.vote);
      const lastTerm = r.term(li);
      if (!logOk) {
        failures.push(
          `${where}: log ${fi}..${li} terms [${
            ents.map((e) => e.term).join(",")
          }] matches none of states ${lo}..${hi}: ${
            valid.map((v) =>
              `${v.label}: last ${v.lastIndex} terms [${
                v.log.slice(fi, v.lastIndex + 1).map((m) => m?.term ?? "?").join(",")
              }]`
            ).join(" ; ")
          }`,
        );
      }
      if (!hsOk) {
        failures.push(
          `${where}: hard state ${JSON.stringify(hs)} matches none of ${
            valid.map((v) => JSON.stringify(v.hs)).join(" ")
          }`,
        );
      }
      if (lastTerm > hs.term) {
        failures.push(`${where}: last log term ${lastTerm} > hard state term ${hs.term}`);
      }
    } catch (e) {
      failures.push(`${where}: read failed: ${(e as Error).message}`);
    } finally {
      await r.close();
    }
  }
  await Deno.remove(root, { recursive: true });
  return failures;
}

const SEEDS = Number(Deno.env.get("CRASH_SEEDS") ?? 4);
const SEED0 = Number(Deno.env.get("CRASH_SEED0") ?? 1);
for (
  const cfg of [
    { segmentBytes: 400, preallocateBytes: 0, ops: 25 },
    { segmentBytes: 600, preallocateBytes: 256, ops: 25 },
  ]
) {
  Deno.test(`crash fuzz: every power-loss/kill image opens and holds acknowledged state (seg ${cfg.segmentBytes}, prealloc ${cfg.preallocateBytes})`, async () => {
    const all: string[] = [];
    for (let seed = SEED0; seed < SEED0 + SEEDS; seed++) all.push(...await runSeed(seed, cfg));
    if (all.length > 0) {
      throw new Error(`${all.length} failures, e.g.:\n${all.slice(0, 12).join("\n")}`);
    }
  });
}
