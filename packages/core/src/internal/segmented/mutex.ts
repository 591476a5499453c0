/**
 * The directory lock: one directory change at a time (rotation, truncation, checkpoint,
 * retention, close). `tryTake` is synchronous, so the append that triggers a rotation takes the
 * lock in the same turn as it swaps segments; everyone else waits in `withLock`.
 *
 * @internal
 */
import { Deferred, Effect, Exit } from "effect"

/** Waiters beyond this are a bug (every waiter is a caller's fiber): fail loudly. */
const WAITERS_MAX = 1_000_000

export class Mutex {
  private busy = false
  private readonly onRelease: () => void

  /** `onRelease` runs after each release (the engine wakes appends waiting for a rotation). */
  constructor(onRelease: () => void) {
    this.onRelease = onRelease
  }
  private waiters: Array<Deferred.Deferred<void>> = []

  get locked(): boolean {
    return this.busy
  }

  tryTake(): boolean {
    if (this.busy) return false
    this.busy = true
    return true
  }

  release(): void {
    if (!this.busy) throw new Error("fsys: directory lock released while free")
    this.busy = false
    // Swap first: a woken waiter runs synchronously inside doneUnsafe and may re-queue.
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) Deferred.doneUnsafe(waiter, Exit.void)
    this.onRelease()
  }

  /** Runs `use` holding the lock; only the wait is interruptible, the release always happens. */
  withLock<A, E, R>(use: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.andThen(
        this.take(restore),
        Effect.ensuring(
          restore(use),
          Effect.sync(() => this.release()),
        ),
      ),
    )
  }

  private take(restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.tryTake()) return Effect.void
      if (this.waiters.length >= WAITERS_MAX) return Effect.die(new Error("fsys: directory lock waiters overflow"))
      const waiter = Deferred.makeUnsafe<void>()
      this.waiters.push(waiter)
      return Effect.andThen(restore(Deferred.await(waiter)), this.take(restore))
    })
  }
}
