/**
 * Reads in flight during recovery. A read submitted through a handle runs to completion even if
 * its caller is interrupted (the kernel does not cancel it); the simulated disk models that, and
 * records memory freed while IO on it is in flight as a violation. The recovery scan reads the
 * next chunk while it checks this one, and `Journal.open` reads through one aligned bounce buffer:
 * both run here through every interrupt point with every read delayed, so a read left behind, two
 * reads sharing that buffer, or the buffer freed under a read is caught.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { FileIo, Frame, Journal, JournalReader } from "@fsys/core"
import { Interruption, SimulatedDisk } from "@fsys/testkit"

/** Frames of 4 KiB payloads filling a bit more than two 4 MiB scan chunks. */
const journalBytes = (): { readonly bytes: Uint8Array; readonly records: number } => {
  const payload = new Uint8Array(4096).fill(7)
  const frameBytes = Frame.frameBytes(payload.length)
  const records = Math.ceil((9 * 1024 * 1024) / frameBytes)
  const bytes = new Uint8Array(records * frameBytes)
  for (let i = 0; i < records; i++) {
    payload[0] = (i % 250) + 1
    Frame.encodeInto(bytes, i * frameBytes, payload)
  }
  return { bytes, records }
}

describe("reads in flight during recovery", () => {
  it.live(
    "the recovery scan over several chunks, interrupted at every yield with every read delayed, leaves no read behind",
    () =>
      Effect.gen(function* () {
        const disk = yield* SimulatedDisk.make({ seed: 92 })
        const journal = journalBytes()
        yield* disk.writeFile("/d/journal", journal.bytes)
        // Every read waits a few scheduler turns: the read-ahead is in flight while chunks are checked.
        yield* disk.inject({ op: "read", fault: SimulatedDisk.yieldFirst(4) })
        const scan = JournalReader.scan("/d/journal").pipe(Effect.provideService(FileIo.FileIo, disk.fileIo))
        let completed = 0
        const report = yield* Interruption.sweep(
          "scan",
          [3, 4],
          (ops, k) =>
            Effect.gen(function* () {
              const exit = yield* Interruption.interruptAfter(scan, ops, k)
              if (Exit.isSuccess(exit)) {
                assert.strictEqual(exit.value.records, journal.records)
                assert.strictEqual(exit.value.cleanEnd, journal.bytes.length)
                completed++
              }
              return exit
            }),
          16,
        )
        assert.isAbove(report.interrupted, 0)
        assert.strictEqual(completed, 2)
        assert.deepStrictEqual(yield* disk.violations, [])
        // One read at a time (the recovery's bounce buffer depends on it), and more than one chunk read.
        const stats = yield* disk.stats
        assert.strictEqual(stats.readsInFlightMax, 1)
        assert.isAtLeast(stats.reads, 3)
      }),
    120_000,
  )

  it.live("a bad sector in the chunk after damage is always reported; two chunks on, never read", () =>
    Effect.gen(function* () {
      const journal = journalBytes()
      // A flipped byte at 1 MiB: the scan stops there, while the next chunk is being read ahead.
      const damageAt = 1024 * 1024 + 100
      const damaged = journal.bytes.slice()
      damaged[damageAt] = (damaged[damageAt] as number) ^ 1
      const frameBytes = Frame.frameBytes(4096)
      const cleanEnd = Math.floor(damageAt / frameBytes) * frameBytes
      const openOn = (disk: SimulatedDisk.Disk, onReadError?: "truncate") =>
        Effect.exit(
          Effect.scoped(
            Effect.flatMap(
              Journal.open("/d/journal", {
                mode: "buffered",
                preallocateBytes: 0,
                ...(onReadError === undefined ? {} : { onReadError }),
              }),
              (j) => j.nextLsn,
            ),
          ).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo)),
        )
      // The same outcome on every seed: it must not depend on how far the read-ahead got.
      for (let seed = 0; seed < 6; seed++) {
        for (const [badAt, refused] of [
          [5 * 1024 * 1024 + 10, true],
          [8 * 1024 * 1024 + 10, false],
        ] as const) {
          const disk = yield* SimulatedDisk.make({ seed: 200 + seed })
          yield* disk.writeFile("/d/journal", damaged)
          yield* disk.markBadSector("/d/journal", badAt)
          const exit = yield* openOn(disk)
          const label = `seed ${seed}, bad sector at ${badAt}`
          const outcome = Exit.isSuccess(exit)
            ? `opened at ${exit.value}`
            : Option.match(Cause.findErrorOption(exit.cause), {
                onNone: () => Cause.pretty(exit.cause),
                onSome: (error) => (error as { readonly _tag: string })._tag,
              })
          if (refused) {
            assert.strictEqual(outcome, "JournalUnreadable", label)
            // Asked to, recovery keeps the prefix before the damage.
            assert.strictEqual(yield* Effect.flatMap(openOn(disk, "truncate"), (e) => e), cleanEnd, label)
          } else {
            assert.strictEqual(outcome, `opened at ${cleanEnd}`, label)
          }
          assert.deepStrictEqual(yield* disk.violations, [], label)
        }
      }
    }),
  )

  it.live(
    "Journal.open recovering a multi-chunk journal, interrupted at every yield, leaves no read behind",
    () =>
      Effect.gen(function* () {
        const disk = yield* SimulatedDisk.make({ seed: 93 })
        const journal = journalBytes()
        yield* disk.inject({ op: "read", fault: SimulatedDisk.yieldFirst(4) })
        const open = Effect.scoped(
          Effect.flatMap(Journal.open("/d/journal", { mode: "buffered", preallocateBytes: 0 }), (j) => j.nextLsn),
        ).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo))
        const report = yield* Interruption.sweep(
          "open",
          [3],
          (ops, k) =>
            Effect.gen(function* () {
              yield* disk.writeFile("/d/journal", journal.bytes)
              const exit = yield* Interruption.interruptAfter(open, ops, k)
              if (Exit.isSuccess(exit)) assert.strictEqual(exit.value, journal.bytes.length)
              return exit
            }),
          16,
        )
        assert.isAbove(report.interrupted, 0)
        assert.deepStrictEqual(yield* disk.violations, [])
      }),
    120_000,
  )
})
