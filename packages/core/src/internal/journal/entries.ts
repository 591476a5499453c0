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

/**
 * The appends that never wait yield to the event loop after this many records, this many bytes
 * copied, or this long in one event-loop turn, whichever comes first. A batch counts as its
 * records: small records cost per record (validation, header, CRC), not per byte, so a loop of
 * 100-record batches charged as one append each held the loop for 24 batches (2 400 records,
 * ≈ 2 ms) before its bytes ran out. The clock is read whenever the count crosses a multiple of
 * `CLOCK_EVERY_APPENDS` (a read costs more than an append's bookkeeping).
 */
const YIELD_AFTER_APPENDS = 1024
const YIELD_AFTER_BYTES = 256 * 1024
const YIELD_AFTER_MILLIS = 1
const CLOCK_EVERY_APPENDS = 64

/** The handle's mutable state, shared by its entry points and its close. */
export interface State {
  readonly engine: JournalEngine.Engine
  /** No new calls once `close` started. */
  closed: boolean
  /** Bytes copied and appends completed since the appends last yielded to the event loop. */
  bytesSinceYield: number
  appendsSinceYield: number
  /** The budget is spent: the next append through the Effect path yields. */
  yieldDue: boolean
  /**
   * When the current event-loop turn began, as far as the appends know: at their last yield, or
   * at the clock read after the **turn marker** (a `setImmediate`) fired, which means the loop
   * turned on its own since (a durable wait, a timer): then the appends have not held it since.
   */
  turnStartMillis: number
  markerArmed: boolean
  turned: boolean
  readonly onMarker: () => void
}

export const makeState = (engine: JournalEngine.Engine): State => {
  const state: State = {
    engine,
    closed: false,
    bytesSinceYield: 0,
    appendsSinceYield: 0,
    yieldDue: false,
    turnStartMillis: performance.now(),
    markerArmed: false,
    turned: false,
    onMarker: () => {
      state.markerArmed = false
      state.turned = true
    },
  }
  return state
}

const armMarker = (state: State): void => {
  if (state.markerArmed) return
  state.markerArmed = true
  setImmediate(state.onMarker)
}

/**
 * Counts `records` appended without waiting (one call: an append, or a batch); true once the
 * turn's budget is spent (then `yieldDue` stays set until the Effect path yields). Bounded work:
 * counters, and a clock read each time the count crosses a multiple of `CLOCK_EVERY_APPENDS`.
 */
const spendBudget = (state: State, records: number, frameBytes: number): boolean => {
  if (state.yieldDue) return true
  const before = state.appendsSinceYield
  const appends = before + records
  state.appendsSinceYield = appends
  state.bytesSinceYield += frameBytes
  if (appends >= YIELD_AFTER_APPENDS || state.bytesSinceYield >= YIELD_AFTER_BYTES) {
    state.yieldDue = true
    return true
  }
  if (Math.floor(appends / CLOCK_EVERY_APPENDS) === Math.floor(before / CLOCK_EVERY_APPENDS)) return false
  const nowMillis = performance.now()
  if (state.turned) {
    // The loop turned since the marker was armed: this turn began after that.
    state.turned = false
    state.turnStartMillis = nowMillis
    armMarker(state)
    return false
  }
  armMarker(state)
  if (nowMillis - state.turnStartMillis < YIELD_AFTER_MILLIS) return false
  state.yieldDue = true
  return true
}

/**
 * Gives the event loop a whole turn, its timers included. Appenders wake in an IO completion (the
 * poll phase); an immediate queued there runs in the same iteration's check phase, before any
 * timer, so one `setImmediate` let two or three 1 MiB appends (≈ 0.5 ms each) run between two
 * timers phases. The second immediate runs in the next iteration, after its timers. The cost is
 * one extra iteration per spent budget (256 KiB copied, 1024 records or 1 ms).
 */
const nextLoopTurn: Effect.Effect<void> = Effect.callback<void>((resume) => {
  setImmediate(() => {
    setImmediate(() => resume(Effect.void))
  })
})

/** After the appends yielded: a new turn and a new budget. */
const yielded = (state: State): void => {
  state.yieldDue = false
  state.appendsSinceYield = 0
  state.bytesSinceYield = 0
  state.turned = false
  state.turnStartMillis = performance.now()
}

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

