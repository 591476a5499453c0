/**
 * The ring's public limits and the options a caller passes to `Ring.create` (test seams, the
 * measurement observer, the flush timing): kept apart from `ring.ts` so the ring itself is only
 * its state machine.
 *
 * @internal
 */

/** Most operations that may wait for room at once; past this `start` fails with `Busy`. */
export const QUEUED_OPS_MAX = 1 << 16
/** Smallest and largest ring sizes accepted. */
export const ENTRIES_MIN = 2
export const ENTRIES_MAX = 4096
/** Registered buffers per ring, over all callers (see `buffers.ts`). */
export { TABLE_ENTRIES as REGISTERED_BUFFERS_MAX } from "./buffers.ts"

/** Test seams: behaviours of other kernels and rare kernel answers, on demand. */
export interface Seams {
  /** false: behave as on kernels without sparse buffer tables (< 5.19). */
  readonly sparseBuffers?: boolean
  /** How many of the `unsubmitted` SQEs to pass to one io_uring_enter (the kernel may take fewer). */
  readonly submitCount?: (unsubmitted: number) => number
  /**
   * Rewrites each result the ring records for an SQE — a CQE's, or the errno of a submission
   * that failed for good — before the ring acts on it (`opcode` of the op's first SQE, `position`
   * 0 or 1 in a linked pair): rare kernel answers on demand, e.g. -ECANCELED for a request io-wq
   * cancelled unrun.
   */
  readonly completionResult?: (opcode: number, position: number, result: number) => number
  /** Told when SQEs are submitted and CQEs reaped (latency breakdowns: `scripts/latency-breakdown.ts`). */
  readonly observer?: Observer
}

/** Timestamps of the ring's own steps, for measurements; called synchronously, keep them cheap. */
export interface Observer {
  /** After an op's SQEs were written and published (before its io_uring_enter). */
  readonly onPrepare?: () => void
  /** After an io_uring_enter that submitted `submitted` SQEs. */
  readonly onEnter?: (submitted: number) => void
  /** At the start of a reap (the ring fd turned readable), before any CQE is read. */
  readonly onReap?: () => void
}

/**
 * When prepared SQEs go to the kernel. `"immediate"`: from a `setImmediate` scheduled by the
 * first SQE of the turn (everything prepared in the event-loop turn shares one io_uring_enter).
 * `"microtask"`: from a microtask, i.e. before the current macrotask returns to the event loop
 * (everything prepared in the same synchronous run and its microtasks shares one enter).
 */
export type FlushTiming = "immediate" | "microtask"
