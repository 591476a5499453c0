/**
 * Group commit: many `syncThrough` callers, rounds of one flush + fdatasync, at most two rounds
 * in flight.
 *
 * A caller whose target is already durable returns without a syscall. Otherwise it joins a
 * **round**: a round in flight whose target covers it, else the next (pending) round. A round
 * starts by capturing its target (every byte appended so far: they are all in the log buffer
 * already, so the target never covers bytes still in an appender's hands) and handing the buffer
 * one linked write→fdatasync. The writer reports the completion to `complete`, in the same turn as
 * the ring's completion: it publishes the durable frontier, wakes the whole round (one waiter list
 * per round, not one object per record) and starts the pending round at its end.
 *
 * **Overlap** (issue 12 item 4; opt-in, `Journal.Options.overlapRounds`): in a closed loop (every producer awaits its own record) one
 * cohort would never append while its round is in the kernel. So when a round completes with no
 * other round in flight, the pending round starts as soon as half the woken cohort joined it
 * (`splitWaiters`), inside the wake, and the other half starts the next round at its end: from
 * then on two cohorts alternate, each appending while the other's round is in the kernel. Only
 * while overlap pays (`decideOverlap`): a round alone in flight took longer than its cohort's
 * wake CPU. Where IO is nearly free (tmpfs) half rounds only double the per-round CPU, so there
 * the cohort stays whole; overlapping cohorts merge back every `OVERLAP_PROBE_ROUNDS` rounds for
 * one round alone (the pending round waits for the round in flight) to measure again. The
 * buffer keeps both rounds' writes in order, on two open files (`logBuffer/writer.ts` says why).
 * It is off by default: in same-minute A/B runs on this project's VM (ext4 on a virtual disk)
 * half-size rounds cost more than the overlap won (docs/BENCHMARKS.md, "Overlap"), and the
 * adaptive decision reads the wall clock, which a seeded simulated-disk replay must not.
 *
 * Only two situations need the **committer** fiber (forked once, at open): a window
 * (`groupCommitWindow` delays a round until it has `groupCommitMaxBatch` waiters or the window
 * elapsed), and a round that cannot start yet because a reservation is held (it waits for the
 * buffer's idle signal). Nothing forks per call, so no interrupt can separate a state change
 * from the fiber that serves it.
 *
 * Invariants:
 * - At most `ROUNDS_IN_FLIGHT_MAX` (2) rounds are in flight, in LSN order (`inFlight`, oldest
 *   first); they complete oldest first (the writer settles jobs in queue order).
 * - `syncedLsn` only grows and only to the target of a round whose fdatasync succeeded, and only
 *   after every older round succeeded; that fdatasync covers writes that completed before it
 *   started (each round's write is linked before its own fdatasync).
 * - A failed round poisons the journal (the log buffer is poisoned by the failed write or
 *   fdatasync itself); its waiters, the pending round's and the other round in flight's fail (the
 *   buffer reports the poison for a job that completed after it), and nothing is retried.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Exit } from "effect"
import type { JobDone, JobFailure } from "../logBuffer/writer.ts"
import { assert, violated } from "../assert.ts"
import { Round } from "./round.ts"

/**
 * What group commit needs of the log buffer, and nothing more (the engine in
 * `internal/logBuffer/core.ts` satisfies it structurally): so a reader sees the whole contract
 * here, and a test can drive group commit over a fake buffer.
 */
export interface FlushTarget {
  /** Every byte appended so far ends here: a round's target. */
  readonly nextLsn: number
  /** Why the buffer refuses calls (poisoned by an IoError, or closing), if it does. */
  readonly refusal: JobFailure | undefined
  /** The error a round gets when the buffer is closed under it. */
  readonly closedError: JobFailure
  /**
   * Seals everything appended and queues its write + fdatasync; `onDone` is called once with its
   * outcome, possibly before this returns. The caller checked `refusal`. Returns the covered LSN, or `undefined` (nothing
   * queued) when a reservation or the other busy slot is in the way: wait for `whenIdle`.
   */
  readonly startFlush: (datasync: boolean, onDone: JobDone) => number | undefined
  /** Completes when a slot became idle or a reservation was released. */
  readonly whenIdle: Effect.Effect<void>
  /**
   * Whether two rounds' writes can be in the kernel at once (`undefined` = yes). A Direct
   * buffer's consecutive rounds share the carried sector and run one after the other, so there
   * splitting a cohort would only double the rounds.
   */
  readonly roundsOverlap?: boolean
}

