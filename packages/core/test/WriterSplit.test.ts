/**
 * The writer's split Direct write (`internal/logBuffer/writer.ts`, `splitFrom`) driven directly:
 * a layer whose writes complete only when the test says so, and a refusal the test switches on.
 * What it guards: a split job refused before it started (the buffer began closing, or an earlier
 * failure poisoned it, while the write before it was in flight) is reported failed once, and the
 * earlier write's completion then starts nothing for it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Exit } from "effect"
import { JournalClosed } from "../src/JournalError.ts"
import { type Job, type JobExit, type JobFailure, Writer } from "../src/internal/logBuffer/writer.ts"

const SECTOR_BYTES = 4096

const slotJob = (
  slot: number,
  fileOffsetBytes: number,
  byteLength: number,
  onDone: (f: JobFailure | undefined) => void,
): Job => ({
  kind: "slot",
  slot,
  bytes: new Uint8Array(byteLength),
  fileOffsetBytes,
  dataStartLsn: fileOffsetBytes,
  endLsn: fileOffsetBytes + byteLength,
  datasync: false,
  onDone,
})

const flushMicrotasks = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("the writer's split Direct write", () => {
  it("starts the rest at once and the shared sector after the write before it", async () => {
    const started: Array<{ readonly offset: number; readonly length: number; readonly done: JobExit }> = []
    const reported: Array<string> = []
    const writer = new Writer({
      lanes: 1,
      sectorBytes: SECTOR_BYTES,
      start: (job, _lane, done) => {
        if (job.kind === "slot") started.push({ offset: job.fileOffsetBytes, length: job.bytes.byteLength, done })
      },
      refusal: () => undefined,
      settle: (_job, exit) => (Exit.isFailure(exit) ? new JournalClosed({ path: "/x" }) : undefined),
      afterSettle: () => {},
      closeScratch: (_scope, done) => done(),
    })
    // A ends inside its last sector (written padded to 3 sectors); B starts at that sector.
    writer.push(slotJob(0, 0, 3 * SECTOR_BYTES, (f) => reported.push(`A ${f === undefined ? "ok" : "failed"}`)))
    writer.push(
      slotJob(1, 2 * SECTOR_BYTES, 4 * SECTOR_BYTES, (f) => reported.push(`B ${f === undefined ? "ok" : "failed"}`)),
    )
    await flushMicrotasks()
    assert.deepStrictEqual(
      started.map(({ offset, length }) => [offset, length]),
      [
        [0, 3 * SECTOR_BYTES],
        [3 * SECTOR_BYTES, 3 * SECTOR_BYTES],
      ],
      "A, and B but its first sector",
    )
    started[0]!.done(Exit.void)
    assert.deepStrictEqual(started[2] && [started[2].offset, started[2].length], [2 * SECTOR_BYTES, SECTOR_BYTES])
    started[1]!.done(Exit.void)
    assert.deepStrictEqual(reported, ["A ok"], "B waits for its first sector")
    started[2]!.done(Exit.void)
    assert.deepStrictEqual(reported, ["A ok", "B ok"])
  })

  it("a split job refused before it started is failed once; the write before it completes cleanly", async () => {
    const started: Array<JobExit> = []
    const reported: Array<string> = []
    let refusal: JobFailure | undefined
    const writer = new Writer({
      lanes: 1,
      sectorBytes: SECTOR_BYTES,
      start: (_job, _lane, done) => started.push(done),
      refusal: () => refusal,
      settle: (_job, exit) => (Exit.isFailure(exit) ? new JournalClosed({ path: "/x" }) : undefined),
      afterSettle: () => {},
      closeScratch: (_scope, done) => done(),
    })
    writer.push(slotJob(0, 0, 3 * SECTOR_BYTES, (f) => reported.push(`A ${f === undefined ? "ok" : "failed"}`)))
    await flushMicrotasks()
    assert.strictEqual(started.length, 1, "A is in flight")
    // The buffer starts closing while A is in flight; B, split-eligible, is queued after.
    refusal = new JournalClosed({ path: "/x" })
    writer.push(
      slotJob(1, 2 * SECTOR_BYTES, 4 * SECTOR_BYTES, (f) => reported.push(`B ${f === undefined ? "ok" : "failed"}`)),
    )
    await flushMicrotasks()
    assert.strictEqual(started.length, 1, "B was refused, not started")
    started[0]!(Exit.void)
    await flushMicrotasks()
    assert.strictEqual(started.length, 1, "nothing starts for the refused job")
    assert.deepStrictEqual(reported, ["A ok", "B failed"])
    assert.strictEqual(writer.queuedJobs, 0)
  })
})
