/**
 * Fault suites: the real Journal on the simulated disk, one failure at a time, in both modes.
 * Each test names the claim of docs/CRASH-SAFETY.md it proves.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Stream } from "effect"
import { FileIo, JournalReader } from "@fsys/core"
import { IoError } from "@fsys/native"
import { Generators, SimulatedDisk } from "@fsys/testkit"
import {
  assertPoisoned,
  assertPrefix,
  decodedFile,
  failureOf,
  modes,
  openAbandonable,
  openOn,
  PATH,
  recordOf,
} from "./support.ts"

const newDisk = (seed = 1, options?: Partial<SimulatedDisk.Options>) => SimulatedDisk.make({ seed, ...options })

describe.each(modes)("fault suite (%s)", (mode) => {
  it.effect("EIO on fdatasync poisons the journal; it is never retried; durable records survive", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk()
      const { journal, abandon } = yield* openAbandonable(disk, mode)
      const appended = [recordOf(0), recordOf(1)]
      yield* journal.appendBatch(appended)
      const durable = yield* journal.sync
      appended.push(recordOf(2))
      yield* journal.append(appended[2] as Uint8Array)
      yield* disk.inject({ op: "datasync", nth: 1, fault: SimulatedDisk.fail("EIO") })
      assertPoisoned(failureOf(yield* Effect.exit(journal.sync)), "EIO")
      const syncsAfterFailure = (yield* disk.stats).datasyncs

      // Everything after the failure fails; nothing retries the fdatasync.
      assertPoisoned(failureOf(yield* Effect.exit(journal.append(recordOf(3)))), "EIO")
      assertPoisoned(failureOf(yield* Effect.exit(journal.sync)), "EIO")
      assertPoisoned(failureOf(yield* Effect.exit(journal.syncThrough(yield* journal.nextLsn))), "EIO")
      // A target that was already durable is still durable.
      yield* journal.syncThrough(durable)
      assert.strictEqual((yield* disk.stats).datasyncs, syncsAfterFailure, "the failed fdatasync was retried")
      assert.isTrue(Exit.isFailure(yield* Effect.exit(journal.close)), "close must report the poison")

      yield* disk.crash({ mode: "dropUnsynced" })
      yield* abandon
      const reopened = yield* openOn(disk, mode)
      const file = yield* decodedFile(disk)
      assertPrefix(file.records, appended, 2, "after EIO on fdatasync")
      assert.strictEqual(yield* reopened.nextLsn, file.cleanEnd)
      yield* reopened.append(recordOf(9))
      yield* reopened.sync
    }),
  )

  it.effect("EIO on a rotation write poisons at once: no later record lands past the hole (FS-J4)", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk()
      const { journal, abandon } = yield* openAbandonable(disk, mode)
      yield* disk.inject({ op: "write", nth: 1, fault: SimulatedDisk.fail("EIO") })
      const appended: Array<Uint8Array> = []
      let failedAt = -1
      // 4 KiB slots: the 10th 500-byte record forces a rotation, whose write fails.
      for (let sequence = 0; sequence < 40 && failedAt < 0; sequence++) {
        const record = recordOf(sequence, 500)
        const exit = yield* Effect.exit(journal.append(record))
        if (Exit.isFailure(exit)) failedAt = sequence
        else appended.push(record)
        yield* Effect.yieldNow
      }
      assert.isAtLeast(failedAt, 0, "appends kept succeeding after the rotation write failed")
      const writesAfterPoison = (yield* disk.stats).writes
      for (let sequence = 100; sequence < 110; sequence++) {
        assertPoisoned(failureOf(yield* Effect.exit(journal.append(recordOf(sequence, 500)))), "EIO")
      }
      assert.strictEqual((yield* disk.stats).writes, writesAfterPoison, "a poisoned journal kept writing")
      yield* disk.crash({ mode: "keepAll" })
      yield* abandon
      yield* openOn(disk, mode)
      assertPrefix((yield* decodedFile(disk)).records, appended, 0, "after a failed rotation")
    }),
  )

  it.effect("short writes are continued and the records are intact", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk(3)
      const journal = yield* openOn(disk, mode)
      yield* disk.inject({ op: "write", probability: 0.5, fault: SimulatedDisk.shortWrite(700) })
      const appended = Array.from({ length: 60 }, (_, sequence) => recordOf(sequence, 30 + ((sequence * 97) % 900)))
      for (const record of appended) yield* journal.append(record)
      yield* journal.sync
      assert.isAbove((yield* disk.stats).faultsFired, 0)
      yield* disk.crash({ mode: "dropUnsynced" })
      yield* openOn(disk, mode)
      assertPrefix((yield* decodedFile(disk)).records, appended, appended.length, "after short writes")
    }),
  )

  it.effect("a write that makes no progress poisons with ShortWrite", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk()
      const journal = yield* openOn(disk, mode)
      yield* journal.append(recordOf(0))
      yield* disk.inject({ op: "write", nth: 1, fault: SimulatedDisk.shortWrite(0) })
      const error = failureOf(yield* Effect.exit(journal.sync))
      assertPoisoned(error, "ESHORT")
      if (error._tag === "JournalPoisoned") assert.strictEqual(error.cause.reason, "ShortWrite")
    }),
  )

  it.effect("ENOSPC poisons; what was synced before survives; the full disk reopens", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk(1, { capacityBytes: 48 * 1024 })
      const { journal, abandon } = yield* openAbandonable(disk, mode)
      const appended: Array<Uint8Array> = []
      let durableCount = 0
      let failure: Option.Option<unknown> = Option.none()
      for (let sequence = 0; sequence < 200 && Option.isNone(failure); sequence++) {
        const record = recordOf(sequence, 700)
        const exit = yield* Effect.exit(Effect.andThen(journal.append(record), journal.sync))
        if (Exit.isFailure(exit)) failure = Option.some(failureOf(exit))
        else durableCount = appended.push(record)
        if (Exit.isFailure(exit)) appended.push(record)
      }
      assert.isTrue(Option.isSome(failure), "the disk never filled up")
      const error = Option.getOrThrow(failure) as ReturnType<typeof failureOf>
      assertPoisoned(error, "ENOSPC")
      yield* disk.crash({ mode: "dropUnsynced" })
      yield* abandon
      const reopened = yield* openOn(disk, mode)
      assertPrefix((yield* decodedFile(disk)).records, appended, durableCount, "after ENOSPC")
      assert.isAtLeast(yield* reopened.syncedLsn, 0)
    }),
  )

  it.effect("an injected ENOSPC on a write poisons like a full disk", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk()
      const journal = yield* openOn(disk, mode)
      yield* journal.append(recordOf(0))
      yield* disk.inject({ op: "write", nth: 1, fault: SimulatedDisk.fail("ENOSPC") })
      assertPoisoned(failureOf(yield* Effect.exit(journal.sync)), "ENOSPC")
    }),
  )

  it.effect("a failed oversize write poisons; recovery keeps the prefix before it", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk()
      const { journal, abandon } = yield* openAbandonable(disk, mode)
      const appended = [recordOf(0, 300), recordOf(1, 300)]
      yield* journal.appendBatch(appended)
      yield* journal.sync
      // Bigger than a 4 KiB slot: written from its own scratch buffer. That write fails.
      yield* disk.inject({ op: "write", nth: 1, fault: SimulatedDisk.fail("EIO") })
      const oversize = recordOf(2, 10_000)
      const appendedOversize = yield* Effect.exit(journal.append(oversize))
      if (Exit.isSuccess(appendedOversize)) appended.push(oversize)
      assertPoisoned(failureOf(yield* Effect.exit(journal.sync)), "EIO")
      assertPoisoned(failureOf(yield* Effect.exit(journal.append(recordOf(3)))), "EIO")
      yield* disk.crash({ mode: "keepAll" })
      yield* abandon
      yield* openOn(disk, mode)
      assertPrefix((yield* decodedFile(disk)).records, appended, 2, "after a failed oversize write")
    }),
  )

  it.effect("a crash during an oversize write never exposes a half record", () =>
    Effect.gen(function* () {
      for (let seed = 1; seed <= 12; seed++) {
        const disk = yield* newDisk(seed)
        const { journal, abandon } = yield* openAbandonable(disk, mode)
        const appended = [recordOf(0, 300)]
        yield* journal.append(appended[0] as Uint8Array)
        yield* journal.sync
        yield* disk.inject({
          op: "write",
          nth: 1,
          fault: SimulatedDisk.powerLoss(seed % 2 === 0 ? "tornWrite" : "keepSubset"),
        })
        const oversize = recordOf(1, 20_000)
        if (Exit.isSuccess(yield* Effect.exit(journal.append(oversize)))) appended.push(oversize)
        yield* Effect.exit(journal.sync)
        yield* abandon
        yield* openOn(disk, mode)
        assertPrefix((yield* decodedFile(disk)).records, appended, 1, `seed ${seed}`)
      }
    }),
  )
})

describe.each(modes)("recovery faults (%s)", (mode) => {
  /** A journal with `count` synced records and a torn tail (half of one more frame) after them. */
  const tornJournal = (disk: SimulatedDisk.Disk, count: number) =>
    Effect.gen(function* () {
      const appended = Array.from({ length: count }, (_, sequence) => recordOf(sequence, 200))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* openOn(disk, mode)
          yield* journal.appendBatch(appended)
          yield* journal.close
        }),
      )
      const clean = Option.getOrThrow(yield* disk.readFile(PATH))
      const cleanEnd = appended.reduce((sum, record) => sum + record.length + 12, 0)
      const torn = new Uint8Array(cleanEnd + 150)
      torn.set(clean.subarray(0, cleanEnd))
      // The first 150 bytes of a frame: the header says 200 bytes of payload follow.
      torn.set([0x46, 0x53, 0x59, 0x01, 200, 0, 0, 0], cleanEnd)
      torn.fill(0xab, cleanEnd + 8)
      yield* disk.writeFile(PATH, torn)
      return { appended, cleanEnd, torn }
    })

  it.effect("a failed sidecar copy fails the open and leaves the journal untouched", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk()
      const { appended, cleanEnd, torn } = yield* tornJournal(disk, 5)
      const sidecar = `${PATH}.corrupt-${cleanEnd}`
      for (const op of ["write", "sync", "syncDirectory"] as const) {
        yield* disk.inject({ op, nth: 1, fault: SimulatedDisk.fail("EIO") })
        const opened = yield* Effect.exit(Effect.scoped(openOn(disk, mode)))
        yield* disk.clearFaults
        const error = failureOf(opened)
        assert.instanceOf(error, IoError.IoError, `${op}: open must fail with the IoError`)
        assert.deepStrictEqual(Option.getOrThrow(yield* disk.readFile(PATH)), torn, `${op}: the journal was modified`)
        assert.isFalse((yield* disk.files).includes(sidecar), `${op}: a partial sidecar was left`)
      }
      // Without the fault the same open recovers: sidecar saved, journal truncated.
      const journal = yield* openOn(disk, mode)
      assert.strictEqual(yield* journal.nextLsn, cleanEnd)
      assert.deepStrictEqual(Option.getOrThrow(yield* disk.readFile(sidecar)), torn.subarray(cleanEnd))
      assertPrefix((yield* decodedFile(disk)).records, appended, appended.length, "after the retried open")
      assert.strictEqual(Option.getOrThrow(yield* disk.readFile(PATH)).length, cleanEnd)
    }),
  )

  it.effect("a power loss at any step of recovery: the next open still recovers the same prefix", () =>
    Effect.gen(function* () {
      let steps = 0
      for (const op of ["open", "read", "write", "sync", "syncDirectory", "truncate", "datasync"] as const) {
        for (let nth = 1; nth <= 3; nth++) {
          const disk = yield* newDisk(nth)
          const { appended, cleanEnd, torn } = yield* tornJournal(disk, 4)
          yield* disk.inject({ op, nth, fault: SimulatedDisk.powerLoss() })
          const first = yield* Effect.exit(Effect.scoped(openOn(disk, mode)))
          yield* disk.clearFaults
          if (Exit.isFailure(first)) steps++
          const journal = yield* openOn(disk, mode)
          const context = `power loss at ${op} #${nth}`
          assert.strictEqual(yield* journal.nextLsn, cleanEnd, context)
          assert.strictEqual(yield* journal.syncedLsn, cleanEnd, context)
          assertPrefix((yield* decodedFile(disk)).records, appended, appended.length, context)
          // A copy cut short by the power keeps its name (saved tails are never overwritten), so
          // the retry saves to the next free one.
          const sidecarPath = (yield* journal.info).sidecarPath ?? `${PATH}.corrupt-${cleanEnd}`
          const sidecar = Option.getOrUndefined(yield* disk.readFile(sidecarPath))
          // The tail is never lost before it was saved: either it is still in the journal (and
          // the open above saved it), or a complete sidecar holds it.
          assert.isDefined(sidecar, context)
          assert.deepStrictEqual(sidecar, torn.subarray(cleanEnd), context)
        }
      }
      assert.isAbove(steps, 5, "the power losses did not hit the recovery")
    }),
  )

  it.effect("a new journal's directory entry is durable before the first sync returns", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk()
      const { journal, abandon } = yield* openAbandonable(disk, mode)
      yield* journal.append(recordOf(0))
      yield* journal.sync
      yield* disk.crash({ mode: "loseDirectoryEntries" })
      yield* abandon
      assert.deepStrictEqual(yield* disk.files, [PATH])
      assertPrefix((yield* decodedFile(disk)).records, [recordOf(0)], 1, "after losing unsynced entries")
    }),
  )

  it.effect("open never trusts the page cache: it syncs before reporting syncedLsn", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk()
      const first = yield* openAbandonable(disk, mode)
      const appended = [recordOf(0), recordOf(1), recordOf(2)]
      yield* first.journal.appendBatch(appended)
      // Flushed to the file without a sync: a killed process leaves exactly this.
      yield* disk.inject({ op: "datasync", fault: SimulatedDisk.fail("EIO") })
      yield* Effect.exit(first.journal.sync)
      yield* disk.clearFaults
      yield* disk.crash({ mode: "keepAll" })
      yield* first.abandon
      const second = yield* openAbandonable(disk, mode)
      const end = yield* second.journal.nextLsn
      assert.strictEqual(yield* second.journal.syncedLsn, end)
      // If open had only trusted what it read, this power cut would lose "durable" records.
      yield* disk.crash({ mode: "dropUnsynced" })
      yield* second.abandon
      const file = yield* decodedFile(disk)
      assert.strictEqual(file.cleanEnd, end, "records reported durable at open were lost")
    }),
  )
})

