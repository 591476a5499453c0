/**
 * One group-commit round: its waiters (fibers, and the Promise API's callbacks) and how they
 * learn its outcome. Split out of `groupCommit.ts`, which decides when rounds start.
 *
 * @since 0.1.0
 */
import { Effect, Exit } from "effect"
import { assert } from "../assert.ts"

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
  /**
   * Non-fiber waiters (the Promise API), bounded the same way, held as their resolving functions and value, three parallel arrays, so a
   * durable append through the Promise API allocates no closure of its own (see `addPromise`).
   */
  private resolves: Array<(value: number | undefined) => void> = []
  private rejects: Array<(failure: E) => void> = []
  private values: Array<number | undefined> = []
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

  /**
   * A Promise's resolving functions: `resolve(value)` once the round succeeded, `reject(failure)`
   * if it failed. A Promise's own resolving functions are stored as they are, so a Promise API
   * waiter costs its Promise and no closure of its own (one allocation less per durable record;
   * a difference below what `scripts/cpu-per-record.ts` can resolve on this VM).
   */
  addPromise(resolve: (value: number | undefined) => void, reject: (failure: E) => void, value: number | undefined) {
    if (!this.settled) {
      this.resolves.push(resolve)
      this.rejects.push(reject)
      this.values.push(value)
    } else if (this.failure === undefined) resolve(value)
    else reject(this.failure)
  }

  /** Returns true when the round had non-fiber waiters, whose code runs in microtasks after this. */
  settle(failure: E | undefined): boolean {
    assert(!this.settled, "a round settles once")
    this.settled = true
    this.failure = failure
    this.failed = failure === undefined ? undefined : Effect.fail(failure)
    const { resumes, ends, resolves, rejects, values } = this
    this.resumes = []
    this.ends = []
    this.resolves = []
    this.rejects = []
    this.values = []
    for (let i = 0; i < resumes.length; i++) resumes[i]!(this.outcomeFor(ends[i]!))
    if (failure === undefined) for (let i = 0; i < resolves.length; i++) resolves[i]!(values[i])
    else for (let i = 0; i < rejects.length; i++) rejects[i]!(failure)
    return resolves.length > 0
  }
}
