/**
 * `Journal.Handle.records`: the in-process follower emits only durable records (never past
 * `syncedLsn`), wakes when a group-commit round advances the frontier, ends at close, and what
 * it emitted survives a power cut — unlike `JournalReader.records`, which reads whatever reached
 * the file (issue 10 item 7).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Ref, Stream } from "effect"
import { CrashHarness, SimulatedDisk } from "@fsys/testkit"
import { FileIo, JournalReader } from "@fsys/core"
import { modes, openAbandonable, openOn, PATH, recordOf } from "./crash/support.ts"

/** 30 records of 500 B overflow a 4 KiB slot: the buffer writes them out with no fdatasync. */
const UNSYNCED_RECORDS = 30
const RECORD_BYTES = 500
/** How long a follower is given to (wrongly) emit something. */
const QUIET_MILLIS = 50
/** Polling bound for "the follower caught up" (each step sleeps 5 ms). */
const CATCH_UP_STEPS_MAX = 400

const lsnsOf = (records: ReadonlyArray<{ readonly lsn: number }>) => records.map((r) => r.lsn)

const waitUntil = (check: Effect.Effect<boolean>) =>
  Effect.gen(function* () {
    for (let step = 0; step < CATCH_UP_STEPS_MAX; step++) {
      if (yield* check) return
      yield* Effect.sleep(5)
    }
    assert.fail("the follower did not catch up")
  })

describe("Journal.Handle.records (durable follower)", () => {
  for (const mode of modes) {
    it.live(`${mode}: never emits past syncedLsn — written-but-unsynced records appear only after a sync`, () =>
      Effect.gen(function* () {
        const disk = yield* SimulatedDisk.make({ seed: 71 })
        const journal = yield* openOn(disk, mode)
        const first = yield* journal.append(recordOf(0, RECORD_BYTES))
        yield* journal.syncThrough(first)
        for (let i = 1; i <= UNSYNCED_RECORDS; i++) yield* journal.append(recordOf(i, RECORD_BYTES))
        const synced = yield* journal.syncedLsn
        // Precondition: records past the frontier really are in the file (the slot was written).
        const inFile = yield* Stream.runCollect(JournalReader.records(PATH)).pipe(
          Effect.provideService(FileIo.FileIo, disk.fileIo),
        )
        assert.isAbove(inFile.filter((r) => r.lsn >= synced).length, 0, "unsynced records reached the file")

        const durable = yield* Stream.runCollect(journal.records())
        assert.deepStrictEqual(lsnsOf(durable), [0])
        assert.isTrue(durable.every((r) => r.lsn + r.payload.length + 12 <= synced))

        const end = yield* journal.sync
        const after = yield* Stream.runCollect(journal.records({ from: first }))
        assert.strictEqual(after.length, UNSYNCED_RECORDS)
        assert.strictEqual(after[0]!.lsn, first)
        const last = after[after.length - 1]!
        assert.strictEqual(last.lsn + last.payload.length + 12, end)
      }).pipe(Effect.scoped),
    )

    it.live(`${mode}: follow waits for the frontier, wakes on the sync round, ends at close`, () =>
      Effect.gen(function* () {
        const disk = yield* SimulatedDisk.make({ seed: 72 })
        const { journal, abandon } = yield* openAbandonable(disk, mode)
        const seen = yield* Ref.make<ReadonlyArray<number>>([])
        const follower = yield* Effect.forkChild(
          Stream.runForEach(journal.records({ follow: true }), (record) =>
            Ref.update(seen, (lsns) => [...lsns, record.lsn]),
          ),
        )
        for (let i = 0; i < UNSYNCED_RECORDS; i++) yield* journal.append(recordOf(i, RECORD_BYTES))
        yield* Effect.sleep(QUIET_MILLIS)
        assert.deepStrictEqual(yield* Ref.get(seen), [], "nothing is durable yet")
        yield* journal.sync
        yield* waitUntil(Effect.map(Ref.get(seen), (lsns) => lsns.length === UNSYNCED_RECORDS))
        // Idle at the frontier: the follower waits on the round's notification, it does not poll the file.
        const readsBefore = (yield* disk.stats).reads
        yield* Effect.sleep(4 * QUIET_MILLIS)
        assert.strictEqual((yield* disk.stats).reads, readsBefore, "no reads while nothing became durable")
        // Appended and then made durable by close: the follower emits them, then ends.
        yield* journal.append(recordOf(99, RECORD_BYTES))
        yield* journal.close
        yield* Fiber.join(follower)
        assert.strictEqual((yield* Ref.get(seen)).length, UNSYNCED_RECORDS + 1)
        yield* abandon
        const closed = yield* Effect.exit(Stream.runCollect(journal.records()))
        assert.isTrue(closed._tag === "Failure" && String(closed.cause).includes("JournalClosed"))
      }),
    )

    it.live(`${mode}: what the follower emitted survives a power cut (the file reader's extra records do not)`, () =>
      Effect.gen(function* () {
        const disk = yield* SimulatedDisk.make({ seed: 73 })
        const { journal, abandon } = yield* openAbandonable(disk, mode)
        for (let i = 0; i < 5; i++) yield* journal.append(recordOf(i, RECORD_BYTES))
        yield* journal.sync
        for (let i = 5; i < 5 + UNSYNCED_RECORDS; i++) yield* journal.append(recordOf(i, RECORD_BYTES))
        const emitted = yield* Stream.runCollect(journal.records())
        const fromFile = yield* Stream.runCollect(JournalReader.records(PATH)).pipe(
          Effect.provideService(FileIo.FileIo, disk.fileIo),
        )
        yield* disk.crash({ mode: "dropUnsynced" })
        yield* abandon
        const bytes = Option.getOrThrow(yield* disk.readFile(PATH))
        const recovered = CrashHarness.decodeJournal(bytes).records
        const recoveredAt = new Map(recovered.map((r) => [r.lsn, r.payload]))
        assert.strictEqual(emitted.length, 5)
        for (const record of emitted) assert.deepStrictEqual(recoveredAt.get(record.lsn), record.payload)
        // The defect the follower avoids: the file reader emitted records the power cut took back.
        assert.isAbove(fromFile.filter((r) => !recoveredAt.has(r.lsn)).length, 0)
      }),
    )
  }

  it.live("a poisoned journal ends a follow with JournalPoisoned (its durable records emitted first)", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 74 })
      const journal = yield* openOn(disk, "buffered")
      yield* journal.syncThrough(yield* journal.append(recordOf(0, RECORD_BYTES)))
      const follower = yield* Effect.forkChild(Stream.runCollect(journal.records({ follow: true })))
      yield* disk.inject({ op: "datasync", fault: SimulatedDisk.fail("EIO") })
      yield* Effect.ignore(journal.syncThrough(yield* journal.append(recordOf(1, RECORD_BYTES))))
      const exit = yield* Fiber.await(follower)
      assert.isTrue(exit._tag === "Failure" && String(exit.cause).includes("JournalPoisoned"), String(exit))
    }).pipe(Effect.scoped),
  )
})
