/**
 * fsys specifies appendBatch as **one reservation**: the batch's records are framed separately but
 * placed back to back, so a crash leaves a prefix of the batch and nothing of another writer in
 * between. The randomized suite checks batches only through their last record (see
 * `CrashHarness.SeedOptions.batchContiguity`); this suite checks the reservation itself, in a
 * scenario that makes a batch wait for a slot mid-way while another fiber appends.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { CrashHarness, SimulatedDisk } from "@fsys/testkit"
import { decodedFile, modes, openOn, recordOf } from "./support.ts"

describe.each(modes)("appendBatch is one contiguous reservation (%s)", (mode) => {
  it.effect("a batch that waits for a slot mid-way is not split by a concurrent append", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 1 })
      const journal = yield* openOn(disk, mode)
      // Writes take a few scheduler turns: the sealed slot stays busy while the batch needs it.
      yield* disk.inject({ op: "write", fault: SimulatedDisk.yieldFirst(5) })
      // 4 KiB slots: the second member seals the first slot, the third must wait for it.
      const batch = [recordOf(0, 3000, 1), recordOf(1, 3000, 1), recordOf(2, 1500, 1)]
      const single = recordOf(0, 50, 2)
      const [batchEnd] = yield* Effect.all([journal.appendBatch(batch), journal.append(single)], {
        concurrency: "unbounded",
      })
      yield* journal.sync
      const file = yield* decodedFile(disk)
      const first = file.records.findIndex((record) => record.payload.length === 3000)
      const members = file.records.slice(first, first + 3).map((record) => record.payload)
      assert.deepStrictEqual(members, batch, "another record was placed inside the batch")
      const last = file.records[first + 2] as CrashHarness.JournalRecord
      assert.strictEqual(last.lsn + last.payload.length + 12, batchEnd)
    }),
  )

  it.live("randomized: every batch's members end exactly at the LSN appendBatch returned", () =>
    Effect.gen(function* () {
      const failing: Array<string> = []
      for (let seed = 1; seed <= 60; seed++) {
        const result = yield* CrashHarness.runSeed({ seed, mode, batchContiguity: true, epochs: 2 })
        if (result.failures.length > 0) failing.push(result.failures[0] as string)
      }
      assert.strictEqual(
        failing.length,
        0,
        `${failing.length} of 60 seeds split a batch:\n${failing.slice(0, 5).join("\n")}`,
      )
    }),
  )
})
