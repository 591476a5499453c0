/**
 * Preallocation runs in the background (issue 12 item 5): the zeros a sync round asks for are
 * written beside the rounds instead of in front of them. These tests slow the zeros down (a
 * FileIo layer that delays every all-zero write) so the log catches up with them, and check the
 * two things the background must never cost: a record overwritten by zeros that landed after it,
 * and a close that returns while zeros are still being written.
 */
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { FileIo, Journal, NodeFileIo } from "@fsys/core"
import { decodeFile, payloadFor, tempDir } from "./journalFixtures.ts"

const SLOT_BYTES = 64 * 1024
const PREALLOCATE_BYTES = 2 * SLOT_BYTES
const RECORD_BYTES = 8 * 1024
const RECORDS = 100
const ZERO_DELAY_MILLIS = 150

const isZeros = (bytes: Uint8Array): boolean => {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}

/** The Node layer with every all-zero write of a slot or more held back; counts those in flight. */
const slowZeros = () => {
  const node = NodeFileIo.make()
  const counters = { zeroWrites: 0, zeroWritesInFlight: 0, zeroWritesInFlightMax: 0 }
  const service = FileIo.FileIo.of({
    ...node,
    writeAt: (handle, bytes, offsetBytes) =>
      bytes.byteLength >= SLOT_BYTES && isZeros(bytes)
        ? Effect.suspend(() => {
            counters.zeroWrites++
            counters.zeroWritesInFlight++
            counters.zeroWritesInFlightMax = Math.max(counters.zeroWritesInFlightMax, counters.zeroWritesInFlight)
            return Effect.ensuring(
              Effect.andThen(Effect.sleep(ZERO_DELAY_MILLIS), node.writeAt(handle, bytes, offsetBytes)),
              Effect.sync(() => {
                counters.zeroWritesInFlight--
              }),
            )
          })
        : node.writeAt(handle, bytes, offsetBytes),
  })
  return { layer: Layer.succeed(FileIo.FileIo, service), counters }
}

const options = {
  mode: "buffered",
  backend: "pwrite",
  logBufferBytes: SLOT_BYTES,
  preallocateBytes: PREALLOCATE_BYTES,
} as const

describe("background preallocation", () => {
  it.live("zeros still in flight never land over records written after them", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "a.log")
      const { layer, counters } = slowZeros()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, options)
          for (let i = 0; i < RECORDS; i++) {
            yield* journal.syncThrough(yield* journal.append(payloadFor(0, i, RECORD_BYTES)))
          }
        }),
      ).pipe(Effect.provide(layer))
      // The log passed several preallocated ranges while their zeros were held back.
      assert.isAtLeast(counters.zeroWrites, 3)
      const { records } = decodeFile(path)
      assert.strictEqual(records.length, RECORDS)
      for (let i = 0; i < RECORDS; i++) assert.deepStrictEqual(records[i]!.payload, payloadFor(0, i, RECORD_BYTES))
    }),
  )

  it.live("an oversize record's chunks wait for zeros in flight where they land", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "a.log")
      const { layer, counters } = slowZeros()
      const big = payloadFor(0, 1, 5 * 1024 * 1024)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, options)
          // The sync round queues a preallocation right past the log; the record's first chunks
          // (written beside the writer) reach into it while its zeros are held back.
          yield* journal.syncThrough(yield* journal.append(payloadFor(0, 0, RECORD_BYTES)))
          yield* journal.syncThrough(yield* journal.append(big))
        }),
      ).pipe(Effect.provide(layer))
      assert.isAtLeast(counters.zeroWrites, 1)
      const { records } = decodeFile(path)
      assert.strictEqual(records.length, 2)
      assert.deepStrictEqual(records[1]!.payload, big)
    }),
  )

  it.live("closing waits for the zeros in flight (their buffer is freed after)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const { layer, counters } = slowZeros()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(NodePath.join(dir, "a.log"), options)
          // The first sync round queues a preallocation; close once its zeros are being written.
          yield* journal.syncThrough(yield* journal.append(payloadFor(0, 0, RECORD_BYTES)))
          for (let turn = 0; turn < 1000 && counters.zeroWritesInFlight === 0; turn++) yield* Effect.sleep(1)
          assert.strictEqual(counters.zeroWritesInFlight, 1)
        }),
      ).pipe(Effect.provide(layer))
      assert.strictEqual(counters.zeroWritesInFlight, 0)
    }),
  )

  it.live("a buffered journal copies its zeros one chunk at a time; a Direct one writes several at once", (context) =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      // 4 MiB of zeros per preallocation: four 1 MiB chunks, each held back by the layer.
      const depth = (mode: "buffered" | "direct") => {
        const { layer, counters } = slowZeros()
        return Effect.scoped(
          Effect.gen(function* () {
            const journal = yield* Journal.open(NodePath.join(dir, `${mode}.log`), {
              ...options,
              mode,
              preallocateBytes: 4 * 1024 * 1024,
            })
            yield* journal.syncThrough(yield* journal.append(payloadFor(0, 0, RECORD_BYTES)))
            for (let turn = 0; turn < 1000 && counters.zeroWritesInFlight === 0; turn++) yield* Effect.sleep(1)
            return { directActive: (yield* journal.info).directActive }
          }),
        ).pipe(
          Effect.provide(layer),
          Effect.map((info) => ({ ...info, ...counters })),
        )
      }
      const buffered = yield* depth("buffered")
      // A buffered zero write is a page-cache copy on a kernel thread: more at once only take
      // more cores from the event loop (PREALLOCATION_BUFFERED_WRITES_IN_FLIGHT_MAX).
      assert.strictEqual(buffered.zeroWrites, 4)
      assert.strictEqual(buffered.zeroWritesInFlightMax, 1)
      const direct = yield* depth("direct")
      if (!direct.directActive) {
        context.skip("this filesystem refuses O_DIRECT")
        return
      }
      assert.strictEqual(direct.zeroWrites, 4)
      assert.strictEqual(direct.zeroWritesInFlightMax, 4)
    }),
  )
})
