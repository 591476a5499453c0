/**
 * Early writeback (`internal/logBuffer/writeback.ts`): a buffered log hands each completed
 * unsynced slot write to the kernel's writeback (sync_file_range WRITE) instead of leaving all of
 * a bulk load for the final fdatasync. What a user relies on: the hints go out in log order, one
 * at a time, and only where they can help (buffered, unsynced); a failing hint loses nothing and
 * poisons nothing; and the file is never closed under a hint still in flight.
 *
 * A FileIo layer over the Node one records every `startWriteback` (its range, how many were in
 * flight at once) and can slow the calls down or fail them.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { IoError } from "@fsys/native"
import { FileIo, Frame, Journal, NodeFileIo } from "@fsys/core"
import { decodeFile, payloadFor, tempDir } from "./journalFixtures.ts"

const SLOT_BYTES = 1024 * 1024
const WRITEBACK_BYTES = 1024 * 1024
const RECORD_BYTES = 64 * 1024
/** Eight slots' worth of records. */
const RECORDS = 128

interface Recorder {
  readonly layer: Layer.Layer<FileIo.FileIo>
  readonly ranges: Array<readonly [number, number]>
  readonly events: Array<string>
  readonly counters: { inFlight: number; inFlightMax: number }
}

const recording = (behaviour: { readonly delayMillis?: number; readonly fail?: boolean }): Recorder => {
  const node = NodeFileIo.make()
  const startWriteback = node.startWriteback
  assert.isDefined(startWriteback, "the Node layer starts writeback")
  const ranges: Array<readonly [number, number]> = []
  const events: Array<string> = []
  const counters = { inFlight: 0, inFlightMax: 0 }
  const service = FileIo.FileIo.of({
    ...node,
    // The log's handle is closed by its Scope: this finalizer runs just before that close.
    open: (path, options) =>
      Effect.tap(node.open(path, options), () =>
        Effect.addFinalizer(() => Effect.sync(() => events.push(`close, ${counters.inFlight} hints in flight`))),
      ),
    startWriteback: (handle, offsetBytes, lengthBytes) =>
      Effect.suspend(() => {
        ranges.push([offsetBytes, offsetBytes + lengthBytes])
        counters.inFlight++
        counters.inFlightMax = Math.max(counters.inFlightMax, counters.inFlight)
        const call = behaviour.fail
          ? Effect.fail(IoError.fromErrno("EIO", "sync_file_range", handle.path))
          : startWriteback!(handle, offsetBytes, lengthBytes)
        return Effect.ensuring(
          Effect.andThen(Effect.sleep(behaviour.delayMillis ?? 0), call),
          Effect.sync(() => {
            counters.inFlight--
            events.push("writeback done")
          }),
        )
      }),
  })
  return { layer: Layer.succeed(FileIo.FileIo, service), ranges, events, counters }
}

const bulkLoad = (path: string, mode: "buffered" | "direct") =>
  Effect.scoped(
    Effect.gen(function* () {
      const journal = yield* Journal.open(path, {
        mode,
        backend: "pwrite",
        logBufferBytes: SLOT_BYTES,
        writebackBytes: WRITEBACK_BYTES,
      })
      for (let i = 0; i < RECORDS; i++) yield* journal.append(payloadFor(0, i, RECORD_BYTES))
      yield* journal.sync
    }),
  )

const assertAllRecords = (path: string) => {
  const { records } = decodeFile(path)
  assert.strictEqual(records.length, RECORDS)
  for (let i = 0; i < RECORDS; i++) assert.deepStrictEqual(records[i]!.payload, payloadFor(0, i, RECORD_BYTES))
}

