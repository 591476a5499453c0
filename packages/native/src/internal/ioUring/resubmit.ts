/**
 * Operations the kernel cancelled without running, and that the ring therefore runs again.
 *
 * io_uring hands blocking work (FSYNC always, a WRITE that cannot be done without blocking) to its
 * worker threads (io-wq). When io-wq has no worker and cannot create one — `create_io_thread`
 * fails while a signal is pending on the submitting thread, three times in a row — it cancels
 * every request waiting for a worker, and those complete with -ECANCELED although the kernel never
 * started them. Here a profiler's SIGPROF every 20 µs did it to the journal's first fdatasync in 2
 * of 20 fresh processes (`scripts/signal-storm.ts`); without this, that open failed,
 * and a round's FSYNC cancelled the same way would have poisoned the journal over an fdatasync
 * that never ran. Such a request is safe to submit again as it was: it did nothing.
 *
 * The ring itself cancels only while closing (`Ring.beginClose`), so outside of closing an
 * -ECANCELED is the kernel's own. Not resubmitted: a linked FSYNC cancelled because its WRITE was
 * short (the link broke: the caller sees `synced: false` and syncs again), the ring's own cancel
 * request, and an op past `RESUBMITS_MAX` (then the caller gets the ECANCELED, typed).
 *
 * @internal
 */
import * as InFlight from "../../InFlight.ts"
import * as Abi from "./abi.ts"
import { type Op, QUEUED, type Stats } from "./op.ts"
import type { WaitQueue } from "./waitQueue.ts"

/** Times one op is submitted again after a cancel it did not ask for; each costs one event-loop turn. */
export const RESUBMITS_MAX = 8

/** The kernel cancelled `op` before any of it ran (see the module comment), and it may run again. */
export const cancelledUnrun = (op: Op): boolean => {
  if (op.opcode === Abi.IORING_OP_ASYNC_CANCEL || op.resubmits >= RESUBMITS_MAX) return false
  // The first SQE never ran (a linked FSYNC after it then never ran either).
  if (op.result0 === -Abi.ECANCELED) return true
  // A linked pair whose WRITE completed in full and whose FSYNC was cancelled unrun: running the
  // pair again rewrites the same bytes (the op still holds them, unchanged) and then syncs.
  return op.sqeCount === 2 && !op.linkSplit && op.result0 === op.lengthBytes && op.result1 === -Abi.ECANCELED
}

/**
 * Makes a reaped op ready to be prepared again: its fixed-buffer hold is dropped (preparing
 * promotes it afresh, or writes from its still-held memory if the group was retired meanwhile);
 * its memory and caller holds stay retained, since it is not finished.
 */
export const rearm = (op: Op): void => {
  if (op.fixedGroup !== undefined) InFlight.release(op.fixedGroup.fixedInFlight)
  op.fixedGroup = undefined
  op.resubmits += 1
  // A pair split by a partial submission is whole again when prepared anew (the next partial
  // submission, if any, splits it again).
  op.linkSplit = false
  op.result0 = 0
  op.result1 = 0
  op.pending = 0
  op.state = QUEUED
}

/**
 * Splits reaped ops into those to finish now (returned) and those rearmed and put back in line in
 * `waiting` (admitted as room allows, like any op that waited for room).
 */
export const takeCancelledUnrun = (done: Array<Op>, waiting: WaitQueue, stats: Stats): Array<Op> => {
  let finished: Array<Op> | undefined
  for (let i = 0; i < done.length; i++) {
    const op = done[i]!
    if (!cancelledUnrun(op)) {
      finished?.push(op)
      continue
    }
    finished ??= done.slice(0, i)
    rearm(op)
    stats.resubmits += 1
    waiting.push(op)
  }
  return finished ?? done
}
