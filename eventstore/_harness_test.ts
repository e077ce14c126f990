/**
 * Test helper: a log in memory and an event store state machine fed from it,
 * without a Raft node, so state machine rules can be tested one command at a time.
 *
 * @module
 */

import { decodeEnvelope, encodeEnvelope } from "../raft/envelope.ts";
import { MemoryStorage } from "../raft/storage/memory_storage.ts";
import type { EntryArchive } from "./archive.ts";
import { encodeAppend, encodeDelete, encodeSetMetadata, prepareEvent } from "./commands.ts";
import type { ProjectionDefinition } from "./projections.ts";
import { type CommandResult, EventStoreStateMachine } from "./state_machine.ts";
import type { EventData, ExpectedRevision, StreamMetadata } from "./types.ts";

/** A state machine over a MemoryStorage log that the harness appends to. */
export class Harness {
  readonly storage: MemoryStorage;
  sm: EventStoreStateMachine;
  index = 0;
  time = 1_000_000;
  now = 1_000_000;

  constructor(
    opts: {
      storage?: MemoryStorage;
      archive?: EntryArchive;
      // deno-lint-ignore no-explicit-any
      projections?: ProjectionDefinition<any>[];
      spareSnapshotBuffers?: boolean;
    } = {},
  ) {
    this.storage = opts.storage ?? MemoryStorage.withVoters(["n1"]);
    this.index = this.storage.lastIndex();
    this.sm = new EventStoreStateMachine({
      storage: this.storage,
      now: () => this.now,
      ...(opts.archive ? { archive: opts.archive } : {}),
      ...(opts.projections ? { projections: opts.projections } : {}),
      ...(opts.spareSnapshotBuffers !== undefined
        ? { spareSnapshotBuffers: opts.spareSnapshotBuffers }
        : {}),
    });
  }

  /** Appends a raw command to the log and applies it. */
  command(payload: Uint8Array, timestamp = this.time): CommandResult {
    const index = ++this.index;
    const data = encodeEnvelope({ id: `p${index}`, timestamp, payload });
    this.storage.append([{ term: 1, index, type: "normal", data }]);
    const env = decodeEnvelope(data);
    return this.sm.apply([{ index, term: 1, id: env.id, timestamp, payload: env.payload }])[0]!;
  }

  append(
    stream: string,
    events: EventData[],
    expectedRevision: ExpectedRevision = "any",
    timestamp = this.time,
  ): CommandResult {
    return this.command(
      encodeAppend(stream, events.map((e, i) => prepareEvent(e, i)), { expectedRevision }),
      timestamp,
    );
  }

  delete(stream: string, hard = false, expectedRevision: ExpectedRevision = "any"): CommandResult {
    return this.command(encodeDelete(stream, { hard, expectedRevision }));
  }

  setMetadata(stream: string, m: StreamMetadata): CommandResult {
    return this.command(encodeSetMetadata(stream, m));
  }
}
