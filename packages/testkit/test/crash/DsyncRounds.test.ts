/**
 * Rounds made durable by RWF_DSYNC writes (`Journal.Options.syncMethod: "dsync"`): when the
 * journal may use one, and the power-loss check that it never acknowledges more than it wrote.
 *
 * A DSYNC write makes only its own bytes durable (on a device with FUA the kernel flushes nothing
 * else), where write + fdatasync also covers everything written before. So a round may be one
 * DSYNC write only when every byte before its first new record is durable already; the first
 * round after open and a round after an unsynced slot write use fdatasync. The simulated disk
 * models the DSYNC write exactly so (`SimulatedDisk` `writeAtDsync`: its range persisted,
 * nothing else), and the `dsyncBeforeDurable` mutation, which skips the check, must be caught.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { FileIo, Journal } from "@fsys/core"
import { Mutations, noMutations } from "@fsys/core/testing"
import { CrashHarness, SimulatedDisk } from "@fsys/testkit"

const PATH = "/data/dsync.log"
const SEEDS = 60

const counts = (disk: SimulatedDisk.Disk) =>
  Effect.map(disk.stats, (stats) => ({ datasyncs: stats.datasyncs, dsyncWrites: stats.dsyncWrites }))

describe.each(["buffered", "direct"] as const)("a %s journal with syncMethod dsync", (mode) => {
  it.effect("uses fdatasync first and after an unsynced write, a DSYNC write where the bytes before are durable", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 5 })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(PATH, {
            mode,
            syncMethod: "dsync",
            preallocateBytes: 0,
            logBufferBytes: 8192,
          })
          assert.strictEqual((yield* journal.info).syncMethod, "dsync")
          const record = new Uint8Array(100).fill(7)
          const opened = yield* counts(disk)
          // The first round: what recovery found is durable, but the journal knows nothing yet.
          yield* journal.appendDurable(record)
          const first = yield* counts(disk)
          assert.deepStrictEqual(first, { datasyncs: opened.datasyncs + 1, dsyncWrites: opened.dsyncWrites })
          for (let round = 0; round < 3; round++) yield* journal.appendDurable(record)
          const steady = yield* counts(disk)
          assert.deepStrictEqual(steady, { datasyncs: first.datasyncs, dsyncWrites: first.dsyncWrites + 3 })
          assert.strictEqual((yield* journal.stats).dsyncWrites, 3)
          // More than a slot without a sync: a slot goes out unsynced, so the next round must
          // fdatasync to cover it.
          for (let index = 0; index < 100; index++) yield* journal.append(record)
          yield* journal.sync
          const afterUnsynced = yield* counts(disk)
          assert.strictEqual(afterUnsynced.datasyncs, steady.datasyncs + 1, "the round after an unsynced write")
          yield* journal.appendDurable(record)
          assert.strictEqual((yield* counts(disk)).dsyncWrites, afterUnsynced.dsyncWrites + 1)
        }),
      ).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo))
    }),
  )

  it.effect("the default, and a backend without DSYNC writes, report fdatasync", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 6 })
      const { writeAtDsync: _dropped, ...withoutDsync } = disk.fileIo
      yield* Effect.scoped(
        Effect.gen(function* () {
          const plain = yield* Journal.open(PATH, { mode })
          assert.strictEqual((yield* plain.info).syncMethod, "fdatasync")
          yield* plain.appendDurable(new Uint8Array(10))
          yield* plain.appendDurable(new Uint8Array(10))
          assert.strictEqual((yield* plain.stats).dsyncWrites, 0)
        }),
      ).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const asked = yield* Journal.open(PATH, { mode, syncMethod: "dsync" })
          assert.strictEqual((yield* asked.info).syncMethod, "fdatasync")
          yield* asked.appendDurable(new Uint8Array(10))
          yield* asked.appendDurable(new Uint8Array(10))
          assert.strictEqual((yield* asked.stats).dsyncWrites, 0)
        }),
      ).pipe(Effect.provideService(FileIo.FileIo, withoutDsync))
      assert.strictEqual((yield* disk.stats).dsyncWrites, 0)
    }),
  )

  it.effect("a bad syncMethod is refused before anything is opened", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 7 })
      const error = yield* Effect.flip(
        Effect.scoped(Journal.open(PATH, { mode, syncMethod: "fsync" as never })).pipe(
          Effect.provideService(FileIo.FileIo, disk.fileIo),
        ),
      )
      assert.strictEqual(error._tag, "InvalidOptions")
      assert.strictEqual((yield* disk.stats).opens, 0)
    }),
  )

  it.live("power loss: every acknowledged record survives, over many seeds", () =>
    Effect.gen(function* () {
      for (let seed = 1; seed <= SEEDS; seed++) {
        const result = yield* CrashHarness.runSeed({ seed, mode, syncMethod: "dsync" })
        assert.deepStrictEqual(result.failures, [], `seed ${seed}`)
      }
    }),
  )

  it.live("a DSYNC round before the bytes under it are durable is caught", () =>
    Effect.gen(function* () {
      let caught = 0
      for (let seed = 1; seed <= SEEDS / 3; seed++) {
        const result = yield* CrashHarness.runSeed({ seed, mode, syncMethod: "dsync" }).pipe(
          Effect.provideService(Mutations, { ...noMutations, dsyncBeforeDurable: true }),
        )
        if (result.failures.length > 0) caught++
      }
      assert.isAtLeast(caught, SEEDS / 3 - 4, `caught in only ${caught} of ${SEEDS / 3} seeds`)
    }),
  )
})
