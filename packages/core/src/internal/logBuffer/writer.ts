/**
 * The log buffer's writer: one fiber that runs queued jobs one at a time, in queue order (LSN
 * order), so a sector that appears in two writes (padded, then completed) is always left with the
 * newer bytes and the flushed frontier only moves forward.
 *
 * A job, once started, runs to completion even when the Scope closes: the kernel reads the slot
 * or scratch buffer until the write's completion. The writer is interruptible only while parked
 * on an empty queue. After a job, its bookkeeping (`settle`, then `afterSettle`) runs before its
 * `onDone` is called: completions resume waiters synchronously, and they may append, seal, start
 * the next group-commit round or close the buffer, all of which must see the settled state.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Scope } from "effect"
import type { IoError } from "@fsys/native"
import type { JournalClosed } from "../../JournalError.ts"
import { assert } from "./sectors.ts"

/** Why a job did not complete: the IoError that poisoned the buffer, or the buffer closed first. */
export type JobFailure = IoError.IoError | JournalClosed

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
 * Jobs queued at most: one per slot, one oversize scratch write, one datasync and one
 * preallocation. Sealing requires the other slot to be idle, so the queue never grows past this.
 */
export const JOBS_MAX = 5

export interface WriterConfig {
  /** Runs one job's IO. */
  readonly perform: (job: Job) => Effect.Effect<void, IoError.IoError>
  /** Set when the buffer refuses IO (poisoned or closing): queued jobs then fail without IO. */
  readonly refusal: () => JobFailure | undefined
  /** The buffer's bookkeeping for a finished job; returns the failure to report, if any. */
  readonly settle: (job: Job, exit: Exit.Exit<void, JobFailure>) => JobFailure | undefined
  /** Runs after `settle` and before the job's `onDone` (the buffer wakes its idle waiters). */
  readonly afterSettle: () => void
}

export class Writer {
  private readonly jobs: Array<Job> = []
  /** The parked writer's resume, set only while the queue is empty. */
  private wake: ((effect: Effect.Effect<void>) => void) | undefined = undefined
  private readonly config: WriterConfig

  constructor(config: WriterConfig) {
    this.config = config
  }

  /** Jobs queued or in flight (the head of the queue is in flight while the writer runs it). */
  get queuedJobs(): number {
    return this.jobs.length
  }

  push(job: Job): void {
    assert(this.jobs.length < JOBS_MAX, "job queue bound")
    this.jobs.push(job)
    const wake = this.wake
    if (wake !== undefined) {
      this.wake = undefined
      // Never resume the writer inside `push`: its caller is mid-transition (a seal queues the
      // job before it rotates the slots), and over a synchronous layer the whole job, its
      // completion and the producers it wakes would run against that half-changed state. A
      // microtask still starts the write in the same event-loop turn.
      queueMicrotask(() => wake(Effect.void))
    }
  }

  /**
   * The writer fiber's loop. One loop, no `Effect.forever`: a job queued from the previous one's
   * completion (the next group-commit round) starts in the same turn.
   */
  readonly run: Effect.Effect<never> = Effect.uninterruptibleMask((restore) => {
    const self = this
    const park = restore(
      Effect.callback<void>((resume) => {
        self.wake = resume
      }),
    )
    return Effect.gen(function* () {
      while (true) {
        const job = self.jobs[0]
        if (job === undefined) {
          yield* park
          continue
        }
        const refusal = self.config.refusal()
        const exit: Exit.Exit<void, JobFailure> =
          refusal === undefined ? yield* Effect.exit(self.config.perform(job)) : Exit.fail(refusal)
        self.jobs.shift()
        const failure = self.config.settle(job, exit)
        if (job.kind === "scratch" && job.scratchScope !== undefined) yield* Scope.close(job.scratchScope, Exit.void)
        self.config.afterSettle()
        if (job.kind !== "preallocate") job.onDone?.(failure)
      }
    })
  })
}