type Completed = (end: number, records: number, frameBytes: number) => Effect.Effect<number>
/** Runs `place` once the turn has a budget: at once, or after yielding a whole loop turn. */
type WithBudget = <A, E>(place: Effect.Effect<A, E>) => Effect.Effect<A, E>
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
// Yielding after a bounded amount of copying, or of time in one turn, keeps the event-loop delay
// low (`spendBudget`). The yield comes *before* the placement that finds the budget spent, not
// after the one that spent it: an append that waited for a slot is placed inside the IO
// completion that freed it, and the next one must not be placed in that same turn.
const completedOf = (state: State): Completed => {
  return (end, records, frameBytes) => {
    spendBudget(state, records, frameBytes)
    return Effect.succeed(end)
  }
}

const withBudgetOf = (state: State): WithBudget => {
  const yieldTurn = Effect.andThen(
    nextLoopTurn,
    Effect.sync(() => yielded(state)),
  )
  return (place) => (state.yieldDue ? Effect.andThen(yieldTurn, place) : place)
}

const appendOf = (
  state: State,
  appendSlow: AppendSlow,
  completed: Completed,
  withBudget: WithBudget,
): Entries["append"] => {
  const { core, counters, closedError } = state.engine
  // Places at once (the common case: one `suspend` per append, no closure of its own).
  const placeNow = (view: Uint8Array): Effect.Effect<number, JournalError> => {
    const frameBytes = view.byteLength + Frame.OVERHEAD_BYTES
    const end = core.tryAppend(view)
    // A record that waited for room is counted too: the next append yields before it places.
    if (end === undefined) return Effect.flatMap(appendSlow(view), (slowEnd) => completed(slowEnd, 1, frameBytes))
    counters.appends++
    counters.appendedBytes += frameBytes
    return completed(end, 1, frameBytes)
  }
  return (payload) =>
    Effect.suspend(() => {
      if (state.closed) return Effect.fail(closedError)
      const view = checkPayload(payload)
      if (!(view instanceof Uint8Array)) return Effect.fail(view)
      return state.yieldDue ? withBudget(Effect.suspend(() => placeNow(view))) : placeNow(view)
    })
}

const tryAppendNowOf = (state: State): Entries["tryAppendNow"] => {
  const { core, counters, closedError } = state.engine
  return (payload, budgeted) => {
    if (state.closed) return closedError
    const view = checkPayload(payload)
    if (!(view instanceof Uint8Array)) return view
    const frameBytes = view.byteLength + Frame.OVERHEAD_BYTES
    // A spent budget goes the Effect way, whose `completed` yields to the event loop (`yieldDue`
    // stays set until it did). Counted before the append: this one is then placed by that path.
    if (budgeted && spendBudget(state, 1, frameBytes)) return undefined
    const end = core.tryAppend(view)
    if (end === undefined) return undefined
    counters.appends++
    counters.appendedBytes += frameBytes
    return end
  }
}

const appendBatchOf = (state: State, completed: Completed, withBudget: WithBudget): Entries["appendBatch"] => {
  const { core, counters, closedError, poisoned } = state.engine
  return (payloads) =>
    Effect.suspend(() => {
      if (state.closed) return Effect.fail(closedError)
      if (!Array.isArray(payloads))
        return Effect.fail(new InvalidOptions({ option: "payloads", reason: "must be an array" }))
      return Effect.flatMap(validateBatch(payloads), ({ accepted, bytes }) =>
        withBudget(
          core.appendBatch(accepted).pipe(
            Effect.mapError(poisoned),
            Effect.flatMap((end) => {
              counters.appends += accepted.length
              counters.appendedBytes += bytes
              return completed(end, accepted.length, bytes)
            }),
          ),
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
  const withBudget = withBudgetOf(state)
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
    append: appendOf(state, appendSlow, completed, withBudget),
    appendBatch: appendBatchOf(state, completed, withBudget),
    appendDurable: appendDurableOf(state, appendSlow, syncAppended),
    syncThrough,
    sync,
    tryAppendNow: tryAppendNowOf(state),
    syncRefusal,
    syncAppended,
  }
}