export interface GroupCommitConfig<E> {
  readonly core: FlushTarget
  /** How the buffer's refusal reaches the waiters (the journal's `JournalPoisoned` or `JournalClosed`). */
  readonly toError: (cause: JobFailure) => E
  readonly windowMicros: number
  readonly maxBatch: number
  /**
   * Called after each successful round, before its waiters wake, with the round's flush +
   * fdatasync latency and the waiters it serves. Synchronous: it runs inside the completion.
   */
  readonly onRound: (latencyMicros: number, waiters: number) => void
  /**
   * Test-only mutation (`@fsys/core/testing`; false in production): publish each round's target
   * as durable when the round starts, before anything was written or synced.
   */
  readonly publishFrontierEarly?: boolean
  /** Rounds in flight at most, 1 or 2 (default `ROUNDS_IN_FLIGHT_MAX`); 1 = no overlap. */
  readonly roundsInFlightMax?: number
  /**
   * `Journal.Options.overlapRounds`: `"never"` (default) keeps one round in flight;
   * `"adaptive"` overlaps only while it pays (see the module doc); `"always"` splits every lone
   * cohort of two or more. Only `"adaptive"` reads the clock, so the other two group a seeded
   * simulated-disk run the same way every time.
   */
  readonly overlap?: OverlapRounds
}

/** Whether two group-commit rounds may be in flight (`Journal.Options.overlapRounds`). */
export type OverlapRounds = "never" | "adaptive" | "always"

/** Rounds in flight at most: round N+1 fills and starts while round N is in the kernel. */
export const ROUNDS_IN_FLIGHT_MAX = 2

/** Overlapping rounds merge for one round alone this often, to measure the IO again. */
const OVERLAP_PROBE_ROUNDS = 256

export class GroupCommit<E> {
  private syncedLsnValue: number
  /** Started rounds, oldest first (LSN order); at most `ROUNDS_IN_FLIGHT_MAX`. */
  private readonly inFlight: Array<Round<E>> = []
  private pending: Round<E> | undefined = undefined
  /** True while a completion wakes its round: syncers then only queue, so the cohort fills one round. */
  private completing = false
  /**
   * While a completion wakes its round with no other round in flight, the pending round starts
   * once this many woken waiters joined it (half the cohort), so the rest fill the next round
   * while this one is in the kernel: the cohort splits in two and the halves alternate.
   * `Infinity` otherwise.
   */
  private splitWaiters = Number.POSITIVE_INFINITY
  /** The last completion's wake (its cohort resuming and appending), in µs per woken waiter. */
  private wakeMicrosPerWaiter = 0
  /** The wake in progress: when it started, how many it wakes, whether rounds overlap after it. */
  private wakeStartMillis = 0
  private wakeWaiters = 0
  private overlappingNow = false
  /** Whether rounds overlap (`decideOverlap`). */
  private overlapping = false
  /** Rounds completed beside another since the last decision (bounded by the probe). */
  private roundsSinceProbe = 0
  /** The committer is gone (its scope closed): nothing may wait for it any more. */
  private stopped = false
  private committerWake: ((effect: Effect.Effect<void>) => void) | undefined = undefined
  private readonly config: GroupCommitConfig<E>
  /** Fixed at construction: the hot path reads a field, never shared state. */
  private readonly publishFrontierEarly: boolean
  private readonly roundsInFlightMax: number
  private readonly overlapAlways: boolean

  constructor(config: GroupCommitConfig<E>, startLsn: number) {
    this.config = config
    this.publishFrontierEarly = config.publishFrontierEarly === true
    const overlap = config.overlap ?? "never"
    this.roundsInFlightMax =
      config.core.roundsOverlap === false || overlap === "never"
        ? 1
        : (config.roundsInFlightMax ?? ROUNDS_IN_FLIGHT_MAX)
    this.overlapAlways = overlap === "always"
    assert(
      this.roundsInFlightMax >= 1 && this.roundsInFlightMax <= ROUNDS_IN_FLIGHT_MAX,
      "rounds in flight within bounds",
    )
    this.syncedLsnValue = startLsn
  }

  get syncedLsn(): number {
    return this.syncedLsnValue
  }

  /** Waits until `[0, lsn)` is durable. The caller validated `lsn <= nextLsn`. */
  syncThrough(lsn: number): Effect.Effect<void, E> {
    if (lsn <= this.syncedLsnValue) return Effect.void
    const refusal = this.config.core.refusal
    if (refusal !== undefined) return Effect.fail(this.config.toError(refusal))
    return this.join(lsn).wait
  }

