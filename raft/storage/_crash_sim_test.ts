/**
 * A power-loss and process-kill simulator for storage tests. It wraps Deno's
 * file APIs for paths under one directory and, after every call that changes
 * a file, records two crash images: what a killed process leaves (the files
 * as they are) and what a power loss leaves (each file as of its last
 * `sync`/`syncData` through any descriptor, and the directory listing as of
 * its last fsync). With `torn`, each write also yields kill images holding
 * only a prefix of it.
 *
 * @module
 */
import { basename, join } from "node:path";

export interface Image {
  readonly label: string;
  readonly kind: "power" | "kill";
  readonly files: Map<string, Uint8Array>;
  readonly tag: unknown;
}

export class CrashSim {
  root: string;
  durable = new Map<number, Uint8Array>(); // uid -> bytes
  durableDir = new Map<string, number>(); // name -> uid (one directory)
  uidOf = new Map<number, number>(); // ino -> uid of the file that has it now
  nextUid = 1;
  uid(ino: number): number {
    let u = this.uidOf.get(ino);
    if (u === undefined) this.uidOf.set(ino, u = this.nextUid++);
    return u;
  }
  files = new WeakMap<Deno.FsFile, { path: string; isDir: boolean }>();
  images: Image[] = [];
  tag: unknown = undefined;
  enabled = true;
  #restore: (() => void)[] = [];

  constructor(root: string) {
    this.root = root;
  }

