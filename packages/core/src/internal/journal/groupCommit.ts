/**
 * Group commit: many `syncThrough` callers, one flush + fdatasync at a time.
 *
 * A caller whose target is already durable returns without a syscall. Otherwise it joins a
 * **round**: the round in flight if that round's target covers it, else the next round. A single
 * committer fiber runs rounds back to back: it takes the next round, captures its target (every
 * byte appended so far: they are all in the log buffer already, so the target never covers bytes
 * still in an appender's hands), seals and writes the buffer with a linked write→fdatasync, then
 * publishes the new durable frontier and wakes the whole round through one shared Deferred — one
 * waiter object per round, not per record. While a round is in flight the next one fills up, so
 * concurrent producers batch naturally with no timer. An optional window (`groupCommitWindow`)
 * delays a round until it has `groupCommitMaxBatch` waiters or the window elapsed.
 *
 * Invariants:
 * - At most one round is in flight; `syncedLsn` only grows and only to a target whose
 *   fdatasync completed.
 * - A failed round poisons the journal (the log buffer is poisoned by the failed write or
 *   fdatasync itself); every waiter of that round and of the next fails, and nothing is retried.
 *
 * @since 0.1.0
 */
import { Deferred, Duration, Effect, Exit } from "effect"
import type { IoError } from "@fsys/native"
import type { LogBufferCore } from "../logBuffer/core.ts"
import { mutations } from "../testing.ts"

interface Round<E> {
  readonly done: Deferred.Deferred<void, IoError.IoError>
  /** What every waiter of the round runs: built once per round, not once per waiter. */
  readonly wait: Effect.Effect<void, E>
  /** Completed when the round has `maxBatch` waiters (only used with a window). */
  readonly full: Deferred.Deferred<void>
  waiters: number
  /** The LSN this round makes durable; known once the round started. */
  target: number
}

export interface GroupCommitConfig<E> {
  readonly core: LogBufferCore
  /** How a poisoning IoError reaches the waiters (the journal's `JournalPoisoned`). */
  readonly toError: (cause: IoError.IoError) => E
  readonly windowMicros: number
  readonly maxBatch: number
  /** Called after each successful round, before its waiters wake: flush + fdatasync latency and waiters served. */
  readonly onRound: (latencyMicros: number, waiters: number) => Effect.Effect<void>
}

export class GroupCommit<E> {
  private syncedLsnValue: number
  private inFlight: Round<E> | undefined = undefined
  private pending: Round<E> | undefined = undefined
  private committerRunning = false
  private readonly config: GroupCommitConfig<E>

  constructor(config: GroupCommitConfig<E>, startLsn: number) {
    this.config = config
    this.syncedLsnValue = startLsn
  }

  get syncedLsn(): number {
    return this.syncedLsnValue
  }

  /**
   * Waits until `[0, lsn)` is durable. The caller validated `lsn <= nextLsn`. Returns an Effect
   * that must be run in a fiber that can fork the committer (the journal's scope does it).
   */
  syncThrough(lsn: number, fork: (committer: Effect.Effect<void>) => Effect.Effect<void>): Effect.Effect<void, E> {
    if (lsn <= this.syncedLsnValue) return Effect.void
    const poison = this.config.core.poisonedBy
    if (poison !== undefined) return Effect.fail(this.config.toError(poison))
    const inFlight = this.inFlight
    if (inFlight !== undefined && lsn <= inFlight.target) return inFlight.wait
    let round = this.pending
    if (round === undefined) {
      const done = Deferred.makeUnsafe<void, IoError.IoError>()
      round = {
        done,
        wait: Effect.mapError(Deferred.await(done), this.config.toError),
        full: Deferred.makeUnsafe(),
        waiters: 0,
        target: -1,
      }
      this.pending = round
    }
    round.waiters++
    if (round.waiters === this.config.maxBatch) Deferred.doneUnsafe(round.full, Exit.void)
    const wait = round.wait
    if (this.committerRunning) return wait
    return Effect.andThen(this.ensureCommitter(fork), wait)
  }

  /**
   * Starts the committer unless one runs. The flag and the fork are one uninterruptible step: if
   * the flag were set before the fork ran (e.g. in `syncThrough`'s synchronous part), an interrupt
   * at the scheduler yield between them would leave a flag with no committer, and every later
   * sync and close would wait forever. A caller interrupted before this step leaves its round
   * pending with no committer; the next `syncThrough` (close runs one) starts it.
   */
  private ensureCommitter(fork: (committer: Effect.Effect<void>) => Effect.Effect<void>): Effect.Effect<void> {
    return Effect.uninterruptible(
      Effect.suspend(() => {
        if (this.committerRunning || this.pending === undefined) return Effect.void
        this.committerRunning = true
        return fork(this.committer)
      }),
    )
  }

  private takePending(): Round<E> | undefined {
    const round = this.pending
    this.pending = undefined
    return round
  }

  private readonly committer: Effect.Effect<void> = Effect.suspend(() => {
    const self = this
    return Effect.gen(function* () {
      while (self.pending !== undefined) {
        const round = self.pending
        if (self.config.windowMicros > 0 && round.waiters < self.config.maxBatch) {
          yield* Effect.raceFirst(
            Effect.sleep(Duration.millis(self.config.windowMicros / 1000)),
            Deferred.await(round.full),
          )
        }
        self.pending = undefined
        self.inFlight = round
        round.target = self.config.core.nextLsn
        // Test-only mutation (off in production): publish before anything was written or synced.
        if (mutations.publishFrontierEarly) self.syncedLsnValue = Math.max(self.syncedLsnValue, round.target)
        const startedMillis = performance.now()
        const exit = yield* Effect.exit(self.config.core.flush(true))
        self.inFlight = undefined
        if (Exit.isSuccess(exit)) {
          // The flush covered at least the target captured above (it seals everything appended).
          if (exit.value > self.syncedLsnValue) self.syncedLsnValue = exit.value
          // Counters first: a woken waiter may read them right away.
          yield* self.config.onRound((performance.now() - startedMillis) * 1000, round.waiters)
          Deferred.doneUnsafe(round.done, Exit.void)
        } else {
          // The buffer is poisoned: fail this round and the one that queued behind it.
          const failed = Exit.failCause(exit.cause)
          Deferred.doneUnsafe(round.done, failed)
          const next = self.takePending()
          if (next !== undefined) Deferred.doneUnsafe(next.done, failed)
        }
      }
      self.committerRunning = false
    }).pipe(
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          self.committerRunning = false
        }),
      ),
    )
  })
}
