/**
 * The log buffer's writer: runs queued jobs in queue order (LSN order), with at most
 * `IN_FLIGHT_MAX` (two) in flight, and settles them strictly in queue order, so the flushed
 * frontier only moves forward and a round's success is never reported before an earlier one's.
 *
 * Two jobs overlap only when that cannot change what reaches the disk, or what an fdatasync's
 * success proves, and only when the machine has the CPUs for it: the rules are in `overlap.ts`.
 * A failure poisons the buffer; a later job that was already in flight is then reported failed
 * too (the core's `settle`), so both rounds' waiters fail.
 *
 * A job, once started, runs to completion even when the Scope closes: nothing can interrupt it
 * (the kernel reads the slot or scratch buffer until the write's completion), and `drain` waits
 * for the queue to empty before the slots are freed. There is no writer fiber and no fiber per
 * job (issue 12: a round's fork, the writer's park and wake and the Effect-wrapped ring op cost
 * more than the round's own bookkeeping): a push schedules one **pump** in a microtask, which
 * starts every job the rules allow through the layer's `start`, and each job's completion
 * callback starts what may start after a success (before anyone hears of it: see `completed`),
 * settles it and pumps again. `start` uses the layer's callback-form write where it has
 * one (`internal/callbackIo.ts`), and otherwise runs the job's Effect on its own uninterruptible
 * fiber, which is what every layer without one (the simulated disk included) goes through.
 * After a job, its bookkeeping (`settle`, then `afterSettle`) runs before its `onDone` is called,
 * in the completion: completions resume waiters synchronously, and they may append, seal, start
 * the next group-commit round or close the buffer, all of which must see the settled state.
 *
 * @since 0.1.0
 */
import { Cause, Exit, Option } from "effect"
import type { Scope } from "effect"
import { IoError } from "@fsys/native"
import { JournalClosed } from "../../JournalError.ts"
import { assert, violated } from "../assert.ts"
import { copiesFit, IN_FLIGHT_MAX, mayOverlap, splitFrom } from "./overlap.ts"

export { IN_FLIGHT_MAX, mayOverlap, splitFrom } from "./overlap.ts"

/** Why a job did not complete: the IoError that poisoned the buffer, or the buffer closed first. */
export type JobFailure = IoError.IoError | JournalClosed

/**
 * The failure a failed job (or an oversize chunk written beside the writer) carries: its
 * IoError or JournalClosed; a defect in a layer is reported as an `Unknown` IoError.
 */
export const failureOf = (exit: Exit.Failure<unknown, unknown>, path: string): JobFailure => {
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isSome(error) && (error.value instanceof IoError.IoError || error.value instanceof JournalClosed)) {
    return error.value
  }
  return new IoError.IoError({
    reason: "Unknown",
    syscall: "write",
    code: "EUNKNOWN",
    path,
    cause: Cause.squash(exit.cause),
  })
}

/** How a job reports: called once its bookkeeping is done (`undefined` = success). */
export type JobDone = (failure: JobFailure | undefined) => void

/**
 * What the writer runs. `endLsn` is the LSN through which records are on the file once the job
 * completed.
 */
export type Job =
  /** A sealed slot: the kernel reads `slot` until the write completed. */
  | {
      readonly kind: "slot"
      readonly slot: number
      readonly bytes: Uint8Array
      readonly fileOffsetBytes: number
      /** Where the slot's new records begin (the bytes before it in `bytes` were written before). */
      readonly dataStartLsn: number
      readonly endLsn: number
      readonly datasync: boolean
      readonly onDone: JobDone | undefined
    }
  /** A chunk of an oversize record from its scratch buffer, freed (its Scope closed) after the last one. */
  | {
      readonly kind: "scratch"
      readonly bytes: Uint8Array
      readonly fileOffsetBytes: number
      readonly endLsn: number
      readonly scratchScope: Scope.Closeable | undefined
      readonly onDone: JobDone | undefined
    }
  /** An fdatasync for bytes already written or queued ahead of it. */
  | { readonly kind: "datasync"; readonly endLsn: number; readonly onDone: JobDone | undefined }
  /** Zeros over `[fromBytes, toBytes)`, past the log; nobody waits for it. */
  | { readonly kind: "preallocate"; readonly fromBytes: number; readonly toBytes: number }

/**
 * Jobs queued at most: one per slot (a slot is busy from its seal to its write's settlement), one
 * oversize scratch write, two bare fdatasyncs (one per group-commit round in flight) and one
 * preallocation.
 */
export const JOBS_MAX = 6

/** How a started job reports its outcome, exactly once (possibly before `start` returned). */
export type JobExit = (exit: Exit.Exit<void, JobFailure>) => void

