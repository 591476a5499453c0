/**
 * `openSegmentedJournal` in `@fsys/core/promise`: the segmented journal without Effect; errors
 * reject with the tagged classes themselves.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { NoRecordAt, openSegmentedJournal } from "@fsys/core/promise"

let dir = ""
beforeEach(() => {
  dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-promise-seg-"))
})
afterEach(() => NodeFs.rmSync(dir, { recursive: true, force: true }))

describe("openSegmentedJournal", () => {
  it("appends across segments, reads by LSN, truncates, checkpoints, iterates records, reopens", async () => {
    const directory = NodePath.join(dir, "log")
    const options = { mode: "buffered", segmentBytes: 4096, preallocateBytes: 0 } as const
    const starts: Array<number> = []
    {
      await using journal = await openSegmentedJournal(directory, options)
      for (let i = 0; i < 100; i++) {
        starts.push(journal.nextLsn())
        await journal.append(new Uint8Array(100).fill(i))
      }
      await journal.sync()
      expect(journal.segments().length).toBeGreaterThan(2)
      expect(await journal.read(starts[42]!)).toEqual(new Uint8Array(100).fill(42))
      await expect(journal.read(starts[42]! + 1)).rejects.toBeInstanceOf(NoRecordAt)
      await journal.checkpoint(starts[50]!, new Uint8Array([7]))
      await journal.truncateFront(starts[50]!)
      await journal.truncateBack(starts[90]!)
      expect(journal.nextLsn()).toBe(starts[90])
      let count = 0
      for await (const record of journal.records()) {
        expect(record.payload[0]).toBe(starts.indexOf(record.lsn))
        count++
      }
      expect(count).toBeGreaterThan(30)
    }
    const reopened = await openSegmentedJournal(directory, options)
    expect(reopened.lastCheckpoint()?.lsn).toBe(starts[50])
    expect(reopened.nextLsn()).toBe(starts[90])
    await reopened.close()
  })
})
