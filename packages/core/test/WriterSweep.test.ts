/**
 * The writer's state machine (`internal/logBuffer/writer.ts`) swept by seed: random job streams
 * (slot writes synced and unsynced, bare fdatasyncs, oversize chunks, preallocations; buffered
 * and Direct sector sharing; one or two lanes), IOs that complete in any order, fail, or
 * complete inside their own `start`, a buffer that starts closing or is poisoned at any point,
 * and a scratch free that completes later. Each IO is checked when it starts against the rules
 * the module doc states, and each case ends with every job reported once, in queue order, and
 * an empty queue (no wedge).
 *
 * Why a sweep and not only cases: `WriterSplit.test.ts`'s defect (a refused split job whose
 * first sector was still written) needed a close while a Direct write was in flight with a
 * split-eligible one queued behind it, which the journal-level crash suites rarely produce. This
 * harness reaches every such point by construction: the state machine is driven directly, and
 * a close, a failure or a completion can land between any two steps.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Exit, Option, Scope } from "effect"
import { IoError } from "@fsys/native"
import { JournalClosed } from "../src/JournalError.ts"
import {
  IN_FLIGHT_MAX,
  JOBS_MAX,
  type Job,
  type JobExit,
  type JobFailure,
  Writer,
} from "../src/internal/logBuffer/writer.ts"
import { seededRandom } from "./seeded.ts"

/** Seeds per run; `FSYS_WRITER_SEEDS` raises it for a longer search. */
const SEEDS = Number(process.env.FSYS_WRITER_SEEDS ?? 10_000)
/** Jobs pushed per case. */
const JOBS_PER_CASE = 40
/** Steps per case at most, so a case that stops making progress fails instead of spinning. */
const STEPS_MAX = 5_000
const DIRECT_SECTOR_BYTES = 4096
const PATH = "/sweep/journal.log"

/** One IO the writer started: a whole job, or one part of a split slot write. */
interface Io {
  readonly jobIndex: number
  readonly from: number
  readonly to: number
  /** Carries an fdatasync (a synced slot write, or a bare fdatasync). */
  readonly synced: boolean
  readonly lane: number
  readonly done: JobExit
}

interface Pushed {
  readonly job: Job
  reports: number
  failure: JobFailure | undefined
  /** Byte ranges of this job's IOs that completed successfully. */
  readonly written: Array<readonly [number, number]>
  /** One of its IOs failed. */
  failedIo: boolean
}

const pushedEntry = (job: Job): Pushed => ({ job, reports: 0, failure: undefined, written: [], failedIo: false })

const bytesWritten = (entry: Pushed): number => entry.written.reduce((sum, [from, to]) => sum + (to - from), 0)

const ioError = () => new IoError.IoError({ syscall: "write", path: PATH, code: "EIO", reason: "Io" })

const rangeOf = (job: Job): readonly [number, number] => {
  switch (job.kind) {
    case "slot":
    case "scratch":
      return [job.fileOffsetBytes, job.fileOffsetBytes + job.bytes.byteLength]
    case "preallocate":
      return [job.fromBytes, job.toBytes]
    case "datasync":
      return [0, 0]
  }
}