export interface WriterConfig {
  /** Open files the jobs can run on: 2 lets two synced slot writes run together (`mayOverlap`). */
  readonly lanes: number
  /** The log's sector (1 for a buffered log): what a Direct write may share with the next. */
  readonly sectorBytes: number
  /**
   * A buffered log (`sectorBytes === 1`): the largest write that may be in flight beside another
   * (`overlap.ts`, `copiesFit`); absent = no bound. Each buffered write is a CPU copy on a kernel worker.
   */
  readonly bufferedOverlapBytesMax?: number | undefined
  /** Starts one job's IO on the open file of `lane`; `onExit` reports it (see the module doc). */
  readonly start: (job: Job, lane: number, onExit: JobExit) => void
  /** Set when the buffer refuses IO (poisoned or closing): queued jobs then fail without IO. */
  readonly refusal: () => JobFailure | undefined
  /** The buffer's bookkeeping for a finished job; returns the failure to report, if any. */
  readonly settle: (job: Job, exit: Exit.Exit<void, JobFailure>) => JobFailure | undefined
  /** Runs after `settle` and before the job's `onDone` (the buffer wakes its idle waiters). */
  readonly afterSettle: () => void
  /** Frees an oversize record's scratch buffer (closes its Scope), then calls `done`. */
  readonly closeScratch: (scope: Scope.Closeable, done: () => void) => void
}

/** A queued job and where it is: entries `[0, started)` have started, in queue order. */
interface Entry {
  readonly job: Job
  started: boolean
  /** The open file it runs on, set when it starts. */
  lane: number
  exit: Exit.Exit<void, JobFailure> | undefined
  /**
   * A split slot write (`splitFrom`): its first sector waits for the job before it to complete.
   * `parts` is how many of its two writes have not completed, `headWaiting` whether the first
   * sector's has not started, `partFailure` the first failure of either. Unsplit: `parts === 0`.
   */
  parts: number
  headWaiting: boolean
  partFailure: Exit.Exit<void, JobFailure> | undefined
}

export class Writer {
  private readonly entries: Array<Entry> = []
  /** Started and not completed. */
  private inFlight = 0
  /** Settling completed jobs (a scratch buffer's close in progress leaves the rest to it). */
  private settling = false
  /** A pump is queued in a microtask. */
  private pumpQueued = false
  /** A pump is running (a job that completes inside its `start` must not start another pump). */
  private pumping = false
  /** Failed jobs not settled yet: nothing starts meanwhile (their poison is not in place yet; a
   * settlement can wait behind an asynchronous scratch free). `WriterSweep.test.ts` found it. */
  private failuresUnsettled = 0
  private readonly config: WriterConfig

  constructor(config: WriterConfig) {
    assert(config.lanes === 1 || config.lanes === IN_FLIGHT_MAX, "one lane, or one per fdatasync in flight")
    this.config = config
  }

  /** Jobs queued, in flight, or completed but not yet settled. */
  get queuedJobs(): number {
    return this.entries.length
  }

  push(job: Job): void {
    assert(this.entries.length < JOBS_MAX, "job queue bound")
    this.entries.push({
      job,
      started: false,
      lane: 0,
      exit: undefined,
      parts: 0,
      headWaiting: false,
      partFailure: undefined,
    })
    this.queuePump()
  }

  /**
   * Never starts a job inside the caller: a seal queues the job before it rotates the slots, and
   * over a synchronous layer the whole job, its completion and the producers it wakes would run
   * against that half-changed state. A microtask still starts it in the same turn.
   */
  private queuePump(): void {
    if (this.pumpQueued) return
    this.pumpQueued = true
    queueMicrotask(this.pump)
  }

  /** Whether `nextStartable` would return a job (it also picks the job's lane: harmless here). */
  private hasStartable = (): boolean => this.nextStartable() !== undefined

  /** The first job not started, if the overlap rules let it start now. */
  private nextStartable(): Entry | undefined {
    if (this.failuresUnsettled > 0) return undefined
    const entries = this.entries
    let index = 0
    while (index < entries.length && entries[index]!.started) index++
    const candidate = entries[index]
    if (candidate === undefined) return undefined
    if (this.inFlight === 0) {
      candidate.lane = 0
      return candidate
    }
    if (this.inFlight >= IN_FLIGHT_MAX) return undefined
    const lanes = this.config.lanes
    let busyLane = -1
    let split = false
    for (let earlier = 0; earlier < index; earlier++) {
      const entry = entries[earlier]!
      if (entry.exit !== undefined) continue
      if (!copiesFit(entry.job, candidate.job, this.config.sectorBytes, this.config.bufferedOverlapBytesMax)) {
        return undefined
      }
      if (mayOverlap(entry.job, candidate.job, lanes)) {
        busyLane = entry.lane
      } else if (earlier === index - 1 && splitFrom(entry.job, candidate.job, this.config.sectorBytes)) {
        busyLane = entry.lane
        split = true
      } else {
        return undefined
      }
    }
    // At most one in flight here: with two lanes the candidate takes the other one.
    candidate.lane = lanes === 1 || busyLane === 1 ? 0 : 1
    candidate.parts = split ? 2 : 0
    candidate.headWaiting = split
    return candidate
  }

