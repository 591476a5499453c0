/**
 * Records bigger than a slot stream through a bounded scratch with several chunk writes in flight
 * (issue 12 item 6). A FileIo layer that holds every chunk write back for a moment shows how many
 * are in the kernel at once, and lets one fail: the record must still read back whole, nothing
 * may still be in flight when a failed append returns (its scratch is freed after it), and a
 * failed chunk poisons the journal like any failed write.
 */
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { IoError } from "@fsys/native"
import { FileIo, Journal, NodeFileIo } from "@fsys/core"
import { decodeFile, payloadFor, tempDir } from "./journalFixtures.ts"

const SLOT_BYTES = 1024 * 1024
const RECORD_BYTES = 13 * 1024 * 1024
const CHUNK_DELAY_MILLIS = 20

/** The Node layer with writes of a slot or more held back, counted, and optionally failed. */
const slowChunks = (failWrite?: number) => {
  const node = NodeFileIo.make()
  const counters = { writes: 0, inFlight: 0, inFlightHigh: 0 }
  const service = FileIo.FileIo.of({
    ...node,
    writeAt: (handle, bytes, offsetBytes) =>
      bytes.byteLength < SLOT_BYTES
        ? node.writeAt(handle, bytes, offsetBytes)
        : Effect.suspend(() => {
            const index = ++counters.writes
            counters.inFlight++
            counters.inFlightHigh = Math.max(counters.inFlightHigh, counters.inFlight)
            const write =
              index === failWrite
                ? Effect.fail(IoError.fromErrno("EIO", "write", handle.path))
                : node.writeAt(handle, bytes, offsetBytes)
            return Effect.ensuring(
              Effect.andThen(Effect.sleep(CHUNK_DELAY_MILLIS), write),
              Effect.sync(() => {
                counters.inFlight--
              }),
            )
          }),
  })
  return { layer: Layer.succeed(FileIo.FileIo, service), counters }
}

const options = { mode: "buffered", backend: "pwrite", logBufferBytes: SLOT_BYTES, preallocateBytes: 0 } as const

describe("oversize records", () => {
  it.live("several chunk writes are in flight at once and the record reads back whole", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "a.log")
      const { layer, counters } = slowChunks()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, options)
          yield* journal.append(payloadFor(0, 0, 100))
          yield* journal.syncThrough(yield* journal.append(payloadFor(0, 1, RECORD_BYTES)))
          yield* journal.syncThrough(yield* journal.append(payloadFor(0, 2, 100)))
        }),
      ).pipe(Effect.provide(layer))
      assert.isAtLeast(counters.inFlightHigh, 2)
      const { records } = decodeFile(path)
      assert.strictEqual(records.length, 3)
      assert.deepStrictEqual(records[1]!.payload, payloadFor(0, 1, RECORD_BYTES))
      assert.deepStrictEqual(records[2]!.payload, payloadFor(0, 2, 100))
    }),
  )

  it.live("a failed chunk fails the append after every chunk left the kernel, and poisons", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const { layer, counters } = slowChunks(2)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(NodePath.join(dir, "a.log"), options)
          const failed = yield* Effect.exit(journal.append(payloadFor(0, 0, RECORD_BYTES)))
          assert.isTrue(Exit.isFailure(failed))
          assert.strictEqual(counters.inFlight, 0)
          const later = yield* Effect.exit(journal.append(payloadFor(0, 1, 100)))
          assert.isTrue(Exit.isFailure(later))
        }),
      ).pipe(Effect.provide(layer))
      assert.strictEqual(counters.inFlight, 0)
    }),
  )
})
