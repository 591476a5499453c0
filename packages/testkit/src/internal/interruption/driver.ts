/**
 * The interruption harness's two primitives (re-exported with their docs by `Interruption`).
 *
 * @internal
 */
import { Duration, Effect, type Exit, Fiber, Scheduler } from "effect"

/** A call or a check that does not answer within this is wedged. */
export const WEDGED_AFTER: Duration.Duration = Duration.seconds(5)

/**
 * Runs `effect` with `opsBeforeYield` operations between scheduler yields, interrupts it after
 * `yields` yields of the calling fiber, and returns how it ended (success if it finished first).
 *
 * @since 0.1.0
 * @category combinators
 */
export const interruptAfter = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  opsBeforeYield: number,
  yields: number,
): Effect.Effect<Exit.Exit<A, E>, never, R> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(Effect.provideService(effect, Scheduler.MaxOpsBeforeYield, opsBeforeYield), {
      startImmediately: true,
    })
    for (let i = 0; i < yields; i++) yield* Effect.yieldNow
    yield* Fiber.interrupt(fiber)
    return yield* Fiber.await(fiber)
  })

/**
 * Runs `effect` in a detached fiber and dies with `wedged: <what>` if it does not answer within
 * `WEDGED_AFTER`. Detached, because a wedged resource also wedges its uninterruptible
 * finalizers: timing out the effect itself would wait for them forever instead of reporting.
 *
 * @since 0.1.0
 * @category combinators
 */
export const mustAnswer = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkDetach(effect)
    const exit = yield* Effect.timeoutOrElse(Fiber.await(fiber), {
      duration: WEDGED_AFTER,
      orElse: () => Effect.die(new Error(`wedged: ${what}`)),
    })
    return yield* exit
  })
