/**
 * A counter of operations the kernel (or a threadpool thread) still holds on some resource, with a
 * way to wait until it drops to zero.
 *
 * Memory handed to the kernel must outlive every operation that reads or writes it, and an fd must
 * not be closed (and its number reused) while a submitted operation may still resolve it. Both are
 * the same problem: the resource's release waits until its `InFlight` is idle. The ring retains an
 * `InFlight` when it accepts an operation and releases it only after the completion was reaped, so
 * an interrupted fiber can walk away from an operation without the resource being freed under the
 * kernel (fsys bug FS-C2).
 *
 * The counter is plain synchronous state on the event loop: no locks, no Effects on the hot path.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"

/**
 * The most fibers that may wait for one resource to become idle at once. Releases are rare (a
 * buffer free, a file close), so more waiters than this is a bug in the caller.
 *
 * @since 0.1.0
 * @category constants
 */
export const IDLE_WAITERS_MAX = 1024

/**
 * @since 0.1.0
 * @category models
 */
export interface InFlight {
  /** Invariant: `count >= 0`; the number of retained, not yet released operations. */
  count: number
  /** Resumed (and cleared) when `count` drops to zero; bounded by `IDLE_WAITERS_MAX`. */
  idleWaiters: Array<() => void>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (): InFlight => ({ count: 0, idleWaiters: [] })

/**
 * Marks one more operation as holding the resource.
 *
 * @since 0.1.0
 * @category utils
 */
export const retain = (self: InFlight): void => {
  self.count += 1
}

/**
 * Marks one operation as finished with the resource; wakes idle waiters when it was the last.
 * Waiters run synchronously: call this only once every piece of native bookkeeping that touches
 * the resource is done.
 *
 * @since 0.1.0
 * @category utils
 */
export const release = (self: InFlight): void => {
  if (self.count <= 0) throw new Error(`InFlight.release without retain (count ${self.count})`)
  self.count -= 1
  if (self.count === 0 && self.idleWaiters.length > 0) {
    const waiters = self.idleWaiters
    self.idleWaiters = []
    for (const wake of waiters) wake()
  }
}

/**
 * Completes once no operation holds the resource. Interrupting the wait removes the waiter.
 *
 * @since 0.1.0
 * @category utils
 */
export const awaitIdle = (self: InFlight): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (self.count === 0) {
      resume(Effect.void)
      return
    }
    if (self.idleWaiters.length >= IDLE_WAITERS_MAX) {
      resume(Effect.die(new Error(`InFlight: more than ${IDLE_WAITERS_MAX} idle waiters`)))
      return
    }
    const wake = () => resume(Effect.void)
    self.idleWaiters.push(wake)
    return Effect.sync(() => {
      const index = self.idleWaiters.indexOf(wake)
      if (index >= 0) self.idleWaiters.splice(index, 1)
    })
  })
