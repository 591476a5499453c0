/**
 * Group commit (`internal/journal/groupCommit.ts`) swept by seed over a fake log buffer: random
 * appends, waiters of all three kinds (`syncThrough` fibers, `resumeWhenDurable` inside an
 * `Effect.callback` as the durable append uses it, `resolveWhenDurable` as the Promise API uses
 * it), fibers interrupted at any step, flushes completed oldest first (as the writer settles
 * them) or inside their own start, failures that poison the buffer, reservations that make a
 * round wait for the committer, and a close at any step; one round in flight or two
 * (`overlap: "always"`). Checked at every flush start and every wake-up, and at the end:
 *
 * - nothing is reported durable past the prefix of flushes that succeeded in order (the model's
 *   frontier), and `syncedLsn` only grows and never passes it;
 * - no flush starts while the buffer refuses IO, nor beyond the rounds allowed in flight;
 * - every waiter is resolved at most once, and once the flushes ran out and the buffer closed,
 *   every waiter not interrupted was resolved (no wedge), with success exactly when its LSN was
 *   made durable.
 *
 * Why a sweep: the journal-level suites reach the group commit through real appends, so the
 * rarer interleavings (a close while a reservation holds a round back, an interrupt between a
 * wake and the next round's start, a failure with the second round in flight) are left to chance;
 * here every step can land between any two others. The writer has the same kind of sweep
 * (`WriterSweep.test.ts`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { IoError } from "@fsys/native"
import { JournalClosed } from "../src/JournalError.ts"
import { type FlushTarget, GroupCommit } from "../src/internal/journal/groupCommit.ts"
import type { JobDone, JobFailure } from "../src/internal/logBuffer/writer.ts"
import { type SeededRandom, seededRandom } from "./seeded.ts"

/** Seeds per run; `FSYS_GROUP_COMMIT_SEEDS` raises it for a longer search. */
const SEEDS = Number(process.env.FSYS_GROUP_COMMIT_SEEDS ?? 300)
/** Steps per case. */
const STEPS = 120
/** Steps after which a case that has not settled everything counts as wedged. */
const DRAIN_STEPS_MAX = 200
const PATH = "/sweep/journal.log"

interface Flush {
  readonly target: number
  readonly done: JobDone
}

/** The log buffer as group commit sees it, with the model's frontier beside it. */
class SweptBuffer implements FlushTarget {
  nextLsn = 0
  refusal: JobFailure | undefined = undefined
  readonly closedError = new JournalClosed({ path: PATH })
  readonly inFlight: Array<Flush> = []
  /** The end of the prefix of flushes that succeeded, in order: what may be called durable. */
  durableLsn = 0
  poison: IoError.IoError | undefined = undefined
  reserved = false
  private readonly idleWaiters: Array<() => void> = []
  readonly broken: Array<string> = []
  readonly whenIdle: Effect.Effect<void> = Effect.callback<void>((resume) => {
    this.idleWaiters.push(() => resume(Effect.void))
  })

  private readonly random: SeededRandom
  private readonly roundsInFlightMax: number
  private readonly seed: number

  constructor(random: SeededRandom, roundsInFlightMax: number, seed: number) {
    this.random = random
    this.roundsInFlightMax = roundsInFlightMax
    this.seed = seed
  }

  check(ok: boolean, rule: string): void {
    if (!ok && this.broken.length === 0) this.broken.push(`seed ${this.seed}: ${rule}`)
  }

  startFlush(datasync: boolean, onDone: JobDone): number | undefined {
    this.check(datasync, "group commit asks for an fdatasync")
    this.check(this.refusal === undefined, "a flush started while the buffer refuses IO")
    if (this.reserved) return undefined
    this.check(this.inFlight.length < this.roundsInFlightMax, `${this.inFlight.length + 1} rounds in flight`)
    const flush: Flush = { target: this.nextLsn, done: onDone }
    this.inFlight.push(flush)
    // A synchronous layer: the flush completes before `startFlush` returns.
    if (this.random.chance(0.1)) this.completeOldest(this.random.chance(0.05))
    return flush.target
  }

