/**
 * The entry points of a journal handle (`append`, `appendBatch`, `appendDurable`, `syncThrough`,
 * `sync`, and the Promise API's synchronous append), over the engine (`engine.ts`). They share
 * the handle's mutable state, kept in one small object (`State`): the `closed` flag `close`
 * sets, and the yield budget of the appends that never wait. Each entry point is built once per
 * handle, with the engine's parts bound to locals, so its body is the tuned fast path itself.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as Frame from "../../Frame.ts"
import { InvalidOptions, type JournalError, LsnOutOfRange } from "../../JournalError.ts"
import type * as JournalEngine from "./engine.ts"
import { checkPayload, validateBatch } from "./validate.ts"

/** At most this many appends, or this many bytes copied, between two event-loop turns. */
const YIELD_AFTER_APPENDS = 1024
const YIELD_AFTER_BYTES = 256 * 1024

/** The handle's mutable state, shared by its entry points and its close. */
export interface State {
  readonly engine: JournalEngine.Engine
  /** No new calls once `close` started. */
  closed: boolean
  /** Bytes copied and appends completed since the appends last yielded to the event loop. */
  bytesSinceYield: number
  appendsSinceYield: number
}

export const makeState = (engine: JournalEngine.Engine): State => ({
  engine,
  closed: false,
  bytesSinceYield: 0,
  appendsSinceYield: 0,
})

export interface Entries {
  readonly append: (payload: Uint8Array) => Effect.Effect<number, JournalError>
  readonly appendBatch: (payloads: ReadonlyArray<Uint8Array>) => Effect.Effect<number, JournalError>
  readonly appendDurable: (payload: Uint8Array) => Effect.Effect<number, JournalError>
  readonly syncThrough: (lsn: number) => Effect.Effect<void, JournalError>
  readonly sync: Effect.Effect<number, JournalError>
  /** The Promise API's synchronous append (`fastPath.ts`): `append`'s fast path. */
  readonly tryAppendNow: (payload: Uint8Array, budgeted: boolean) => number | JournalError | undefined
  /** Why `syncThrough(lsn)` must fail at once (closed, or an LSN not appended), if it must. */
  readonly syncRefusal: (lsn: number) => JournalError | undefined
  /** The group-commit wait for an already validated LSN. */
  readonly syncAppended: (lsn: number) => Effect.Effect<void, JournalError>
}

type Completed = (end: number, frameBytes: number) => Effect.Effect<number>
type AppendSlow = (payload: Uint8Array) => Effect.Effect<number, JournalError>
type SyncAppended = Entries["syncAppended"]

const appendSlowOf = (engine: JournalEngine.Engine): AppendSlow => {
  const { core, counters, poisoned } = engine
  return (payload) =>
    core.append(payload).pipe(
      Effect.tap(() =>
        Effect.sync(() => {
          counters.appends++
          counters.appendedBytes += payload.byteLength + Frame.OVERHEAD_BYTES
        }),
      ),
      Effect.mapError(poisoned),
    )
}

// Appends that find room never wait, so a producer looping on them would keep the event loop
// until Effect's scheduler yields (every 2048 operations: 100 ms and more with large records).
// Yielding after a bounded amount of copying keeps the event-loop delay low.
const completedOf =
  (state: State): Completed =>
  (end, frameBytes) => {
    state.bytesSinceYield += frameBytes
    if (++state.appendsSinceYield < YIELD_AFTER_APPENDS && state.bytesSinceYield < YIELD_AFTER_BYTES)
      return Effect.succeed(end)
    state.bytesSinceYield = 0
    state.appendsSinceYield = 0
    return Effect.as(Effect.yieldNow, end)
  }

const appendOf = (state: State, appendSlow: AppendSlow, completed: Completed): Entries["append"] => {
  const { core, counters, closedError } = state.engine
  return (payload) =>
    Effect.suspend(() => {
      if (state.closed) return Effect.fail(closedError)
      const view = checkPayload(payload)
      if (!(view instanceof Uint8Array)) return Effect.fail(view)
      const end = core.tryAppend(view)
      if (end === undefined) return appendSlow(view)
      const frameBytes = view.byteLength + Frame.OVERHEAD_BYTES
      counters.appends++
      counters.appendedBytes += frameBytes
      return completed(end, frameBytes)
    })
}

