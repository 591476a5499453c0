/**
 * The interruption harness: runs a call with a tiny `MaxOpsBeforeYield` (so its fiber yields to
 * the scheduler between almost every pair of operations), interrupts it after `k` yields of the
 * driver for `k = 0, 1, 2, …` until the call completes uninterrupted, and after each interrupt
 * checks that what the call touched still works.
 *
 * Why: Effect delivers an interrupt at any yield of an interruptible region (see Effect's
 * interruption model: `Effect.uninterruptibleMask`, `acquireRelease`). A state change made in one
 * step and paired with its fork, `ensuring` or uninterruptible region only in a later step is
 * broken by an interrupt at the yield between them: the journal wedged that way in five places
 * (issue 10 items 2 and 10). The class is found by driving every call through every yield.
 *
 * New calls get covered by adding them to {@link journalCalls} or {@link fileIoCalls}; the checks
 * (`checkJournalCall`, `checkFileIoCall`) run each on any `FileIo` layer.
 *
 * @since 0.1.0
 */
import { Effect, Exit } from "effect"
import * as Driver from "./internal/interruption/driver.ts"

export {
  checkFileIoCall,
  checkJournalCall,
  type Env,
  type FileIoCall,
  fileIoCalls,
  type JournalCall,
  journalCalls,
} from "./internal/interruption/calls.ts"

/**
 * The smallest `MaxOpsBeforeYield` Effect 4.1 itself runs under (at 1–2 its own run loop hangs).
 *
 * @since 0.1.0
 * @category constants
 */
export const OPS_BEFORE_YIELD_MIN = 3

/**
 * Every `MaxOpsBeforeYield` from {@link OPS_BEFORE_YIELD_MIN} through 16: past that the yields
 * fall on the same steps again, only fewer of them.
 *
 * @since 0.1.0
 * @category constants
 */
export const opsBeforeYieldAll: ReadonlyArray<number> = Array.from({ length: 14 }, (_, i) => i + OPS_BEFORE_YIELD_MIN)

/**
 * Most interrupt points tried for one call: a call that needs more yields to complete is a bug in
 * the test (or a wedge the harness must report rather than loop on).
 *
 * @since 0.1.0
 * @category constants
 */
export const YIELDS_MAX = 2000

/**
 * A call or a check that does not answer within this is wedged.
 *
 * @since 0.1.0
 * @category constants
 */
export const WEDGED_AFTER = Driver.WEDGED_AFTER

/**
 * Runs `effect` with `opsBeforeYield` operations between scheduler yields, interrupts it after
 * `yields` yields of the calling fiber, and returns how it ended (success if it finished first).
 *
 * @since 0.1.0
 * @category combinators
 */
export const interruptAfter = Driver.interruptAfter

/**
 * Runs `effect` in a detached fiber and dies with `wedged: <what>` if it does not answer within
 * {@link WEDGED_AFTER}. Detached, because a wedged resource also wedges its uninterruptible
 * finalizers: timing out the effect itself would wait for them forever instead of reporting.
 *
 * @since 0.1.0
 * @category combinators
 */
export const mustAnswer = Driver.mustAnswer

/**
 * What one sweep did: attempts made and how many of them the interrupt cut short.
 *
 * @since 0.1.0
 * @category models
 */
export interface SweepReport {
  readonly attempts: number
  readonly interrupted: number
}

/**
 * Interrupt points tried one by one before the sweep starts stepping (see {@link sweep}).
 *
 * @since 0.1.0
 * @category constants
 */
export const DENSE_YIELDS = 64

/**
 * For every `opsBeforeYield` and `k = 0, 1, …`: runs `attempt(ops, k)` (which interrupts its call
 * after `k` yields and checks the aftermath) until the call completed uninterrupted. Past
 * `denseYields` the step grows by an eighth each time: a call that waits for real IO sits parked
 * through thousands of driver yields, and each of them would interrupt the same await. Fails the
 * sweep (a defect) when a call never completes within {@link YIELDS_MAX}.
 *
 * @since 0.1.0
 * @category combinators
 */
export const sweep = <E, R>(
  name: string,
  opsBeforeYield: ReadonlyArray<number>,
  attempt: (opsBeforeYield: number, yields: number) => Effect.Effect<Exit.Exit<unknown, unknown>, E, R>,
  denseYields: number = DENSE_YIELDS,
): Effect.Effect<SweepReport, E, R> =>
  Effect.gen(function* () {
    let attempts = 0
    let interrupted = 0
    for (const ops of opsBeforeYield) {
      for (let k = 0; ; k = k < denseYields ? k + 1 : k + Math.ceil(k / 8)) {
        if (k >= YIELDS_MAX) return yield* Effect.die(new Error(`${name}: no completion within ${YIELDS_MAX} yields`))
        const exit = yield* attempt(ops, k)
        attempts++
        if (!Exit.hasInterrupts(exit)) break
        interrupted++
      }
    }
    return { attempts, interrupted }
  })