/** Runs one seeded case; returns a description of the first rule broken, or `undefined`. */
const runCase = async (seed: number): Promise<string | undefined> => {
  const random = seededRandom(seed)
  const lanes = random.chance(0.5) ? 1 : IN_FLIGHT_MAX
  const sectorBytes = random.chance(0.5) ? 1 : DIRECT_SECTOR_BYTES
  const broken: Array<string> = []
  const check = (ok: boolean, rule: string) => {
    if (!ok && broken.length === 0) broken.push(rule)
  }
  const pushed: Array<Pushed> = []
  const inFlight: Array<Io> = []
  const scratchCloses: Array<() => void> = []
  const reportOrder: Array<number> = []
  let refusal: JobFailure | undefined
  let poisoned: IoError.IoError | undefined
  /** Every IO started, in start order. */
  const history: Array<Io> = []
  let flushedLsn = 0

  const jobIndexOf = (job: Job): number => pushed.findIndex((p) => p.job === job)

  const started = (jobIndex: number, job: Job, from: number, to: number, lane: number, done: JobExit) => {
    const synced = job.kind === "datasync" || (job.kind === "slot" && job.datasync)
    const own = pushed[jobIndex]!.job
    // Once the buffer refuses IO nothing new starts; only the second part of a split job whose
    // first part already started may (the job is under way and completes with both).
    const underWay = history.some((io) => io.jobIndex === jobIndex)
    check(
      refusal === undefined || (job !== own && underWay),
      `seed ${seed}: job ${jobIndex} started while the buffer refuses IO`,
    )
    // Overlapping IOs start in job order, one after the other: the later job's bytes land last.
    for (const other of history) {
      if (to <= other.from || from >= other.to || from === to || other.from === other.to) continue
      check(
        other.jobIndex < jobIndex,
        `seed ${seed}: job ${jobIndex} [${from}, ${to}) after later job ${other.jobIndex}`,
      )
      check(
        !inFlight.includes(other),
        `seed ${seed}: job ${jobIndex} [${from}, ${to}) started beside [${other.from}, ${other.to}) in flight`,
      )
    }
    if (job !== own && from === rangeOf(own)[0]) {
      // A split job's first sector rewrites the one the job before it wrote: only once that
      // write succeeded (after its failure the job fails without it).
      const before = pushed[jobIndex - 1]!
      const [a, b] = rangeOf(before.job)
      check(
        !before.failedIo && bytesWritten(before) === b - a,
        `seed ${seed}: job ${jobIndex}'s first sector started before job ${jobIndex - 1} was written`,
      )
    }
    const jobsInFlight = new Set(inFlight.map((io) => io.jobIndex).concat([jobIndex]))
    check(jobsInFlight.size <= IN_FLIGHT_MAX, `seed ${seed}: ${jobsInFlight.size} jobs in flight`)
    for (const other of inFlight) {
      if (other.jobIndex === jobIndex) continue
      const kinds = `${own.kind}/${pushed[other.jobIndex]!.job.kind}`
      check(kinds === "slot/slot", `seed ${seed}: ${kinds} jobs ${jobIndex} and ${other.jobIndex} in flight together`)
    }
    if (synced) {
      // Its fdatasync may only vouch for writes that completed before it: every earlier job is
      // written (or failed), or is a synced write on another open file (it has its own fdatasync).
      for (let earlier = 0; earlier < jobIndex; earlier++) {
        const entry = pushed[earlier]!
        if (entry.job.kind === "preallocate" || entry.job.kind === "datasync" || entry.failedIo) continue
        if (entry.reports > 0 && entry.failure !== undefined) continue
        const [a, b] = rangeOf(entry.job)
        if (bytesWritten(entry) === b - a) continue
        const covered = inFlight.some((io) => io.jobIndex === earlier && io.synced && io.lane !== lane)
        check(covered, `seed ${seed}: synced job ${jobIndex} started before job ${earlier}'s write completed`)
      }
    }
    const syncsInFlight = inFlight.filter((io) => io.synced).length + (synced ? 1 : 0)
    check(syncsInFlight <= lanes, `seed ${seed}: ${syncsInFlight} fdatasyncs in flight on ${lanes} lane(s)`)
    const io: Io = { jobIndex, from, to, synced, lane, done }
    history.push(io)
    // A synchronous layer: the IO completes inside its own start.
    if (random.chance(0.15)) {
      complete(io, random.chance(0.1))
      return
    }
    inFlight.push(io)
  }

  const complete = (io: Io, fail: boolean) => {
    const index = inFlight.indexOf(io)
    if (index >= 0) inFlight.splice(index, 1)
    if (fail) pushed[io.jobIndex]!.failedIo = true
    else pushed[io.jobIndex]!.written.push([io.from, io.to])
    io.done(fail ? Exit.fail(ioError()) : Exit.void)
  }

  const writer = new Writer({
    lanes,
    sectorBytes,
    start: (job, lane, done) => {
      // A part of a split job is a copy of its job with a narrower range; find its job by slot.
      const direct = jobIndexOf(job)
      const jobIndex =
        direct >= 0
          ? direct
          : pushed.findIndex(
              (p) =>
                p.job.kind === "slot" &&
                job.kind === "slot" &&
                p.job.endLsn === job.endLsn &&
                p.job.slot === job.slot &&
                p.reports === 0,
            )
      check(jobIndex >= 0, `seed ${seed}: an IO for no queued job`)
      const [from, to] = rangeOf(job)
      if (jobIndex >= 0) started(jobIndex, job, from, to, lane, done)
    },
    refusal: () => refusal,
    settle: (job, exit) => {
      const jobIndex = jobIndexOf(job)
      check(
        reportOrder.length === 0 || jobIndex > reportOrder[reportOrder.length - 1]!,
        `seed ${seed}: job ${jobIndex} settled out of queue order`,
      )
      reportOrder.push(jobIndex)
      let failure: JobFailure | undefined
      if (Exit.isFailure(exit)) {
        const error = Cause.findErrorOption(exit.cause)
        check(Option.isSome(error), `seed ${seed}: job ${jobIndex} failed without an error`)
        if (Option.isSome(error)) failure = error.value
      }
      if (failure === undefined && poisoned !== undefined) failure = poisoned
      if (failure?._tag === "IoError" && poisoned === undefined) {
        poisoned = failure
        refusal ??= failure
      }
      if (failure === undefined && job.kind !== "preallocate") {
        check(job.endLsn >= flushedLsn, `seed ${seed}: the frontier moved back at job ${jobIndex}`)
        flushedLsn = job.endLsn
      }
      return failure
    },
    afterSettle: () => {},
    closeScratch: (_scope, done) => {
      if (random.chance(0.5)) done()
      else scratchCloses.push(done)
    },
  })

  // The log as the buffer lays it out: records end at `logEnd`; a Direct write covers whole sectors.
  let logEnd = 0
  let slot = 0
  const down = (n: number) => Math.floor(n / sectorBytes) * sectorBytes
  const up = (n: number) => Math.ceil(n / sectorBytes) * sectorBytes
  const onDone = (index: number) => (failure: JobFailure | undefined) => {
    const entry = pushed[index]!
    entry.reports++
    entry.failure = failure
  }
  const nextJob = (index: number): Job => {
    const kind = random.int(10)
    if (kind < 6) {
      const recordsBytes = 1 + random.int(3 * DIRECT_SECTOR_BYTES)
      const from = down(logEnd)
      logEnd += recordsBytes
      slot = (slot + 1) % 3
      return {
        kind: "slot",
        slot,
        bytes: new Uint8Array(up(logEnd) - from),
        fileOffsetBytes: from,
        dataStartLsn: from,
        endLsn: logEnd,
        datasync: random.chance(0.4),
        onDone: onDone(index),
      }
    }
    if (kind < 8) return { kind: "datasync", endLsn: logEnd, onDone: onDone(index) }
    if (kind < 9) {
      // An oversize chunk starts where the rotation before it padded the log to a sector.
      const from = up(logEnd)
      logEnd = from + sectorBytes * (1 + random.int(4))
      return {
        kind: "scratch",
        bytes: new Uint8Array(logEnd - from),
        fileOffsetBytes: from,
        endLsn: logEnd,
        scratchScope: random.chance(0.5) ? Scope.makeUnsafe() : undefined,
        onDone: onDone(index),
      }
    }
    const from = up(logEnd) + (1 << 20)
    return { kind: "preallocate", fromBytes: from, toBytes: from + (1 << 20) }
  }

  const flush = () => new Promise<void>((resolve) => setImmediate(resolve))
  // Most cases close the buffer at some step, between any two others (a microtask may be pending).
  const closeAt = random.chance(0.7) ? random.int(4 * JOBS_PER_CASE) : -1
  for (let step = 0; step < STEPS_MAX && broken.length === 0; step++) {
    const queueRoom = writer.queuedJobs < JOBS_MAX
    const done = pushed.length === JOBS_PER_CASE && inFlight.length === 0 && scratchCloses.length === 0
    if (done && writer.queuedJobs === 0) break
    const choice = random.int(10)
    if (choice < 4 && queueRoom && pushed.length < JOBS_PER_CASE) {
      const job = nextJob(pushed.length)
      pushed.push(pushedEntry(job))
      writer.push(job)
    } else if (choice < 8 && inFlight.length > 0) {
      complete(inFlight[random.int(inFlight.length)]!, random.chance(0.05))
    } else if (choice < 9 && scratchCloses.length > 0) {
      scratchCloses.shift()!()
    }
    if (step === closeAt) refusal ??= new JournalClosed({ path: PATH })
    if (random.chance(0.6)) await flush()
  }
  await flush()

  check(writer.queuedJobs === 0, `seed ${seed}: the queue did not drain (${writer.queuedJobs} left: a wedge)`)
  for (const [index, entry] of pushed.entries()) {
    if (entry.job.kind === "preallocate") continue
    check(entry.reports === 1, `seed ${seed}: job ${index} reported ${entry.reports} times`)
    if (entry.reports === 1 && entry.failure === undefined && entry.job.kind !== "datasync") {
      // Success means every byte of the job was written by an IO that completed.
      const [from, to] = rangeOf(entry.job)
      const covered = bytesWritten(entry)
      check(covered === to - from, `seed ${seed}: job ${index} reported written with ${covered} of ${to - from} B`)
    }
  }
  // After a poison nothing later is reported as a success: its bytes follow bytes that failed.
  const firstFailure = pushed.findIndex((p) => p.failure?._tag === "IoError")
  if (firstFailure >= 0) {
    for (let index = firstFailure; index < pushed.length; index++) {
      const p = pushed[index]!
      check(
        p.job.kind === "preallocate" || p.failure !== undefined,
        `seed ${seed}: job ${index} succeeded after a poison`,
      )
    }
  }
  return broken[0]
}