  /**
   * Starts every job the rules allow, at most `JOBS_MAX` per pump. Over a synchronous layer (or
   * for refused jobs) a job completes inside `start`, its waiters queue the next round's job at
   * once, and that one is startable in the same loop: the bound leaves it to the next pump (a
   * completion always queues one), so one pump never runs an unbounded chain of rounds.
   */
  private readonly pump = (): void => {
    this.pumpQueued = false
    this.pumping = true
    try {
      for (let turn = 0; ; turn++) {
        if (turn === JOBS_MAX) {
          this.queuePump()
          return
        }
        const entry = this.nextStartable()
        if (entry === undefined) return
        // Marked before the start: over a synchronous layer the job completes inside it.
        entry.started = true
        this.inFlight++
        assert(this.inFlight <= IN_FLIGHT_MAX, "jobs in flight bound")
        const refusal = this.config.refusal()
        if (refusal !== undefined) {
          // Refused, not split: the completion of the write before it must start nothing for it.
          entry.parts = 0
          entry.headWaiting = false
          this.completed(entry, Exit.fail(refusal))
        } else if (entry.parts === 2) {
          this.config.start(this.part(entry, "tail"), entry.lane, (exit) => this.partCompleted(entry, exit))
        } else {
          this.config.start(entry.job, entry.lane, (exit) => this.completed(entry, exit))
        }
      }
    } finally {
      this.pumping = false
    }
  }

  /**
   * A job's completion. After a success the jobs queued behind it start first, then it settles:
   * its waiters run inside the settle (an appender waiting for this slot copies its records
   * right there, ≈ 1–2.5 ms for 1 MiB records), and the next slot's write, sealed and ready, must
   * not wait for them (it did: one Direct slot write in flight left the disk idle between
   * writes, `scripts/large-records.ts`). Starting it reads nothing the settle changes: the
   * settle frees this job's slot and moves the flushed frontier, and a refusal only comes from a
   * failure, whose poison must be in place before anything else starts, so a failure settles
   * first, as before. Inside a running pump (a job that completed inside its `start`) the pump's
   * own loop starts the next one.
   */
  private completed(entry: Entry, exit: Exit.Exit<void, JobFailure>): void {
    assert(entry.exit === undefined && entry.started, "a started job completes once")
    entry.exit = exit
    this.inFlight--
    if (Exit.isFailure(exit)) this.failuresUnsettled++
    // A split job behind this one may write its first sector now: this write's version of it is
    // in. After a failure it never will (the poison fails that job too).
    const next = this.entries[this.entries.indexOf(entry) + 1]
    if (next?.headWaiting === true) {
      next.headWaiting = false
      if (Exit.isSuccess(exit))
        this.config.start(this.part(next, "head"), next.lane, (e) => this.partCompleted(next, e))
      else this.partCompleted(next, exit)
    }
    if (Exit.isSuccess(exit) && !this.pumping) {
      this.pump()
      // What the pipeline rests on, checked in every suite: nobody hears of a completion while a
      // job that could start waits for them (unless the pump hit its bound and queued another).
      assert(this.pumpQueued || !this.hasStartable(), "a startable job starts before a completion's waiters run")
    }
    this.settleCompleted()
    this.queuePump()
  }

  /** The write of one part of a split slot job: its first sector, or the rest. */
  private part(entry: Entry, which: "head" | "tail"): Job {
    const job = entry.job
    if (job.kind !== "slot") return violated("only slot writes split")
    const sectorBytes = this.config.sectorBytes
    return which === "head"
      ? { ...job, bytes: job.bytes.subarray(0, sectorBytes) }
      : { ...job, bytes: job.bytes.subarray(sectorBytes), fileOffsetBytes: job.fileOffsetBytes + sectorBytes }
  }

  /** One part of a split job completed; the job completes with the second, failed if either did. */
  private partCompleted(entry: Entry, exit: Exit.Exit<void, JobFailure>): void {
    assert(entry.parts > 0, "a split job's part completes once")
    if (Exit.isFailure(exit) && entry.partFailure === undefined) entry.partFailure = exit
    entry.parts--
    if (entry.parts === 0) this.completed(entry, entry.partFailure ?? exit)
  }

  /**
   * Settles completed jobs from the head of the queue, stopping at the first still in flight, so
   * jobs settle in queue order whatever order they complete in. A scratch buffer is freed before
   * its job's waiters hear of it; its close may complete later, so settling resumes from there
   * and nothing else settles meanwhile (`settling`).
   */
  private settleCompleted(): void {
    if (this.settling) return
    this.settling = true
    for (let turn = 0; ; turn++) {
      assert(turn <= JOBS_MAX, "each queued job settles once")
      const head = this.entries[0]
      if (head?.exit === undefined) {
        this.settling = false
        return
      }
      this.entries.shift()
      if (Exit.isFailure(head.exit)) this.failuresUnsettled--
      const job = head.job
      const failure = this.config.settle(job, head.exit)
      if (job.kind === "scratch" && job.scratchScope !== undefined) {
        this.config.closeScratch(job.scratchScope, () => {
          this.report(job, failure)
          this.settling = false
          this.settleCompleted()
          this.queuePump()
        })
        return
      }
      this.report(job, failure)
    }
  }

  private report(job: Job, failure: JobFailure | undefined): void {
    this.config.afterSettle()
    if (job.kind !== "preallocate") job.onDone?.(failure)
  }
}
