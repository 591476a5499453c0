/**
 * Reads in flight during recovery. A read submitted through a handle runs to completion even if
 * its caller is interrupted (the kernel does not cancel it); the simulated disk models that, and
 * records memory freed while IO on it is in flight as a violation. The recovery scan reads the
 * next chunk while it checks this one, and `Journal.open` reads through one aligned bounce buffer:
 * both run here through every interrupt point with every read delayed, so a read left behind, two
 * reads sharing that buffer, or the buffer freed under a read is caught.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
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