describe("the writer after a failure", () => {
  it("starts nothing while a failed job's settlement waits behind a scratch free", async () => {
    const started: Array<{ readonly job: Job; readonly done: JobExit }> = []
    const scratchFrees: Array<() => void> = []
    let refusal: JobFailure | undefined
    const reported: Array<string> = []
    const writer = new Writer({
      lanes: 1,
      sectorBytes: 1,
      start: (job, _lane, done) => started.push({ job, done }),
      refusal: () => refusal,
      settle: (_job, exit) => {
        if (Exit.isSuccess(exit)) return refusal
        const error = Cause.findErrorOption(exit.cause)
        const failure = Option.isSome(error) ? error.value : new JournalClosed({ path: PATH })
        refusal ??= failure
        return failure
      },
      afterSettle: () => {},
      closeScratch: (_scope, done) => scratchFrees.push(done),
    })
    const onDone = (name: string) => (failure: JobFailure | undefined) =>
      reported.push(`${name} ${failure === undefined ? "ok" : failure._tag}`)
    const flush = () => new Promise<void>((resolve) => setImmediate(resolve))
    // The last chunk of an oversize record: its settlement frees the scratch, asynchronously.
    writer.push({
      kind: "scratch",
      bytes: new Uint8Array(100),
      fileOffsetBytes: 0,
      endLsn: 100,
      scratchScope: Scope.makeUnsafe(),
      onDone: onDone("chunk"),
    })
    await flush()
    started[0]!.done(Exit.void)
    assert.strictEqual(scratchFrees.length, 1, "the scratch is being freed")
    const slot = (datasync: boolean, from: number, name: string): Job => ({
      kind: "slot",
      slot: 0,
      bytes: new Uint8Array(100),
      fileOffsetBytes: from,
      dataStartLsn: from,
      endLsn: from + 100,
      datasync,
      onDone: onDone(name),
    })
    writer.push(slot(false, 100, "A"))
    await flush()
    assert.strictEqual(started.length, 2, "A starts while the scratch is freed")
    started[1]!.done(Exit.fail(ioError()))
    writer.push(slot(true, 200, "B"))
    await flush()
    assert.strictEqual(started.length, 2, "B (write + fdatasync) does not start behind A's unsettled failure")
    scratchFrees[0]!()
    await flush()
    assert.strictEqual(started.length, 2, "B is refused once A's poison is in place")
    assert.deepStrictEqual(reported, ["chunk ok", "A IoError", "B IoError"])
    assert.strictEqual(writer.queuedJobs, 0)
  })
})

describe("the writer, swept by seed", () => {
  it(`keeps its rules at every interleaving of completions, failures and a close (${SEEDS} seeds)`, async () => {
    const failures: Array<string> = []
    for (let seed = 1; seed <= SEEDS && failures.length < 5; seed++) {
      const broken = await runCase(seed)
      if (broken !== undefined) failures.push(broken)
    }
    assert.deepStrictEqual(failures, [])
  })
})