  /**
   * `syncThrough` for a caller already inside an `Effect.callback` (the durable append): resumes
   * it with `Exit.succeed(lsn)` once `[0, lsn)` is durable, or with the failure, possibly before
   * this returns. One park per record, no Effect built per call.
   */
  resumeWhenDurable(lsn: number, resume: (outcome: Effect.Effect<number, E>) => void): void {
    const refusal = this.config.core.refusal
    if (lsn <= this.syncedLsnValue) resume(Exit.succeed(lsn))
    else if (refusal !== undefined) resume(Effect.fail(this.config.toError(refusal)))
    else this.join(lsn).addResume(resume, lsn)
  }

  /** `syncThrough` for a Promise (`Round.addPromise`): `resolve(value)` or `reject`, maybe at once. */
  resolveWhenDurable<A extends number | undefined>(
    lsn: number,
    resolve: (v: A) => void,
    reject: (e: E) => void,
    value: A,
  ) {
    const refusal = this.config.core.refusal
    if (lsn <= this.syncedLsnValue) resolve(value)
    else if (refusal !== undefined) reject(this.config.toError(refusal))
    // The round hands each resolve back its own value, so the narrower type holds.
    else this.join(lsn).addPromise(resolve as (value: number | undefined) => void, reject, value)
  }

  /** The round that covers `lsn` (the one in flight, else the pending one), counted and started. */
  private join(lsn: number): Round<E> {
    const inFlight = this.inFlight
    for (let index = 0; index < inFlight.length; index++) {
      const round = inFlight[index]!
      if (lsn <= round.target) return round
    }
    let round = this.pending
    if (round === undefined) {
      round = new Round<E>()
      this.pending = round
    }
    round.waiters++
    if (round.waiters === this.config.maxBatch) round.onFull?.()
    // The caller registers after this: over a synchronous layer the round may already be settled,
    // and a Round resumes a late waiter at once.
    if (this.completing) {
      // Half the woken cohort joined: start its round now, inside the wake (see the module doc).
      if (round.waiters >= this.splitWaiters && inFlight.length === 0) {
        this.splitWaiters = Number.POSITIVE_INFINITY
        this.kick()
      }
    } else if (inFlight.length === 0) {
      this.kick()
    }
    return round
  }

  /** Starts the pending round now when nothing needs waiting for, else hands it to the committer. */
  private kick(): void {
    if (this.stopped) {
      this.failPending(this.closedError())
      return
    }
    if (this.config.windowMicros === 0 && this.tryStart()) return
    const wake = this.committerWake
    if (wake !== undefined) {
      this.committerWake = undefined
      wake(Effect.void)
    }
  }

  /** Starts the pending round if the log buffer can take its flush now; false if it must wait. */
  private tryStart(): boolean {
    const round = this.pending
    if (round === undefined || this.inFlight.length >= this.roundsInFlightMax)
      return violated("a round starts from pending, within the rounds in flight")
    const core = this.config.core
    const refusal = core.refusal
    if (refusal !== undefined) {
      this.failPending(refusal)
      return true
    }
    // In flight before the flush is queued: over a synchronous layer the write may complete
    // (and call `complete`) before `startFlush` returns.
    this.pending = undefined
    round.alone = this.inFlight.length === 0
    for (let index = 0; index < this.inFlight.length; index++) this.inFlight[index]!.alone = false
    this.inFlight.push(round)
    round.target = core.nextLsn
    round.startedMillis = performance.now()
    // Test-only mutation (off in production): publish before anything was written or synced.
    if (this.publishFrontierEarly) this.syncedLsnValue = Math.max(this.syncedLsnValue, round.target)
    const started = core.startFlush(true, (failure) => this.complete(round, failure))
    if (started !== undefined) return true
    assert(this.inFlight[this.inFlight.length - 1] === round, "an unstarted round is the newest")
    this.inFlight.pop()
    this.pending = round
    return false
  }

