/**
 * The two slots as a pipeline (issue 12 item 6): while one slot is being written, an appender
 * that fills the other hands it to the writer at once, and its write starts the moment the first
 * completes — before the appender, woken by that completion, copies its next record. Before,
 * the appender waited for both slots to be idle and only then sealed, so the disk sat idle while
 * it sealed and copied (≈ 2.5 ms per 3 MiB slot write with 1 MiB records).
 *
 * Since session 8 the second slot's write does not even wait for the first: two unsynced slot
 * writes with disjoint ranges run together (buffered; and Direct when the first ended on a sector
 * boundary), which keeps the disk two writes deep under large records. A Direct slot that ends
 * inside a sector is written split: all but its first sector at once, that sector (which the
 * earlier write also wrote, padded) only once the earlier write completed.
 *
 * A FileIo layer that holds each slot write until the test releases it records the order of
 * events: when the second slot's write starts, whether a sync waits for both, and the file.
 */
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, type Scope } from "effect"
import { FileIo, Frame, Journal, NodeFileIo } from "@fsys/core"
import { decodeFile, payloadFor, tempDir } from "./journalFixtures.ts"

const SLOT_BYTES = 64 * 1024
/** Three of these fill a slot; the fourth goes to the other one. */
const RECORD_BYTES = 20 * 1024
const RECORDS = 7
const GATES_MAX = 16
/** Where the first slot's three frames end. */
const FIRST_SLOT_END = 3 * (RECORD_BYTES + Frame.OVERHEAD_BYTES)
/** Where the second slot's write lands, buffered: right after them. */
const SECOND_WRITE = `write 1 at ${FIRST_SLOT_END}`

/** The Node layer with every write held until its gate opens; `events` logs starts in order. */
const gatedWrites = () => {
  const node = NodeFileIo.make()
  const events: Array<string> = []
  const gates = Array.from({ length: GATES_MAX }, () => Deferred.makeUnsafe<void>())
  let writes = 0
  const service = FileIo.FileIo.of({
    ...node,
    writeAtThenDatasync: (handle, bytes, offsetBytes) =>
      Effect.suspend(() => {
        events.push(`synced write at ${offsetBytes}`)
        return node.writeAtThenDatasync(handle, bytes, offsetBytes)
      }),
    datasync: (handle) =>
      Effect.suspend(() => {
        events.push("datasync")
        return node.datasync(handle)
      }),
    writeAt: (handle, bytes, offsetBytes) =>
      Effect.suspend(() => {
        const index = writes++
        assert.isBelow(index, GATES_MAX, "the test expects few writes")
        events.push(`write ${index} at ${offsetBytes}`)
        return Effect.andThen(
          Effect.andThen(Deferred.await(gates[index]!), node.writeAt(handle, bytes, offsetBytes)),
          Effect.sync(() => events.push(`write ${index} done`)),
        )
      }),
  })
  return { layer: Layer.succeed(FileIo.FileIo, service), events, gates }
}

/** Appends the test's records in a child fiber, logging each once it returned. */
const appendInBackground = (journal: Journal.Handle, events: Array<string>) =>
  Effect.forkChild(
    Effect.gen(function* () {
      for (let i = 0; i < RECORDS; i++) {
        yield* journal.append(payloadFor(0, i, RECORD_BYTES))
        events.push(`appended ${i}`)
      }
    }),
  )

const until = (events: ReadonlyArray<string>, event: string) =>
  Effect.gen(function* () {
    for (let turn = 0; turn < 200 && !events.includes(event); turn++) yield* Effect.sleep("1 millis")
    // Whatever else would start now has had its chance.
    yield* Effect.sleep("10 millis")
  })

/**
 * Runs `body` on a fresh journal of `mode` over the gated layer. Every gate opens at the end, even
 * after a failed assertion (the journal's close waits for a held write); then every record must
 * read back, in order.
 */
