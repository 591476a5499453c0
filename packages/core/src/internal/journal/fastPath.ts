/**
 * The journal's synchronous entry points, for the Promise API (`src/promise.ts`): an append that
 * fits the active slot is placed in the caller's own call, without building and running an
 * Effect (`Effect.runPromise` costs ≈ 0.8 µs here, more than the append), and a durable append
 * waits on its group-commit round through one plain callback, so it costs one Promise.
 *
 * Not public: a `Journal.Handle` registers its fast path here when it is built, and the Promise
 * API looks it up once, at open. Everything that can fail fails with the same error objects as
 * the Effect API (they are built by the same checks), and anything the fast path cannot finish
 * synchronously (a full slot, a reservation, the event-loop yield budget spent) is answered with
 * `undefined`: the caller then takes the Effect path, which does the same thing slowly.
 *
 * @internal
 */
import type { JournalError } from "../../JournalError.ts"

export interface FastPath {
  /**
   * Appends `payload` now if it fits the active slot: its end LSN, the typed error for a call
   * that must fail (closed, bad payload), or `undefined` (take the Effect path). `budgeted`: also
   * answer `undefined` once the appends since the last event-loop yield used up their budget, so
   * a loop of unsynced appends still lets the event loop turn (the Effect path yields).
   */
  readonly tryAppend: (payload: Uint8Array, budgeted: boolean) => number | JournalError | undefined
  /** The typed error `syncThrough(lsn)` fails with at once (closed, LSN out of range), if any. */
  readonly syncRefusal: (lsn: number) => JournalError | undefined
  /**
   * Calls `resolve(value)` once `[0, lsn)` is durable, or `reject` with the error of the round
   * that covers it, possibly before this returns: a Promise's own resolving functions, so the
   * wait allocates nothing beside the Promise. The caller got `lsn` from `tryAppend` or checked
   * it with `syncRefusal`.
   */
  readonly resolveWhenDurable: <A extends number | undefined>(
    lsn: number,
    resolve: (value: A) => void,
    reject: (failure: JournalError) => void,
    value: A,
  ) => void
}

const registry = new WeakMap<object, FastPath>()

/** Called once per handle, when it is built. */
export const register = (handle: object, fastPath: FastPath): void => {
  registry.set(handle, fastPath)
}

/** The handle's fast path; `undefined` for a handle this module never saw (a test double). */
export const lookup = (handle: object): FastPath | undefined => registry.get(handle)
