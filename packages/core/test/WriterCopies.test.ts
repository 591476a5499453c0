/**
 * The writer's bound on buffered copies in flight (`internal/logBuffer/writer.ts`, `copiesFit`)
 * driven directly: a buffered write is a page-cache copy on a kernel worker thread, so on a
 * machine without a core to spare two large ones never run at once; small ones (a durable
 * round's) still overlap, and Direct writes (DMA, no copy) are not bounded at all.
 */
import { assert, describe, it } from "@effect/vitest"
import { Exit } from "effect"
import { BUFFERED_OVERLAP_BYTES_MAX_FEW_CORES, bufferedOverlapBytesMax } from "../src/internal/capabilities/cores.ts"
import { type Job, type JobExit, Writer } from "../src/internal/logBuffer/writer.ts"

const MIB = 1024 * 1024

const slotJob = (slot: number, fileOffsetBytes: number, byteLength: number): Job => ({
  kind: "slot",
  slot,
  bytes: new Uint8Array(byteLength),
  fileOffsetBytes,
  dataStartLsn: fileOffsetBytes,
  endLsn: fileOffsetBytes + byteLength,
  datasync: false,
  onDone: undefined,
})

const flushMicrotasks = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Queues two disjoint unsynced slot writes of `byteLength`; how many started before either completed. */
const startedTogether = async (
  sectorBytes: number,
  byteLength: number,
  boundBytes: number | undefined,
): Promise<{ readonly together: number; readonly total: number }> => {
  const started: Array<JobExit> = []
  const writer = new Writer({
    lanes: 1,
    sectorBytes,
    bufferedOverlapBytesMax: boundBytes,
    start: (_job, _lane, done) => started.push(done),
    refusal: () => undefined,
    settle: () => undefined,
    afterSettle: () => {},
    closeScratch: (_scope, done) => done(),
  })
  writer.push(slotJob(0, 0, byteLength))
  writer.push(slotJob(1, byteLength, byteLength))
  await flushMicrotasks()
  const together = started.length
  // Completing what runs lets the rest start: nothing is lost to the bound, only delayed.
  for (let i = 0; i < started.length && i < 2; i++) {
    started[i]!(Exit.void)
    await flushMicrotasks()
  }
  assert.strictEqual(writer.queuedJobs, 0, "both writes ran")
  return { together, total: started.length }
}

describe("buffered copies in flight", () => {
  it("two large buffered writes run one after the other where no core is spare", async () => {
    assert.deepStrictEqual(await startedTogether(1, 4 * MIB, BUFFERED_OVERLAP_BYTES_MAX_FEW_CORES), {
      together: 1,
      total: 2,
    })
  })

  it("small buffered writes still overlap, and so do large ones where cores allow", async () => {
    assert.deepStrictEqual(await startedTogether(1, 264 * 1024, BUFFERED_OVERLAP_BYTES_MAX_FEW_CORES), {
      together: 2,
      total: 2,
    })
    assert.deepStrictEqual(await startedTogether(1, 4 * MIB, undefined), { together: 2, total: 2 })
  })

  it("Direct writes (DMA, no copy) are not bounded", async () => {
    assert.deepStrictEqual(await startedTogether(4096, 4 * MIB, BUFFERED_OVERLAP_BYTES_MAX_FEW_CORES), {
      together: 2,
      total: 2,
    })
  })

  it("the bound follows the CPUs: a second large copy needs a third core", () => {
    assert.strictEqual(bufferedOverlapBytesMax(1), BUFFERED_OVERLAP_BYTES_MAX_FEW_CORES)
    assert.strictEqual(bufferedOverlapBytesMax(2), BUFFERED_OVERLAP_BYTES_MAX_FEW_CORES)
    assert.strictEqual(bufferedOverlapBytesMax(3), Number.POSITIVE_INFINITY)
  })
})