const withGatedJournal = (
  mode: "buffered" | "direct",
  body: (
    journal: Journal.Handle,
    events: Array<string>,
    gates: ReadonlyArray<Deferred.Deferred<void>>,
    openAll: Effect.Effect<void>,
  ) => Effect.Effect<void, unknown, Scope.Scope>,
) =>
  Effect.gen(function* () {
    const path = NodePath.join(yield* tempDir, "a.log")
    const { layer, events, gates } = gatedWrites()
    const openAll = Effect.forEach(gates, (gate) => Deferred.succeed(gate, undefined), { discard: true })
    yield* Effect.scoped(
      Effect.gen(function* () {
        const journal = yield* Journal.open(path, {
          mode,
          backend: "pwrite",
          logBufferBytes: SLOT_BYTES,
          preallocateBytes: 0,
        })
        yield* body(journal, events, gates, openAll)
      }).pipe(Effect.ensuring(openAll)),
    ).pipe(Effect.provide(layer))
    const { records } = decodeFile(path)
    assert.strictEqual(records.length, RECORDS)
    for (let i = 0; i < RECORDS; i++) assert.deepStrictEqual(records[i]!.payload, payloadFor(0, i, RECORD_BYTES))
  })

describe("the log buffer's two slots", () => {
  it.live("buffered: the second slot's write runs beside the first, and a sync waits for both", () =>
    withGatedJournal("buffered", (journal, events, gates, openAll) =>
      Effect.gen(function* () {
        const appender = yield* appendInBackground(journal, events)
        // Records 0–2 fill the first slot, record 3 seals it (write 0, held) and goes to the
        // second, 4–5 fill that one, and record 6 seals it (write 1, held) and waits for a slot.
        yield* until(events, SECOND_WRITE)
        assert.include(events, "write 0 at 0", "record 3 sealed the first slot")
        assert.include(events, SECOND_WRITE, `the second write started beside the first: ${events}`)
        assert.notInclude(events, "appended 6", "record 6 waits while both slots are in flight")
        // Write 0 completes: record 6 goes into the first slot; a sync now must not start its
        // fdatasync while write 1 is still in the kernel.
        yield* Deferred.succeed(gates[0]!, undefined)
        yield* Fiber.join(appender)
        // (The open's own fdatasyncs of the new file came before.)
        const syncFrom = events.length
        const isSync = (event: string) => event === "datasync" || event.startsWith("synced write")
        const sync = yield* Effect.forkChild(journal.sync)
        yield* Effect.sleep("20 millis")
        assert.isFalse(
          events.slice(syncFrom).some(isSync),
          `no fdatasync beside an unsynced write in flight: ${events.join(", ")}`,
        )
        yield* openAll
        yield* Fiber.join(sync)
        assert.isTrue(events.slice(syncFrom).some(isSync), `the sync ran: ${events.join(", ")}`)
      }),
    ),
  )

  it.live("Direct: a slot that ends inside a sector is written split, its first sector after the write before", () =>
    withGatedJournal("direct", (journal, events, gates, openAll) =>
      Effect.gen(function* () {
        const sectorBytes = (yield* journal.info).sectorBytes
        // The second slot starts at the carried sector, which the first slot's write ends with.
        const carried = FIRST_SLOT_END - (FIRST_SLOT_END % sectorBytes)
        const head = `write 2 at ${carried}`
        const tail = `write 1 at ${carried + sectorBytes}`
        const appender = yield* appendInBackground(journal, events)
        yield* until(events, tail)
        assert.include(events, "write 0 at 0", "record 3 sealed the first slot")
        assert.include(events, tail, `the second slot's write, but its first sector, runs beside: ${events}`)
        assert.notInclude(events, head, "the carried sector's rewrite waits for the first write")
        assert.notInclude(events, "appended 6", "record 6 waits while both slots are in flight")
        yield* Deferred.succeed(gates[0]!, undefined)
        yield* until(events, head)
        assert.isAbove(events.indexOf(head), events.indexOf("write 0 done"), `head after the first write: ${events}`)
        yield* openAll
        yield* Fiber.join(appender)
        yield* journal.sync
      }),
    ),
  )
})