describe("early writeback of a buffered log", () => {
  it.live("a bulk load hands its slots to writeback in log order, one call at a time", () =>
    Effect.gen(function* () {
      const path = NodePath.join(yield* tempDir, "a.log")
      const recorder = recording({ delayMillis: 5 })
      yield* bulkLoad(path, "buffered").pipe(Effect.provide(recorder.layer))
      const { ranges, counters } = recorder
      assert.isAtLeast(ranges.length, 2, `several hints: ${JSON.stringify(ranges)}`)
      assert.strictEqual(counters.inFlightMax, 1, "one hint in flight at most")
      assert.strictEqual(ranges[0]![0], 0, "from the start of the log")
      for (let i = 1; i < ranges.length; i++) {
        assert.strictEqual(ranges[i]![0], ranges[i - 1]![1], `contiguous and in order: ${JSON.stringify(ranges)}`)
      }
      // Everything but the last slot (written by the final sync, which has its own fdatasync)
      // and a pending remainder below the merge bound was handed over.
      const logBytes = RECORDS * (RECORD_BYTES + Frame.OVERHEAD_BYTES)
      assert.isAtLeast(ranges[ranges.length - 1]![1], logBytes - 3 * SLOT_BYTES)
      assertAllRecords(path)
    }),
  )

  it.live("Direct logs and synced rounds start none", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const direct = recording({})
      yield* bulkLoad(NodePath.join(dir, "direct.log"), "direct").pipe(Effect.provide(direct.layer))
      assert.deepStrictEqual(direct.ranges, [], "no page cache to write back")
      assertAllRecords(NodePath.join(dir, "direct.log"))

      const synced = recording({})
      const path = NodePath.join(dir, "synced.log")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, {
            mode: "buffered",
            backend: "pwrite",
            logBufferBytes: SLOT_BYTES,
            writebackBytes: WRITEBACK_BYTES,
          })
          for (let i = 0; i < RECORDS; i++) yield* journal.appendDurable(payloadFor(0, i, RECORD_BYTES))
        }),
      ).pipe(Effect.provide(synced.layer))
      assert.deepStrictEqual(synced.ranges, [], "every round has its own fdatasync")
      assertAllRecords(path)
    }),
  )

  it.live("off by default; a bad writebackBytes is refused before anything is created", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "default.log")
      const recorder = recording({})
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, { mode: "buffered", backend: "pwrite", logBufferBytes: SLOT_BYTES })
          for (let i = 0; i < RECORDS; i++) yield* journal.append(payloadFor(0, i, RECORD_BYTES))
          yield* journal.sync
        }),
      ).pipe(Effect.provide(recorder.layer))
      assert.deepStrictEqual(recorder.ranges, [])
      assertAllRecords(path)
      for (const writebackBytes of [-65536, 1000, 1.5 * 65536, 2 ** 31, Number.NaN]) {
        const bad = NodePath.join(dir, `bad-${writebackBytes}.log`)
        const error = yield* Effect.flip(Effect.scoped(Journal.open(bad, { mode: "buffered", writebackBytes })))
        assert.strictEqual(error._tag, "InvalidOptions")
        assert.isFalse(NodeFs.existsSync(bad), "nothing created")
      }
    }),
  )

  it.live("a failing hint turns the hints off and loses nothing", () =>
    Effect.gen(function* () {
      const path = NodePath.join(yield* tempDir, "a.log")
      const recorder = recording({ fail: true })
      yield* bulkLoad(path, "buffered").pipe(Effect.provide(recorder.layer))
      assert.strictEqual(recorder.ranges.length, 1, "no hint after the failed one")
      assertAllRecords(path)
    }),
  )

  it.live("the file is closed only after the hint in flight returned", () =>
    Effect.gen(function* () {
      const path = NodePath.join(yield* tempDir, "a.log")
      const recorder = recording({ delayMillis: 100 })
      yield* bulkLoad(path, "buffered").pipe(Effect.provide(recorder.layer))
      const { events } = recorder
      assert.isAtLeast(recorder.ranges.length, 1)
      // (Recovery may open and close a handle of its own first: the log's is the last close.)
      const closes = events.filter((event) => event.startsWith("close"))
      assert.isAtLeast(closes.length, 1, `the log was closed: ${events.join(", ")}`)
      assert.strictEqual(closes[closes.length - 1], "close, 0 hints in flight", events.join(", "))
      assertAllRecords(path)
    }),
  )
})