describe.each(modes)("group commit and checksums (%s)", (mode) => {
  it.effect("concurrent syncers share fdatasyncs; a covered sync makes no syscall", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk()
      const journal = yield* openOn(disk, mode, { logBufferBytes: 65536 })
      // Each fdatasync takes a few scheduler turns, so waiters pile up behind it.
      yield* disk.inject({ op: "datasync", fault: SimulatedDisk.yieldFirst(10) })
      const before = (yield* disk.stats).datasyncs
      const producers = 64
      yield* Effect.forEach(
        Array.from({ length: producers }, (_, writer) => writer),
        (writer) => Effect.flatMap(journal.append(recordOf(0, 100, writer)), journal.syncThrough),
        { concurrency: "unbounded", discard: true },
      )
      const rounds = (yield* disk.stats).datasyncs - before
      assert.isAtMost(rounds, 4, `${producers} syncers took ${rounds} fdatasyncs`)
      const covered = yield* journal.syncedLsn
      yield* journal.syncThrough(covered)
      yield* journal.syncThrough(covered - 1)
      assert.strictEqual((yield* disk.stats).datasyncs - before, rounds)
    }),
  )

  it.effect("checksums catch bit-flipped and misdirected reads: garbage is never returned", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk(5)
      const appended = Array.from({ length: 40 }, (_, sequence) => recordOf(sequence, 300))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* openOn(disk, mode)
          yield* journal.appendBatch(appended)
          yield* journal.close
        }),
      )
      for (const fault of [
        SimulatedDisk.bitFlip,
        SimulatedDisk.misdirectedRead(512),
        SimulatedDisk.misdirectedRead(-4096),
      ]) {
        yield* disk.inject({ op: "read", nth: 1, fault })
        const read = yield* JournalReader.records(PATH).pipe(
          Stream.runCollect,
          Effect.provideService(FileIo.FileIo, disk.fileIo),
        )
        yield* disk.clearFaults
        assert.isBelow(read.length, appended.length, `${fault._tag}: the corruption went unnoticed`)
        for (let index = 0; index < read.length; index++) {
          const record = read[index] as JournalReader.JournalRecord
          assert.isDefined(Generators.parseRecord(record.payload), `${fault._tag}: garbage record ${index}`)
          assert.deepStrictEqual(record.payload, appended[index], `${fault._tag}: record ${index}`)
        }
      }
    }),
  )

  it.effect("concurrent appends and syncs under IO reordering stay contiguous and durable", () =>
    Effect.gen(function* () {
      const disk = yield* newDisk(11)
      const { journal, abandon } = yield* openAbandonable(disk, mode)
      yield* disk.inject({ op: ["write", "datasync"], probability: 0.5, fault: SimulatedDisk.yieldFirst(7) })
      let durable = 0
      const fibers = yield* Effect.forEach(
        Array.from({ length: 8 }, (_, writer) => writer),
        (writer) =>
          Effect.forkChild(
            Effect.gen(function* () {
              for (let sequence = 0; sequence < 25; sequence++) {
                const end = yield* journal.append(
                  recordOf(sequence, 40 + ((writer * 131 + sequence * 61) % 1500), writer),
                )
                if (sequence % 5 === 4) {
                  yield* journal.syncThrough(end)
                  durable = Math.max(durable, end)
                }
              }
            }),
          ),
      )
      yield* Fiber.joinAll(fibers)
      yield* disk.crash({ mode: "dropUnsynced" })
      yield* abandon
      yield* openOn(disk, mode)
      const file = yield* decodedFile(disk)
      assert.isAtLeast(file.cleanEnd, durable)
      for (const record of file.records) assert.isDefined(Generators.parseRecord(record.payload))
    }),
  )
})