  /**
   * The writer's report for a round (the writer settles jobs in LSN order, so rounds complete
   * oldest first): publish, wake the round, start the next one.
   */
  private complete(round: Round<E>, failure: JobFailure | undefined): void {
    assert(this.inFlight[0] === round, "rounds complete oldest first")
    this.inFlight.shift()
    if (failure !== undefined) {
      // The buffer is poisoned: fail this round and the one that queued behind it. A round still
      // in flight fails through its own completion (the writer reports the poison for it).
      round.settle(this.config.toError(failure))
      this.failPending(failure)
      return
    }
    // The flush covered at least the target captured at the start (it seals everything appended).
    if (round.target > this.syncedLsnValue) this.syncedLsnValue = round.target
    // Counters first: a woken waiter may read them right away.
    const wakeStartMillis = performance.now()
    const latencyMicros = (wakeStartMillis - round.startedMillis) * 1000
    this.config.onRound(latencyMicros, round.waiters)
    const overlapping = this.decideOverlap(round, latencyMicros)
    // Only a lone cohort splits; two cohorts already alternate.
    if (overlapping && this.inFlight.length === 0 && round.waiters > 1) {
      this.splitWaiters = Math.ceil(round.waiters / 2)
    }
    this.completing = true
    this.wakeStartMillis = wakeStartMillis
    this.wakeWaiters = round.waiters
    this.overlappingNow = overlapping
    let deferred = false
    try {
      // Woken fibers run inside `settle` and join the next round right there. Promise waiters
      // run in the microtasks their resolution queued: the next round starts after those, in a
      // microtask queued behind them, so it holds their records too instead of only the first's.
      deferred = round.settle(undefined)
    } finally {
      if (deferred) queueMicrotask(this.afterCallbacks)
      else this.endWake()
    }
  }

  private readonly afterCallbacks = (): void => this.endWake()

  /**
   * The end of a completion's wake: measure it, then start the pending round. Beside the other
   * round only while overlapping; otherwise the pending round waits for it and takes its cohort
   * too, so two alternating cohorts merge back into one (and the next round, alone in flight,
   * measures the IO again).
   */
  private endWake(): void {
    this.completing = false
    this.splitWaiters = Number.POSITIVE_INFINITY
    this.wakeMicrosPerWaiter = ((performance.now() - this.wakeStartMillis) * 1000) / Math.max(1, this.wakeWaiters)
    const beside = this.overlappingNow && this.inFlight.length < this.roundsInFlightMax
    if (this.pending !== undefined && (this.inFlight.length === 0 || beside)) this.kick()
  }

  /**
   * Whether rounds overlap from this completion on. Overlap pays when a round spends longer in
   * the kernel than its cohort needs to re-append (a disk); where IO is nearly free (tmpfs) two
   * half rounds only double the per-round CPU. Decided only from a round that was alone in
   * flight (two cohorts share one JS thread, so a round beside another measures the other
   * cohort's CPU too); every `OVERLAP_PROBE_ROUNDS` rounds the cohorts merge for one such round.
   */
  private decideOverlap(round: Round<E>, latencyMicros: number): boolean {
    if (this.roundsInFlightMax === 1) return false
    if (this.overlapAlways) return true
    if (round.alone) {
      if (round.waiters > 1) {
        this.overlapping = latencyMicros > this.wakeMicrosPerWaiter * round.waiters
        this.roundsSinceProbe = 0
      }
      return this.overlapping
    }
    this.roundsSinceProbe++
    if (this.roundsSinceProbe >= OVERLAP_PROBE_ROUNDS) this.overlapping = false
    return this.overlapping
  }

  private failPending(cause: JobFailure): void {
    const next = this.pending
    this.pending = undefined
    next?.settle(this.config.toError(cause))
  }

  private closedError(): JobFailure {
    return this.config.core.refusal ?? this.config.core.closedError
  }

  /**
   * The committer: forked once with the journal's scope. Parked unless a round waits for its
   * window or for the log buffer's other slot. Interrupting it (the scope closing) fails a round
   * that never started.
   */
  readonly committer: Effect.Effect<void> = Effect.suspend(() => {
    const self = this
    const park = Effect.callback<void>((resume) => {
      self.committerWake = resume
    })
    const window = Duration.millis(self.config.windowMicros / 1000)
    return Effect.gen(function* () {
      for (;;) {
        const round = self.pending
        if (round === undefined || self.inFlight.length >= self.roundsInFlightMax) {
          yield* park
          continue
        }
        if (self.config.windowMicros > 0 && !round.windowElapsed && round.waiters < self.config.maxBatch) {
          const full = Effect.callback<void>((resume) => {
            round.onFull = () => resume(Effect.void)
          })
          yield* Effect.raceFirst(Effect.sleep(window), full)
          round.onFull = undefined
          round.windowElapsed = true
          continue
        }
        if (!self.tryStart()) yield* self.config.core.whenIdle
      }
    }).pipe(
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          self.stopped = true
          self.committerWake = undefined
          self.failPending(self.closedError())
        }),
      ),
    )
  })
}
