/**
 * Fault dispatch: how the faults a rule fires act on one simulated syscall.
 *
 * All mutation is synchronous JavaScript, so every simulated syscall is atomic with respect to
 * other fibers; a fault's delay runs before the call takes effect, and the call re-checks its
 * handle afterwards (the power may have gone, or the handle closed, while it waited).
 *
 * @since 0.1.0
 */
import { Effect, Fiber } from "effect"
import { IoError } from "@fsys/native"
import type * as SimulatedDisk from "../../SimulatedDisk.ts"
import type { BufferRecord } from "./buffers.ts"
import { crashNow, crashProcessesNow } from "./power.ts"
import type { DiskState } from "./state.ts"

/** A `Yield` fault waits at most this many scheduler turns (a bound on every loop). */
const YIELDS_MAX = 100_000

/** Gives way to other fibers `times` times: a delay measured in scheduler turns, not in time. */
const yieldTimes = (times: number): Effect.Effect<void> => {
  const remaining = Math.min(YIELDS_MAX, Math.max(0, Math.trunc(times)))
  return remaining === 0
    ? Effect.void
    : Effect.andThen(
        Effect.yieldNow,
        Effect.suspend(() => yieldTimes(remaining - 1)),
      )
}

/** The EBADF of every call made through a boot whose power went. */
export const powerIsGone = (state: DiskState, ownBoot: number, syscall: string, path: string): IoError.IoError =>
  IoError.fromErrno("EBADF", syscall, path, `seed ${state.seed}: boot ${ownBoot} lost power`)

/** The first injected error among the fired faults. */
export const errorOf = (
  fired: ReadonlyArray<SimulatedDisk.Fault>,
): (SimulatedDisk.Fault & { readonly _tag: "Error" }) | undefined => {
  for (const fault of fired) if (fault._tag === "Error") return fault
  return undefined
}

/** The fired faults' delays, in order, or undefined when none delays the call. */
const delayOf = (fired: ReadonlyArray<SimulatedDisk.Fault>): Effect.Effect<void> | undefined => {
  let delay: Effect.Effect<void> | undefined
  for (const fault of fired) {
    const step =
      fault._tag === "Latency"
        ? Effect.sleep(fault.duration)
        : fault._tag === "Yield"
          ? yieldTimes(fault.times)
          : undefined
    if (step !== undefined) delay = delay === undefined ? step : Effect.andThen(delay, step)
  }
  return delay
}

/**
 * Runs the delays of the fired faults, then `body` with the faults that act on the call itself.
 * The buffer (if any) counts as in flight while the call waits, like a submitted IO.
 */
export const withFaults = <A>(
  state: DiskState,
  ownBoot: number,
  call: {
    readonly op: SimulatedDisk.FaultOp
    readonly syscall: string
    readonly path: string
    readonly record?: BufferRecord | undefined
  },
  body: (fired: ReadonlyArray<SimulatedDisk.Fault>) => Effect.Effect<A, IoError.IoError>,
): Effect.Effect<A, IoError.IoError> => {
  const { op, syscall, path, record } = call
  const fired = state.faults.match(op, path, state.faultRng)
  if (fired.length === 0) return body(fired)
  state.stats.faultsFired += fired.length
  const act = Effect.suspend(() => {
    for (const fault of fired) {
      if (fault._tag === "PowerLoss") {
        if (state.boot === ownBoot) crashNow(state, fault.mode === undefined ? undefined : { mode: fault.mode })
        return Effect.fail(powerIsGone(state, ownBoot, syscall, path))
      }
      if (fault._tag === "ProcessCrash") {
        if (state.boot === ownBoot) crashProcessesNow(state)
        return Effect.fail(IoError.fromErrno("EBADF", syscall, path, `seed ${state.seed}: the process was killed`))
      }
    }
    if (state.boot !== ownBoot) return Effect.fail(powerIsGone(state, ownBoot, syscall, path))
    return body(fired)
  })
  const delay = delayOf(fired)
  if (delay === undefined) return act
  // A submitted IO runs to completion even if the caller is interrupted (the kernel does not
  // cancel a pwrite on the threadpool or an io_uring SQE): it runs detached and the caller
  // only waits for it. A caller that frees the buffer on interruption is then caught.
  return Effect.suspend(() => {
    if (record !== undefined) record.inflight++
    const submitted = Effect.andThen(delay, act).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          if (record !== undefined) record.inflight--
        }),
      ),
    )
    return Effect.flatMap(Effect.forkDetach(submitted, { startImmediately: true }), Fiber.join)
  })
}
