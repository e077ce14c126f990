/**
 * For storage tests: runs a probe at every async file operation FileStorage
 * starts (before and after it), so reads are exercised at every await point
 * of a save.
 *
 * @module
 */
import type { Entry } from "../core/types.ts";
import { confStateOf } from "../core/conf_state.ts";
import { FileStorage, type FileStorageOptions } from "./file_storage.ts";

export const CONF = confStateOf(["n1"]);
export const quiet = () => {};

export function ent(index: number, term: number, size = 32, tag = 0): Entry {
  const d = new Uint8Array(size);
  for (let i = 0; i < size; i++) d[i] = (index * 31 + i * 7 + tag * 13) & 0xff;
  return { index, term, type: "normal", data: d };
}

export function range(lo: number, hi: number, term: number, size = 32, tag = 0): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i < hi; i++) out.push(ent(i, term, size, tag));
  return out;
}

export function sameEntry(a: Entry | undefined, b: Entry): boolean {
  return a !== undefined && a.index === b.index && a.term === b.term && a.type === b.type &&
    a.data.length === b.data.length && a.data.every((x, k) => x === b.data[k]);
}

// deno-lint-ignore no-explicit-any
type AnyFn = (...a: any[]) => any;

/** Calls `probe(label)` before and after each async fs op (Deno.open/remove/rename, FsFile.sync*, truncate). */
export function hookFs(probe: (label: string) => void): () => void {
  const D = Deno as unknown as Record<string, AnyFn>;
  const P = Deno.FsFile.prototype as unknown as Record<string, AnyFn>;
  const saved: [Record<string, AnyFn>, string, AnyFn][] = [];
  let active = true;
  const wrap = (obj: Record<string, AnyFn>, name: string) => {
    const orig = obj[name]!;
    saved.push([obj, name, orig]);
    obj[name] = async function (this: unknown, ...a: unknown[]) {
      if (active) probe(`before ${name}(${typeof a[0] === "string" ? a[0].split("/").pop() : ""})`);
      const r = await orig.apply(this, a);
      if (active) probe(`after ${name}(${typeof a[0] === "string" ? a[0].split("/").pop() : ""})`);
      return r;
    };
  };
  for (const n of ["open", "remove", "rename", "writeFile"]) wrap(D, n);
  for (const n of ["syncData", "sync", "truncate"]) wrap(P, n);
  return () => {
    active = false;
    for (const [o, n, f] of saved) o[n] = f;
  };
}

export async function withStorage(
  opts: FileStorageOptions,
  fn: (s: FileStorage, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "review-fs-" });
  try {
    const s = await FileStorage.open(dir, { bootstrap: CONF, logger: quiet, ...opts });
    try {
      await fn(s, dir);
    } finally {
      await s.close().catch(() => {});
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
