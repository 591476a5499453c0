/**
 * The standby segment is created and preallocated ahead of need: the next segment's file exists,
 * holding its first preallocation window of written zeros (fdatasynced), before the active one
 * fills; the rotation fiber, not the new segment's first rounds, pays for that IO.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { JournalReader, SegmentedJournal } from "@fsys/core"
import { payloadFor, tempDir } from "./journalFixtures.ts"

const PREALLOCATE_BYTES = 256 * 1024
const SEGMENT_BYTES = 512 * 1024

const allZeros = (path: string): boolean => NodeFs.readFileSync(path).every((byte) => byte === 0)

describe.each(["buffered", "direct"] as const)("SegmentedJournal standby (%s)", (mode) => {
  const options = {
    mode,
    logBufferBytes: 64 * 1024,
    segmentBytes: SEGMENT_BYTES,
    preallocateBytes: PREALLOCATE_BYTES,
  } as const

  it.live(
    "the next segment exists, preallocated with zeros, before it is needed; sealed segments lose their zeros",
    () =>
      Effect.gen(function* () {
        const dir = NodePath.join(yield* tempDir, "j")
        const standby = NodePath.join(dir, "standby.journal")
        const journal = yield* SegmentedJournal.open(dir, options)
        assert.strictEqual(NodeFs.statSync(standby).size, PREALLOCATE_BYTES, "the standby is preallocated at open")
        assert.isTrue(allZeros(standby))
        let end = 0
        // Three segments' worth, syncing as a durable producer does.
        for (let i = 0; end < 3 * SEGMENT_BYTES; i++) {
          end = yield* journal.append(payloadFor(1, i, 2000))
          if (i % 16 === 0) yield* journal.syncThrough(end)
        }
        yield* journal.sync
        // A no-op truncateFront waits for a rotation still finishing (it holds the directory lock).
        yield* journal.truncateFront(0)
        const segments = yield* journal.segments
        assert.isAtLeast(segments.length, 3)
        for (const segment of segments.slice(0, -1)) {
          assert.strictEqual(
            NodeFs.statSync(segment.path).size,
            segment.bytes,
            `${segment.path}: zeros cut at the seal`,
          )
          assert.strictEqual((yield* JournalReader.scan(segment.path)).tailState, "CleanEnd")
        }
        // The replacement standby is ready again, ahead of the next rotation.
        assert.strictEqual(NodeFs.statSync(standby).size, PREALLOCATE_BYTES)
        assert.isTrue(allZeros(standby))
        yield* journal.close
        const reopened = yield* SegmentedJournal.open(dir, options)
        assert.strictEqual(yield* reopened.nextLsn, end)
      }).pipe(Effect.scoped),
  )
})
