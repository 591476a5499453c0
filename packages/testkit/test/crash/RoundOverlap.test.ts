/**
 * Two group-commit rounds in flight (issue 12 item 4): what the overlap must never get wrong,
 * and the simulated-disk behaviour that makes it observable.
 *
 * - Linux reports a writeback error once per open file (errseq): of two concurrent fdatasyncs on
 *   ONE open file, one may get EIO and the other 0 although its pages were lost as well. The
 *   journal therefore runs a second round in flight on a second open file of the log.
 * - A Direct journal's consecutive writes share the carried sector, so they are never in flight
 *   together (the later, complete version must be the one that lands).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { FileIo, Journal } from "@fsys/core"
import { SimulatedDisk } from "@fsys/testkit"

const PATH = "/data/j.log"
const payloadFor = (tag: number, sizeBytes: number): Uint8Array => new Uint8Array(sizeBytes).fill(tag)
/** Producers per cohort: the first round's completion wakes them all and the cohort splits in two. */
const PRODUCERS = 8
/** Durable appends per producer. */
const APPENDS_PER_PRODUCER = 6
/** Seeds per case: a failed writeback keeps a seeded subset of what it had, so one seed may keep all. */
const SEEDS = 12

describe("SimulatedDisk reports a writeback error once per open file", () => {
  it.effect("another open file's fdatasync fails too; the same open file's next one succeeds", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 3 })
      const io = disk.fileIo
      yield* Effect.scoped(
        Effect.gen(function* () {
          const first = yield* io.open(PATH, { create: true })
          const second = yield* io.open(PATH)
          const third = yield* io.open(PATH)
          yield* io.writeAt(first, payloadFor(1, 512), 0)
          yield* disk.inject({ op: "datasync", nth: 1, fault: SimulatedDisk.fail("EIO") })
          assert.isTrue(Exit.isFailure(yield* Effect.exit(io.datasync(first))), "the failing call reports it")
          assert.isTrue(Exit.isFailure(yield* Effect.exit(io.datasync(second))), "every other open file sees it")
          assert.isTrue(Exit.isSuccess(yield* Effect.exit(io.datasync(first))), "reported once per open file")
          assert.isTrue(Exit.isFailure(yield* Effect.exit(io.datasync(third))), "each open file once")
          assert.isTrue(Exit.isSuccess(yield* Effect.exit(io.datasync(third))))
        }),
      )
    }),
  )
})

/** Runs a cohort of durable producers; returns every acknowledged end LSN (a failed sync ends its producer). */
const runCohort = (mode: "buffered" | "direct", overlapRounds: Journal.Options["overlapRounds"]) =>
  Effect.gen(function* () {
    const journal = yield* Journal.open(PATH, {
      mode,
      preallocateBytes: 0,
      ...(overlapRounds === undefined ? {} : { overlapRounds }),
    })
    const acked: Array<number> = []
    const producer = (index: number) =>
      Effect.gen(function* () {
        for (let append = 0; append < APPENDS_PER_PRODUCER; append++) {
          const end = yield* journal.append(payloadFor(1 + ((index * APPENDS_PER_PRODUCER + append) % 250), 300))
          yield* journal.syncThrough(end)
          acked.push(end)
        }
      }).pipe(Effect.ignore)
    yield* Effect.all(
      Array.from({ length: PRODUCERS }, (_, index) => producer(index)),
      { concurrency: "unbounded" },
    )
    return acked
  })

/** Every acknowledged prefix must be on the media exactly as it was written. */
const assertAckedDurable = (disk: SimulatedDisk.Disk, acked: ReadonlyArray<number>, what: string) =>
  Effect.gen(function* () {
    const visible = Option.getOrThrow(yield* disk.readFile(PATH))
    const durable = Option.getOrElse(yield* disk.readDurableFile(PATH), () => new Uint8Array(0))
    const ackedEnd = acked.reduce((max, end) => Math.max(max, end), 0)
    assert.isAtLeast(
      durable.byteLength,
      ackedEnd,
      `${what}: acknowledged through ${ackedEnd}, durable ${durable.byteLength}`,
    )
    assert.deepStrictEqual(
      durable.subarray(0, ackedEnd),
      visible.subarray(0, ackedEnd),
      `${what}: the acknowledged bytes are on the media`,
    )
  })

