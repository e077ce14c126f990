/**
 * Shared pieces of the snapshot transfer tests: snapshot messages, the
 * `x-raftlog-snapshot` header describing them, chunk bodies, a follower.
 *
 * @module
 */
import { crc32 } from "node:zlib";
import { confStateOf } from "../raft/core/conf_state.ts";
import type { SnapshotMessage } from "../raft/core/types.ts";
import { RaftNode } from "../raft/node.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";

export { bytes } from "../raft/storage/_partial_harness_test.ts";

/** A snapshot message from n1 to n2 of n1-n2. */
export function snapMessage(data: Uint8Array, index = 40, term = 3): SnapshotMessage {
  return {
    type: "snap",
    from: "n1",
    to: "n2",
    term,
    snapshot: { metadata: { index, term, confState: confStateOf(["n1", "n2"]) }, data },
  };
}

/** The `x-raftlog-snapshot` header of `m`'s chunks. */
export function header(m: SnapshotMessage, crc: number = crc32(m.snapshot.data)): string {
  return encodeURIComponent(JSON.stringify({
    to: m.to,
    term: m.term,
    metadata: m.snapshot.metadata,
    size: m.snapshot.data.length,
    crc,
  }));
}

/** A chunk's body. */
export function body(b: Uint8Array): ReadableStream<Uint8Array> {
  return new Blob([b as Uint8Array<ArrayBuffer>]).stream();
}

/** Node n2 of n1-n2, with a state machine that hands restored snapshots to `restore`. */
export function follower(restore: (data: Uint8Array) => void): Promise<RaftNode<null>> {
  return RaftNode.start({
    id: "n2",
    storage: MemoryStorage.withVoters(["n1", "n2"]),
    transport: { send() {} },
    stateMachine: { apply: (c) => c.map(() => null), snapshot: () => new Uint8Array(), restore },
  });
}
