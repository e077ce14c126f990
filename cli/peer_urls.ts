/**
 * Where the other members are: a node keeps its members' URLs in
 * `<data>/peers.json`, so a restart needs no `--peers` for members that
 * joined later, and asks its peers (`GET /members`) for the URL of any
 * member it has none for (e.g. one it learned of from a snapshot).
 *
 * @module
 */

import { join } from "node:path";
import type { RaftNode } from "../raft/node.ts";
import { writeFileAtomic } from "../raft/storage/atomic_file.ts";
import { MemberClient } from "../transport/member_client.ts";
import { listMembers } from "../transport/member_routes.ts";
import { normalizePeerUrl } from "../transport/peer_url.ts";
import { UsageError } from "./usage_error.ts";

/** Name of the file, in the data directory, holding the members' URLs. */
export const PEER_URLS_FILE = "peers.json";

/**
 * The member URLs saved in `dataDir` (id -> URL); empty when there are none.
 * Throws when the file exists but is not a JSON object of strings.
 *
 * @example
 * ```ts
 * import { loadPeerUrls } from "./peer_urls.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   console.assert(Object.keys(await loadPeerUrls(dir)).length === 0);
 *   await Deno.writeTextFile(`${dir}/peers.json`, '{"n1":"http://127.0.0.1:7001"}');
 *   console.assert((await loadPeerUrls(dir)).n1 === "http://127.0.0.1:7001");
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function loadPeerUrls(dataDir: string): Promise<Record<string, string>> {
  const path = join(dataDir, PEER_URLS_FILE);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw e;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${e instanceof Error ? e.message : e}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(`${path} must be a JSON object of member id -> URL`);
  }
  const out: Record<string, string> = {};
  for (const [id, url] of Object.entries(raw)) {
    if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
      throw new Error(
        `${path}: the URL of ${id} must be an http(s) URL, got ${JSON.stringify(url)}`,
      );
    }
    out[id] = url;
  }
  return out;
}

/** Options of {@link trackPeerUrls}. */
export interface TrackPeerUrlsOptions {
  readonly node: RaftNode<unknown>;
  /** Told about URLs found by asking peers. */
  readonly transport: { addPeer(id: string, url: string): void };
  readonly dataDir: string;
  /** The cluster secret, for `GET /members` on peers. */
  readonly secret: string;
  /** How often to look for missing URLs and save changes, in ms. Default 1000. */
  readonly intervalMs?: number;
  readonly log?: (
    level: "debug" | "info" | "warn",
    msg: string,
    fields?: Record<string, unknown>,
  ) => void;
}

/** A running {@link trackPeerUrls}. */
export interface PeerUrlTracker {
  /** Stops tracking and waits for the last write. */
  close(): Promise<void>;
}

/**
 * Keeps `<data>/peers.json` equal to the URLs of the node's current members,
 * and fills in URLs the node lacks by asking the members it can reach.
 *
 * @example
 * ```ts
 * import { trackPeerUrls } from "./peer_urls.ts";
 * import { RaftNode } from "../raft/node.ts";
 * import { MemoryStorage } from "../raft/storage/memory_storage.ts";
 * const dir = await Deno.makeTempDir();
 * const node = await RaftNode.start({
 *   id: "n1", storage: MemoryStorage.withVoters(["n1"]), transport: { send() {} },
 *   stateMachine: { apply: (c) => c.map(() => null), snapshot: () => new Uint8Array(), restore: () => {} },
 *   peerUrls: { n1: "http://127.0.0.1:7001" },
 * });
 * const t = trackPeerUrls({ node, transport: { addPeer() {} }, dataDir: dir, secret: "s", intervalMs: 10 });
 * while ((await Deno.readTextFile(`${dir}/peers.json`).catch(() => "")) === "") {
 *   await new Promise((r) => setTimeout(r, 10));
 * }
 * await t.close();
 * await node.stop();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function trackPeerUrls(opts: TrackPeerUrlsOptions): PeerUrlTracker {
  const { node } = opts;
  let saved = "";
  let writing: Promise<void> = Promise.resolve();
  let closed = false;
  let busy = false;

  const save = (): void => {
    const urls: Record<string, string> = {};
    for (const m of listMembers(node)) if (m.url !== null) urls[m.id] = m.url;
    const text = JSON.stringify(urls, null, 2) + "\n";
    if (closed || Object.keys(urls).length === 0 || text === saved) return;
    saved = text;
    writing = writing.then(() =>
      writeFileAtomic(opts.dataDir, PEER_URLS_FILE, new TextEncoder().encode(text))
    ).catch((e) => opts.log?.("warn", `cannot save ${PEER_URLS_FILE}`, { error: String(e) }));
  };

  const discover = async (): Promise<void> => {
    const members = listMembers(node);
    const missing = new Set(
      members.filter((m) => m.url === null && m.id !== node.id).map((m) => m.id),
    );
    const known = members.filter((m) => m.url !== null && m.id !== node.id).map((m) => m.url!);
    if (missing.size === 0 || known.length === 0) return;
    let found;
    try {
      found = await new MemberClient({ urls: known, secret: opts.secret, timeoutMs: 2000 }).list();
    } catch (e) {
      opts.log?.("debug", "cannot ask peers for member URLs", { error: String(e) });
      return;
    }
    for (const m of found.members) {
      if (!missing.has(m.id) || m.url === null || node.peerUrl(m.id) !== undefined) continue;
      node.setPeerUrl(m.id, m.url);
      opts.transport.addPeer(m.id, m.url);
      opts.log?.("info", "learned a member's URL from a peer", { id: m.id, url: m.url });
    }
  };

  const tick = async () => {
    if (busy || closed) return;
    busy = true;
    try {
      await discover();
      save();
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(tick, opts.intervalMs ?? 1000);
  const offs = [node.on("addPeer", save), node.on("removePeer", save)];
  save();
  return {
    async close() {
      closed = true;
      clearInterval(timer);
      for (const off of offs) off();
      await writing;
    },
  };
}

/**
 * Parses `--peers n1=http://h:1,n2=http://h:2` into id -> URL.
 *
 * @example
 * ```ts
 * import { parsePeers } from "./peer_urls.ts";
 * const p = parsePeers("n1=http://127.0.0.1:7001,n2=http://127.0.0.1:7002/");
 * console.assert(p.n2 === "http://127.0.0.1:7002");
 * ```
 */
export function parsePeers(v: string): Record<string, string> {
  const peers: Record<string, string> = {};
  for (const part of v.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const eq = part.indexOf("=");
    const id = eq > 0 ? part.slice(0, eq) : "";
    const url = part.slice(eq + 1).replace(/\/+$/, "");
    if (id === "" || !/^[A-Za-z0-9_.-]+$/.test(id)) {
      throw new UsageError(`--peers entries must be ID=URL with a plain id, got "${part}"`);
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--peers: "${url}" for ${id} is not a URL`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new UsageError(`--peers: the URL of ${id} must be http:// or https://, got "${url}"`);
    }
    if (id in peers) throw new UsageError(`--peers lists ${id} twice`);
    peers[id] = normalizePeerUrl(url);
  }
  if (Object.keys(peers).length === 0) throw new UsageError("--peers must list at least one node");
  return peers;
}
