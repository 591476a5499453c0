/**
 * What an operation keeps alive while the kernel may use it, and the order in which a finished
 * operation lets go: its memory's `InFlight` (and its fixed-buffer group's, and the caller's
 * `hold`) is released, its JS buffer unreferenced and its `onSettled` run, and only then is its fiber resumed. Kept apart
 * from `ring.ts` because this order is the memory-safety argument of the ring (fsys bug FS-C2)
 * and reads best on its own.
 *
 * @internal
 */
import * as InFlight from "../../InFlight.ts"
import type { Op } from "./op.ts"

/** Retains the op's memory from `start` on, whether it is prepared at once or queued. */
export const retainHolds = (op: Op): void => {
  if (op.allocation !== undefined) InFlight.retain(op.allocation.inFlight)
  if (op.hold !== undefined) InFlight.retain(op.hold)
}

/** Runs the op's `onSettled` once; also for ops refused before any hold was retained. */
export const settled = (op: Op): void => {
  const onSettled = op.onSettled
  op.onSettled = undefined
  if (onSettled !== undefined) onSettled()
}

/** Releases everything the op held (after its CQE, or when it is dropped unseen by the kernel). */
export const releaseHolds = (op: Op): void => {
  if (op.fixedGroup !== undefined) InFlight.release(op.fixedGroup.fixedInFlight)
  op.fixedGroup = undefined
  if (op.allocation !== undefined) InFlight.release(op.allocation.inFlight)
  if (op.hold !== undefined) InFlight.release(op.hold)
  op.hold = undefined
  op.keepalive = undefined
  settled(op)
}

/**
 * Releases holds and completes, in order. The ring calls it after all its bookkeeping, because
 * completing resumes a fiber synchronously and that fiber may free memory or close the ring.
 * Tolerates throwing callbacks: every op is finished, and the first error is rethrown later.
 */
export const finishAll = (done: ReadonlyArray<Op>): void => {
  let failure: unknown
  for (const op of done) {
    releaseHolds(op)
    const complete = op.complete
    op.complete = undefined
    if (complete === undefined) continue
    try {
      complete(op)
    } catch (error) {
      failure ??= error
    }
  }
  if (failure !== undefined) {
    queueMicrotask(() => {
      throw failure
    })
  }
}
