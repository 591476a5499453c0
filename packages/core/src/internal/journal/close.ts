/**
 * `Journal.Handle.close`: syncs what was appended, then releases in reverse order of acquisition
 * (writer, slots, file, ring) whatever happened. The first caller runs it; every later caller
 * waits for the same outcome.
 *
 * The claim (`closeDone`, and the handle's `closed` flag via `claim`) and the region that
 * completes it are one uninterruptible step: claimed in a plain `suspend`, an interrupt at the
 * yield before the region would leave a claim nobody completes, and the scope's finalizer
 * (another close) would wait for it forever. An interrupted caller's close still runs to the end
 * (the file is released); only its wait for the outcome is cut short.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Exit, Scope } from "effect"
import type { JournalError } from "../../JournalError.ts"

export interface CloseOptions {
  /** Marks the handle closed: no new calls from now on. */
  readonly claim: () => void
  /** The final sync (or the poison that forbids it). */
  readonly syncEverything: () => Effect.Effect<void, JournalError>
  /** The journal's own scope: closing it releases everything the journal acquired. */
  readonly scope: Scope.Closeable
}

export const make = (options: CloseOptions): Effect.Effect<void, JournalError> => {
  let closeDone: Deferred.Deferred<void, JournalError> | undefined
  return Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      if (closeDone !== undefined) return restore(Deferred.await(closeDone))
      const done = Deferred.makeUnsafe<void, JournalError>()
      closeDone = done
      options.claim()
      return Effect.gen(function* () {
        const synced = yield* Effect.exit(Effect.suspend(options.syncEverything))
        yield* Scope.close(options.scope, Exit.void)
        Deferred.doneUnsafe(done, Exit.isSuccess(synced) ? Exit.void : Exit.failCause(synced.cause))
        return yield* synced
      })
    }),
  )
}