const tryAppendNowOf = (state: State): Entries["tryAppendNow"] => {
  const { core, counters, closedError } = state.engine
  return (payload, budgeted) => {
    if (state.closed) return closedError
    const view = checkPayload(payload)
    if (!(view instanceof Uint8Array)) return view
    const frameBytes = view.byteLength + Frame.OVERHEAD_BYTES
    // A spent budget goes the Effect way, whose `completed` yields to the event loop.
    if (
      budgeted &&
      (state.appendsSinceYield + 1 >= YIELD_AFTER_APPENDS || state.bytesSinceYield + frameBytes >= YIELD_AFTER_BYTES)
    )
      return undefined
    const end = core.tryAppend(view)
    if (end === undefined) return undefined
    counters.appends++
    counters.appendedBytes += frameBytes
    if (budgeted) {
      state.appendsSinceYield++
      state.bytesSinceYield += frameBytes
    }
    return end
  }
}

const appendBatchOf = (state: State, completed: Completed): Entries["appendBatch"] => {
  const { core, counters, closedError, poisoned } = state.engine
  return (payloads) =>
    Effect.suspend(() => {
      if (state.closed) return Effect.fail(closedError)
      if (!Array.isArray(payloads))
        return Effect.fail(new InvalidOptions({ option: "payloads", reason: "must be an array" }))
      return Effect.flatMap(validateBatch(payloads), ({ accepted, bytes }) =>
        core.appendBatch(accepted).pipe(
          Effect.mapError(poisoned),
          Effect.flatMap((end) => {
            counters.appends += accepted.length
            counters.appendedBytes += bytes
            return completed(end, bytes)
          }),
        ),
      )
    })
}

const syncAppendedOf = (engine: JournalEngine.Engine): SyncAppended => {
  const { counters, groupCommit } = engine
  return (lsn) => {
    if (lsn <= groupCommit.syncedLsn) return Effect.void
    counters.syncRequests++
    return groupCommit.syncThrough(lsn)
  }
}

const syncRefusalOf = (state: State): Entries["syncRefusal"] => {
  const { core, closedError } = state.engine
  return (lsn) => {
    if (state.closed) return closedError
    const nextLsn = core.nextLsn
    if (typeof lsn !== "number" || !Number.isSafeInteger(lsn) || lsn < 0 || lsn > nextLsn) {
      return new LsnOutOfRange({ lsn, nextLsn })
    }
    return undefined
  }
}

// One call per durable record, one primitive, one park: the append runs when the callback is
// registered (the Effect is still lazy: nothing happens until it runs), and the round resumes
// the fiber with the record's end LSN. No `suspend`, no `as` around the wait, no second yield.
const appendDurableOf = (
  state: State,
  appendSlow: AppendSlow,
  syncAppended: SyncAppended,
): Entries["appendDurable"] => {
  const { core, counters, closedError, groupCommit } = state.engine
  return (payload) =>
    Effect.callback<number, JournalError>((resume) => {
      if (state.closed) return resume(Effect.fail(closedError))
      const view = checkPayload(payload)
      if (!(view instanceof Uint8Array)) return resume(Effect.fail(view))
      const end = core.tryAppend(view)
      if (end === undefined) {
        return resume(Effect.flatMap(appendSlow(view), (slowEnd) => Effect.as(syncAppended(slowEnd), slowEnd)))
      }
      counters.appends++
      counters.appendedBytes += view.byteLength + Frame.OVERHEAD_BYTES
      counters.syncRequests++
      groupCommit.resumeWhenDurable(end, resume)
    })
}

/** Builds a handle's entry points over `state` (once per handle). */
export const make = (state: State): Entries => {
  const { core } = state.engine
  const appendSlow = appendSlowOf(state.engine)
  const completed = completedOf(state)
  const syncAppended = syncAppendedOf(state.engine)
  const syncRefusal = syncRefusalOf(state)
  const syncThrough = (lsn: number): Effect.Effect<void, JournalError> =>
    Effect.suspend(() => {
      const refusal = syncRefusal(lsn)
      return refusal === undefined ? syncAppended(lsn) : Effect.fail(refusal)
    })
  const sync: Effect.Effect<number, JournalError> = Effect.suspend(() => {
    const target = core.nextLsn
    return Effect.as(syncThrough(target), target)
  })
  return {
    append: appendOf(state, appendSlow, completed),
    appendBatch: appendBatchOf(state, completed),
    appendDurable: appendDurableOf(state, appendSlow, syncAppended),
    syncThrough,
    sync,
    tryAppendNow: tryAppendNowOf(state),
    syncRefusal,
    syncAppended,
  }
}
