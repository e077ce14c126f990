import assert from "node:assert/strict";
import { EventIndex } from "./_event_index.ts";

Deno.test("EventIndex.liveness() is undefined until an event is removed, then tells removed positions", () => {
  const idx = new EventIndex();
  const a = idx.stream("a"), b = idx.stream("b");
  for (const s of [a, b, a, a]) {
    idx.posStream.push(s.id);
    idx.posRevision.push(s.next);
    s.push(idx.positionCount - 1);
  }
  assert.equal(idx.liveness(), undefined, "nothing removed: every position lives");
  a.truncatedBefore = 2; // a's first two events removed (positions 0 and 2)
  const l = idx.liveness()!;
  assert.deepEqual([...l.floor], [2, 0]);
  const alive = [0, 1, 2, 3].map((p) => l.revision[p]! >= l.floor[l.stream[p]!]!);
  assert.deepEqual(alive, [false, true, false, true]);
  a.truncatedBefore = 0;
  b.hardDeleted = true;
  assert.equal(idx.liveness()!.floor[b.id], Infinity);
});