  /** The writer reports rounds oldest first; after a failure every later one carries the poison. */
  completeOldest(fail: boolean): void {
    const flush = this.inFlight.shift()
    if (flush === undefined) return
    if (fail && this.poison === undefined) {
      this.poison = new IoError.IoError({ syscall: "fdatasync", path: PATH, code: "EIO", reason: "Io" })
      this.refusal ??= this.poison
    }
    const failure = this.poison ?? (this.refusal === this.closedError && fail ? this.closedError : undefined)
    if (failure === undefined) this.durableLsn = Math.max(this.durableLsn, flush.target)
    flush.done(failure)
  }

  release(): void {
    this.reserved = false
    for (const wake of this.idleWaiters.splice(0)) wake()
  }
}

type Outcome = "pending" | "durable" | "failed" | "interrupted"

interface Waiter {
  readonly lsn: number
  outcome: Outcome
  /** Registered once the buffer refused IO: it may fail although a flush in flight covers it. */
  late: boolean
  /** Its wait reached group commit (a forked fiber registers when it first runs). */
  registered: boolean
  resolutions: number
  fiber: Fiber.Fiber<unknown, unknown> | undefined
}

const runCase = (seed: number) =>
  Effect.gen(function* () {
    const random = seededRandom(seed)
    const roundsInFlightMax = random.chance(0.5) ? 1 : 2
    const buffer = new SweptBuffer(random, roundsInFlightMax, seed)
    const commit = new GroupCommit<JobFailure>(
      {
        core: buffer,
        toError: (cause) => cause,
        windowMicros: 0,
        maxBatch: 64,
        onRound: () => {},
        overlap: roundsInFlightMax === 2 ? "always" : "never",
      },
      0,
    )
    const committer = yield* Effect.forkChild(commit.committer)
    const waiters: Array<Waiter> = []
    let lastSynced = 0
    const newWaiter = (lsn: number): Waiter => {
      const waiter: Waiter = {
        lsn,
        outcome: "pending",
        late: buffer.refusal !== undefined,
        registered: false,
        resolutions: 0,
        fiber: undefined,
      }
      waiters.push(waiter)
      return waiter
    }
    /** A Promise-style waiter, registered at once (inside a wake, too: the closed loop). */
    const addCallbackWaiter = (lsn: number) => {
      const waiter = newWaiter(lsn)
      waiter.registered = true
      commit.resolveWhenDurable(
        lsn,
        () => resolved(waiter, "durable"),
        () => resolved(waiter, "failed"),
        undefined,
      )
    }
    const resolved = (waiter: Waiter, outcome: Outcome) => {
      waiter.resolutions++
      buffer.check(waiter.resolutions === 1, `a waiter for ${waiter.lsn} resolved ${waiter.resolutions} times`)
      if (waiter.outcome === "pending") waiter.outcome = outcome
      buffer.check(
        outcome !== "durable" || waiter.lsn <= buffer.durableLsn,
        `${waiter.lsn} reported durable, only [0, ${buffer.durableLsn}) was synced`,
      )
      // A producer in a closed loop appends its next record and waits again inside the wake.
      if (outcome === "durable" && buffer.refusal === undefined && random.chance(0.4)) {
        buffer.nextLsn += 1 + random.int(200)
        addCallbackWaiter(buffer.nextLsn)
      }
    }
    const addWaiter = Effect.gen(function* () {
      const lsn = 1 + random.int(buffer.nextLsn)
      const kind = random.int(3)
      if (kind === 2) {
        addCallbackWaiter(lsn)
        return
      }
      const waiter = newWaiter(lsn)
      // A forked fiber registers when it first runs, which may be after the close.
      const wait = Effect.suspend(() => {
        waiter.late = buffer.refusal !== undefined
        waiter.registered = true
        return kind === 0
          ? commit.syncThrough(waiter.lsn)
          : Effect.callback<number, JobFailure>((resume) => commit.resumeWhenDurable(waiter.lsn, resume))
      })
      waiter.fiber = yield* Effect.forkChild(
        wait.pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              if (Exit.isSuccess(exit)) resolved(waiter, "durable")
              else if (Exit.hasInterrupts(exit)) waiter.outcome = "interrupted"
              else resolved(waiter, "failed")
            }),
          ),
        ),
        { startImmediately: random.chance(0.5) },
      )
    })
    const watchFrontier = () => {
      const synced = commit.syncedLsn
      buffer.check(synced >= lastSynced, `syncedLsn went back from ${lastSynced} to ${synced}`)
      buffer.check(synced <= buffer.durableLsn, `syncedLsn ${synced} past the synced prefix ${buffer.durableLsn}`)
      lastSynced = synced
    }

    const closeAt = random.chance(0.6) ? random.int(STEPS) : STEPS
    for (let step = 0; step < STEPS && buffer.broken.length === 0; step++) {
      const choice = random.int(12)
      if (choice < 3) buffer.nextLsn += 1 + random.int(200)
      else if (choice < 6 && buffer.nextLsn > 0) yield* addWaiter
      else if (choice < 9) buffer.completeOldest(random.chance(0.04))
      else if (choice < 10) {
        const live = waiters.filter((w) => w.fiber !== undefined && w.outcome === "pending")
        const victim = live[random.int(live.length)]
        if (victim !== undefined) {
          yield* Fiber.interrupt(victim.fiber!)
          // A fiber interrupted before its first step never ran its wait (nor its `onExit`).
          if (victim.outcome === "pending") victim.outcome = "interrupted"
        }
      } else if (choice < 11) buffer.reserved = true
      else buffer.release()
      if (step === closeAt) buffer.refusal ??= buffer.closedError
      const yields = random.int(3)
      for (let i = 0; i < yields; i++) yield* Effect.yieldNow
      watchFrontier()
    }

    // Drain, in half the cases: no more reservations, every flush completes. Then every waiter
    // that registered has its answer without a close: durable, or failed by a poison or the close.
    if (random.chance(0.5)) {
      buffer.release()
      for (let step = 0, idle = 0; step < DRAIN_STEPS_MAX && idle < 3; step++) {
        idle = buffer.inFlight.length === 0 ? idle + 1 : 0
        buffer.completeOldest(false)
        yield* Effect.yieldNow
        watchFrontier()
      }
      const waiting = waiters.filter((w) => w.registered && w.outcome === "pending")
      buffer.check(
        waiting.length === 0,
        `${waiting.length} waiters (${waiting.map((w) => w.lsn)}) still wait with nothing in flight or held (durable ${buffer.durableLsn})`,
      )
    }
    // The close: the buffer refuses IO, drains its flushes, and the journal's scope interrupts
    // the committer (possibly while a reservation still holds a round back).
    buffer.refusal ??= buffer.closedError
    for (let step = 0; step < DRAIN_STEPS_MAX && buffer.inFlight.length > 0; step++) {
      buffer.completeOldest(false)
      yield* Effect.yieldNow
    }
    yield* Fiber.interrupt(committer)
    for (let i = 0; i < 5; i++) yield* Effect.yieldNow
    for (const waiter of waiters) {
      buffer.check(
        waiter.outcome !== "pending",
        `a waiter for ${waiter.lsn} never resolved (durable ${buffer.durableLsn}, next ${buffer.nextLsn}): a wedge`,
      )
      if (waiter.outcome === "failed" && !waiter.late && buffer.poison === undefined && waiter.lsn <= lastSynced) {
        buffer.check(false, `a waiter for ${waiter.lsn} failed although [0, ${lastSynced}) was synced without error`)
      }
    }
    for (const waiter of waiters) if (waiter.fiber !== undefined) yield* Fiber.interrupt(waiter.fiber)
    return buffer.broken[0]
  })

describe("group commit, swept by seed", () => {
  it.effect(`keeps its rules under interrupts, failures, reservations and a close (${SEEDS} seeds)`, () =>
    Effect.gen(function* () {
      const failures: Array<string> = []
      for (let seed = 1; seed <= SEEDS && failures.length < 5; seed++) {
        const broken = yield* runCase(seed)
        if (broken !== undefined) failures.push(broken)
      }
      assert.deepStrictEqual(failures, [])
    }),
  )
})