describe("two rounds in flight", () => {
  it.live("the later round's fdatasync fails first: the earlier round is not acknowledged either", () =>
    Effect.gen(function* () {
      let poisonedRuns = 0
      for (let seed = 1; seed <= SEEDS; seed++) {
        const disk = yield* SimulatedDisk.make({ seed })
        // Round 1 serves the whole cohort; its completion splits it into rounds 2 and 3, in flight
        // together. Round 2's fdatasync waits; round 3's fails first and takes round 2's pages.
        yield* disk.inject({ op: "datasync", nth: 2, fault: SimulatedDisk.yieldFirst(50) })
        yield* disk.inject({ op: "datasync", nth: 3, fault: SimulatedDisk.fail("EIO") })
        const acked = yield* Effect.scoped(runCohort("buffered", "always")).pipe(
          Effect.provideService(FileIo.FileIo, disk.fileIo),
        )
        const stats = yield* disk.stats
        assert.isAtLeast(stats.datasyncs, 3, `seed ${seed}: the injected fdatasyncs ran`)
        assert.strictEqual(stats.datasyncsInFlightMax, 2, `seed ${seed}: two rounds were in flight together`)
        if (acked.length < PRODUCERS * APPENDS_PER_PRODUCER) poisonedRuns++
        yield* assertAckedDurable(disk, acked, `seed ${seed}`)
      }
      assert.strictEqual(poisonedRuns, SEEDS, "every run was poisoned by the injected EIO")
    }),
  )

  it.live("a Direct journal never has two writes of one sector in flight", () =>
    Effect.gen(function* () {
      for (let seed = 1; seed <= SEEDS; seed++) {
        const disk = yield* SimulatedDisk.make({ seed })
        // Writes and fdatasyncs take a seeded number of scheduler turns, so writes in flight
        // together would complete in any order.
        yield* disk.inject({ op: ["write", "datasync"], probability: 0.5, fault: SimulatedDisk.yieldFirst(7) })
        const acked = yield* Effect.scoped(runCohort("direct", "always")).pipe(
          Effect.provideService(FileIo.FileIo, disk.fileIo),
        )
        assert.strictEqual(acked.length, PRODUCERS * APPENDS_PER_PRODUCER, `seed ${seed}: nothing failed`)
        const stats = yield* disk.stats
        assert.strictEqual(stats.datasyncsInFlightMax, 1, `seed ${seed}: "always" is ignored by a Direct journal`)
        yield* disk.crash({ mode: "dropUnsynced" })
        // Reopened after the power cut, the journal recovers every acknowledged record.
        const ackedEnd = acked.reduce((max, end) => Math.max(max, end), 0)
        const recoveredEnd = yield* Effect.scoped(
          Effect.flatMap(Journal.open(PATH, { mode: "direct", preallocateBytes: 0 }), (journal) => journal.nextLsn),
        ).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo))
        assert.isAtLeast(
          recoveredEnd,
          ackedEnd,
          `seed ${seed}: recovered through ${recoveredEnd}, acknowledged ${ackedEnd}`,
        )
      }
    }),
  )

  it.live("overlap is off by default and adaptive overlaps only while it pays", () =>
    Effect.gen(function* () {
      for (const overlapRounds of [undefined, "never", "adaptive"] as const) {
        const disk = yield* SimulatedDisk.make({ seed: 5 })
        // Every fdatasync takes scheduler turns, so a second round could start beside it.
        yield* disk.inject({ op: "datasync", probability: 1, fault: SimulatedDisk.yieldFirst(20) })
        const acked = yield* Effect.scoped(runCohort("buffered", overlapRounds)).pipe(
          Effect.provideService(FileIo.FileIo, disk.fileIo),
        )
        assert.strictEqual(acked.length, PRODUCERS * APPENDS_PER_PRODUCER, `${overlapRounds}: nothing failed`)
        const stats = yield* disk.stats
        if (overlapRounds === "adaptive") assert.isAtMost(stats.datasyncsInFlightMax, 2, "adaptive: two at most")
        else assert.strictEqual(stats.datasyncsInFlightMax, 1, `${overlapRounds ?? "default"}: one round in flight`)
      }
    }),
  )
})