  #under(p: string | URL): boolean {
    const s = String(p);
    return s === this.root || s.startsWith(this.root + "/");
  }

  #ino(path: string): number | undefined {
    try {
      return Deno.statSync(path).ino ?? undefined;
    } catch {
      return undefined;
    }
  }

  #pathOfIno(ino: number): string | undefined {
    for (const e of Deno.readDirSync(this.root)) {
      const p = join(this.root, e.name);
      if (this.#ino(p) === ino) return p;
    }
    return undefined;
  }

  snap(label: string): void {
    if (!this.enabled) return;
    const power = new Map<string, Uint8Array>();
    for (const [name, ino] of this.durableDir) {
      power.set(name, this.durable.get(ino) ?? new Uint8Array(0));
    }
    const kill = new Map<string, Uint8Array>();
    for (const e of Deno.readDirSync(this.root)) {
      if (e.isFile) kill.set(e.name, Deno.readFileSync(join(this.root, e.name)));
    }
    this.images.push({ label, kind: "power", files: power, tag: this.tag });
    this.images.push({ label, kind: "kill", files: kill, tag: this.tag });
  }

  #syncFile(f: Deno.FsFile): void {
    const info = this.files.get(f);
    if (info === undefined) return;
    if (info.isDir) {
      this.durableDir = new Map();
      for (const e of Deno.readDirSync(this.root)) {
        if (!e.isFile || e.name === "LOCK") continue;
        this.durableDir.set(e.name, this.uid(this.#ino(join(this.root, e.name))!));
      }
    } else {
      const ino = f.statSync().ino!;
      const p = this.#pathOfIno(ino);
      if (p !== undefined) this.durable.set(this.uid(ino), Deno.readFileSync(p));
    }
  }

  /** Record kill images with torn prefixes of each `writeSync`. */
  torn = false;
  tornImages(f: Deno.FsFile, b: Uint8Array): void {
    const ino = f.statSync().ino!;
    const path = this.#pathOfIno(ino);
    if (path === undefined || b.length < 2) return;
    const pos = f.seekSync(0, Deno.SeekMode.Current);
    const name = basename(path);
    for (const cut of new Set([1, 11, 12, 20, b.length >> 1, b.length - 1])) {
      if (cut <= 0 || cut >= b.length) continue;
      const kill = new Map<string, Uint8Array>();
      for (const e of Deno.readDirSync(this.root)) {
        if (e.isFile) kill.set(e.name, Deno.readFileSync(join(this.root, e.name)));
      }
      const old = kill.get(name)!;
      const out = new Uint8Array(Math.max(old.length, pos + cut));
      out.set(old);
      out.set(b.subarray(0, cut), pos);
      kill.set(name, out);
      this.images.push({
        label: `torn write ${cut}/${b.length} at ${pos} of ${name}`,
        kind: "kill",
        files: kill,
        tag: this.tag,
      });
    }
  }

  install(): void {
    // The patched functions run with their own `this` (a file, or Deno).
    // deno-lint-ignore no-this-alias
    const sim = this;
    const D = Deno as unknown as Record<string, unknown>;
    const P = Deno.FsFile.prototype as unknown as Record<string, unknown>;
    // deno-lint-ignore no-explicit-any
    type Fn = any;
    const patch = (obj: Record<string, unknown>, name: string, make: (orig: Fn) => Fn) => {
      const orig = obj[name];
      obj[name] = make(orig);
      this.#restore.push(() => (obj[name] = orig));
    };
    const reg = (f: Deno.FsFile, path: string, existed: boolean) => {
      const isDir = f.statSync().isDirectory;
      sim.files.set(f, { path, isDir });
      if (!existed && !isDir) {
        const u = sim.nextUid++;
        sim.uidOf.set(f.statSync().ino!, u);
        sim.durable.set(u, new Uint8Array(0));
      }
    };
    patch(D, "open", (orig) =>
      async function (path: string, opts?: Deno.OpenOptions) {
        if (!sim.#under(path)) return orig.call(Deno, path, opts);
        const existed = sim.#ino(String(path)) !== undefined;
        const f = await orig.call(Deno, path, opts);
        reg(f, String(path), existed);
        if (!existed) sim.snap(`create ${basename(String(path))}`);
        return f;
      });
    patch(D, "openSync", (orig) =>
      function (path: string, opts?: Deno.OpenOptions) {
        if (!sim.#under(path)) return orig.call(Deno, path, opts);
        const existed = sim.#ino(String(path)) !== undefined;
        const f = orig.call(Deno, path, opts);
        reg(f, String(path), existed);
        if (!existed && basename(String(path)) !== "LOCK") {
          sim.snap(`create ${basename(String(path))}`);
        }
        return f;
      });
    for (const name of ["sync", "syncData"]) {
      patch(P, name, (orig) =>
        async function (this: Deno.FsFile) {
          const r = await orig.call(this);
          sim.#syncFile(this);
          if (sim.files.has(this)) sim.snap(name);
          return r;
        });
    }
    for (const name of ["syncSync", "syncDataSync"]) {
      patch(P, name, (orig) =>
        function (this: Deno.FsFile) {
          const r = orig.call(this);
          sim.#syncFile(this);
          if (sim.files.has(this)) sim.snap(name);
          return r;
        });
    }
    patch(P, "writeSync", (orig) =>
      function (this: Deno.FsFile, b: Uint8Array) {
        if (sim.files.has(this) && sim.enabled && sim.torn) sim.tornImages(this, b);
        const r = orig.call(this, b);
        if (sim.files.has(this)) sim.snap("writeSync");
        return r;
      });
    patch(P, "write", (orig) =>
      async function (this: Deno.FsFile, b: Uint8Array) {
        const r = await orig.call(this, b);
        if (sim.files.has(this)) sim.snap("write");
        return r;
      });
    patch(P, "truncate", (orig) =>
      async function (this: Deno.FsFile, n?: number) {
        const r = await orig.call(this, n);
        if (sim.files.has(this)) sim.snap("truncate");
        return r;
      });
    patch(D, "remove", (orig) =>
      async function (path: string, o?: Deno.RemoveOptions) {
        const r = await orig.call(Deno, path, o);
        if (sim.#under(path) && String(path) !== sim.root) {
          sim.snap(`remove ${basename(String(path))}`);
        }
        return r;
      });
    patch(D, "rename", (orig) =>
      async function (a: string, b: string) {
        const r = await orig.call(Deno, a, b);
        if (sim.#under(b)) sim.snap(`rename ${basename(String(a))} -> ${basename(String(b))}`);
        return r;
      });
  }

  uninstall(): void {
    for (const r of this.#restore.reverse()) r();
    this.#restore = [];
  }
}

export function writeImage(img: Image, dir: string): void {
  Deno.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of img.files) Deno.writeFileSync(join(dir, name), bytes);
}
