/**
 * One group-commit round: its waiters (fibers, and the Promise API's callbacks) and how they
 * learn its outcome. Split out of `groupCommit.ts`, which decides when rounds start.
 *
 * @since 0.1.0
 */
import { Effect, Exit } from "effect"
import { assert } from "../assert.ts"

/** How a waiter that is not an Effect fiber (the Promise API) learns its round's outcome. */
export type DurableCallback<E> = (failure: E | undefined) => void

/** `ends[i]` for a waiter that resumes with its round's outcome itself (`void`), not with an LSN. */
const NO_VALUE = -1

/** The waiters of one round and how they learn its outcome. */
export class Round<E> {
  waiters = 0
  /** The LSN this round makes durable; set when it starts. */
  target = 0
  startedMillis = 0
  /** No other round was in flight at any time during this one: its latency is the IO's own. */
  alone = true
  private settled = false
  /** Once settled: the failure every waiter gets, or `undefined` for success. */
  private failed: Effect.Effect<never, E> | undefined = undefined
  private failure: E | undefined = undefined
  /**
   * Fiber resumes, and beside each the LSN it resumes with on success (`NO_VALUE`: none). Bounded
   * by the producers that can wait at once (each waits on one round at a time).
   */
  private resumes: Array<(outcome: Effect.Effect<number, E>) => void> = []
  private ends: Array<number> = []
  /** Non-fiber waiters (the Promise API), bounded the same way. */
  private callbacks: Array<DurableCallback<E>> = []
  /** The committer waited out this round's window (or the round filled). */
  windowElapsed = false
  /** Set while the committer waits out a window: a full round starts early. */
  onFull: (() => void) | undefined = undefined

  /**
   * What every waiter of the round runs, built once per round. A bare callback (no cancel hook,
   * no abort signal): an interrupted waiter leaves its resume behind, and a resume of a fiber that
   * already moved on is ignored by the runtime. Costs less than a `Deferred.await` per record.
   */
  readonly wait: Effect.Effect<void, E> = Effect.callback<void, E>((resume) =>
    // A NO_VALUE waiter only ever gets `Effect.void` or the failure (see `outcomeFor`).
    this.addResume(resume as (outcome: Effect.Effect<number, E>) => void, NO_VALUE),
  )

  /** What a fiber waiter resumes with: the failure, its LSN, or (`NO_VALUE`) `void`. */
  private outcomeFor(end: number): Effect.Effect<number, E> {
    if (this.failed !== undefined) return this.failed
    return end === NO_VALUE ? (Effect.void as unknown as Effect.Effect<number, E>) : Exit.succeed(end)
  }

  /**
   * Resumes the fiber (an `Effect.callback`'s `resume`) when the round settles, with
   * `Exit.succeed(end)` on success (`end` ≥ 0), so a durable append parks once and gets its LSN
   * back without a second Effect around the wait.
   */
  addResume(resume: (outcome: Effect.Effect<number, E>) => void, end: number): void {
    if (!this.settled) {
      this.resumes.push(resume)
      this.ends.push(end)
    } else resume(this.outcomeFor(end))
  }

  addCallback(callback: DurableCallback<E>): void {
    if (!this.settled) this.callbacks.push(callback)
    else callback(this.failure)
  }

  /** Returns true when the round had non-fiber waiters, whose code runs in microtasks after this. */
  settle(failure: E | undefined): boolean {
    assert(!this.settled, "a round settles once")
    this.settled = true
    this.failure = failure
    this.failed = failure === undefined ? undefined : Effect.fail(failure)
    const { resumes, ends, callbacks } = this
    this.resumes = []
    this.ends = []
    this.callbacks = []
    for (let i = 0; i < resumes.length; i++) resumes[i]!(this.outcomeFor(ends[i]!))
    for (let i = 0; i < callbacks.length; i++) callbacks[i]!(failure)
    return callbacks.length > 0
  }
}
