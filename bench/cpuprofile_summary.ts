/**
 * Summarizes V8 `.cpuprofile` files (from `deno run --cpu-prof`): where the
 * time went, by function (self and inclusive) and by file or package.
 *
 * Run: `deno run -A bench/cpuprofile_summary.ts PATH... [--top 30] [--filter TEXT]
 * [--timeline] [--window FROM-TO]` where each PATH is a `.cpuprofile` file or
 * a directory of them (all are added up). `--filter` keeps only samples whose
 * stack has a frame whose function or file contains TEXT. `--timeline` prints
 * busy milliseconds per second of the profile; `--window 12-15` counts only
 * samples from second 12 to second 15 (to isolate one phase of a run).
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    top: { type: "string", default: "30" },
    filter: { type: "string" },
    timeline: { type: "boolean", default: false },
    window: { type: "string" },
  },
});
if (positionals.length === 0) {
  console.error("usage: cpuprofile_summary.ts PATH... [--top 30] [--filter TEXT]");
  Deno.exit(2);
}
const top = Number(values.top);
const [winFrom, winTo] = values.window === undefined
  ? [0, Infinity]
  : values.window.split("-").map((x) => Number(x) * 1000);
const timeline: number[] = [];

function files(path: string): string[] {
  if (Deno.statSync(path).isDirectory) {
    return [...Deno.readDirSync(path)].filter((e) => e.name.endsWith(".cpuprofile"))
      .map((e) => join(path, e.name)).sort();
  }
  return [path];
}

/** A short file label: package name for npm code, path below the project, ext: for Deno's own. */
function fileLabel(url: string): string {
  if (url === "") return "(native/V8)";
  const npm = /node_modules\/\.deno\/([^/]+)\/node_modules\/([^/]+(?:\/[^/]+)?)/.exec(url) ??
    /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (npm !== null) return `npm:${npm[2] ?? npm[1]}`;
  if (url.startsWith("ext:") || url.startsWith("node:")) return url.replace(/^(ext:[^/]+).*/, "$1");
  const m = /\/work\/[^/]+\/(.*)$/.exec(url) ?? /file:\/\/(.*)$/.exec(url);
  return m ? m[1]! : url;
}

function fnLabel(f: CallFrame): string {
  const name = f.functionName === "" ? "(anonymous)" : f.functionName;
  return `${name}  ${fileLabel(f.url)}:${f.lineNumber + 1}`;
}

const self = new Map<string, number>();
const incl = new Map<string, number>();
const byFile = new Map<string, number>();
let total = 0, wall = 0, idle = 0;
for (const path of positionals.flatMap(files)) {
  const p = JSON.parse(Deno.readTextFileSync(path)) as Profile;
  wall += (p.endTime - p.startTime) / 1000;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackCache = new Map<number, CallFrame[]>();
  const stackOf = (id: number): CallFrame[] => {
    let s = stackCache.get(id);
    if (s === undefined) {
      const up = parent.get(id);
      s = [...(up === undefined ? [] : stackOf(up)), byId.get(id)!.callFrame];
      stackCache.set(id, s);
    }
    return s;
  };
  let at = 0; // ms since the profile's start
  for (let i = 0; i < p.samples.length; i++) {
    at += (p.timeDeltas[i] ?? 0) / 1000;
    if (at < winFrom! || at > winTo!) continue;
    const ms = (p.timeDeltas[i + 1] ?? 0) / 1000;
    const id = p.samples[i]!;
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === "(idle)") {
      idle += ms;
      continue;
    }
    const stack = stackOf(id);
    if (
      values.filter !== undefined &&
      !stack.some((f) => f.functionName.includes(values.filter!) || f.url.includes(values.filter!))
    ) continue;
    total += ms;
    const second = Math.floor(at / 1000);
    timeline[second] = (timeline[second] ?? 0) + ms;
    const key = fnLabel(frame);
    self.set(key, (self.get(key) ?? 0) + ms);
    const file = frame.functionName.startsWith("(") && frame.url === ""
      ? frame.functionName
      : fileLabel(frame.url);
    byFile.set(file, (byFile.get(file) ?? 0) + ms);
    for (const k of new Set(stack.map(fnLabel))) incl.set(k, (incl.get(k) ?? 0) + ms);
  }
}

const pct = (ms: number) => `${(100 * ms / total).toFixed(1).padStart(5)}%`;
const show = (title: string, m: Map<string, number>, n: number) => {
  console.log(`\n${title}`);
  for (const [k, ms] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(`${pct(ms)} ${ms.toFixed(0).padStart(8)} ms  ${k}`);
  }
};
console.log(
  `${positionals.join(" ")}: ${total.toFixed(0)} ms busy (${
    values.filter ? `samples with "${values.filter}", ` : ""
  }${idle.toFixed(0)} ms idle) over ${wall.toFixed(0)} ms of profile`,
);
if (values.timeline) {
  console.log("\nBusy ms per second of profile");
  console.log([...timeline].map((ms, s) => `${s}s:${Math.round(ms ?? 0)}`).join(" "));
}
show("By file or package (self time)", byFile, top);
show("By function, self time", self, top);
show("By function, inclusive time", incl, top);
