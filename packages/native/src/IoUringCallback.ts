/**
 * Callback forms of `IoUring`'s writes (and its read), for a hot path that cannot afford a fiber per operation:
 * the journal's writer submits its group-commit rounds through these (a fiber, its wake-up and
 * the Effect around each ring operation cost more than the round's own bookkeeping).
 *
 * Each starts its operation at once and calls `onDone` exactly once with what the Effect form
 * resumes with: from the CQE's reap on the event loop, or before returning when the input is
 * invalid or the ring refuses the operation (closing, too many queued). Nothing can interrupt
 * it; as with the Effect forms, the ring keeps `bytes` referenced and retains the caller's
 * `hold` until the CQE, and calls `onSettled` exactly once.
 *
 * @since 0.1.0
 */
import type * as IoError from "./IoError.ts"
import type { FsyncOptions, OpOptions, Ring, WriteOptions, WriteThenFsyncResult } from "./IoUring.ts"
import * as Request from "./internal/ioUring/request.ts"
import { internalOf } from "./internal/ioUring/rings.ts"

/**
 * How an operation reports, exactly once: its result, or the typed error.
 *
 * @since 0.1.0
 * @category models
 */
export type Completion<A> = (outcome: A | IoError.IoError) => void

/**
 * `IoUring.write` in callback form: the bytes written (possibly fewer than asked).
 *
 * @since 0.1.0
 * @category operations
 */
export const startWrite = (
  ring: Ring,
  fd: number,
  bytes: Uint8Array,
  offsetBytes: number,
  options: WriteOptions | undefined,
  onDone: Completion<number>,
): void => {
  const { where, build, decode } = Request.describeWrite(fd, bytes, offsetBytes, options)
  Request.start(internalOf(ring), options, where, build, decode, onDone)
}

/**
 * `IoUring.read` in callback form: the bytes read (0 at end of file).
 *
 * @since 0.1.0
 * @category operations
 */
export const startRead = (
  ring: Ring,
  fd: number,
  into: Uint8Array,
  offsetBytes: number,
  options: OpOptions | undefined,
  onDone: Completion<number>,
): void => {
  const { where, build, decode } = Request.describeRead(fd, into, offsetBytes, options)
  Request.start(internalOf(ring), options, where, build, decode, onDone)
}

/**
 * `IoUring.writeThenFsync` in callback form: one linked WRITE→FSYNC submission; `synced: false`
 * when the write was short or the pair was split.
 *
 * @since 0.1.0
 * @category operations
 */
export const startWriteThenFsync = (
  ring: Ring,
  fd: number,
  bytes: Uint8Array,
  offsetBytes: number,
  options: FsyncOptions | undefined,
  onDone: Completion<WriteThenFsyncResult>,
): void => {
  const { where, build, decode } = Request.describeWriteThenFsync(fd, bytes, offsetBytes, options)
  Request.start(internalOf(ring), options, where, build, decode, onDone)
}

/**
 * Submits every SQE prepared so far with one `io_uring_enter` now, instead of at the ring's
 * flush (its `setImmediate`, or a microtask: `FlushTiming`). For a caller that starts an
 * operation inside another's completion and must not let it wait for whatever runs after that
 * completion in the same turn: the journal's writer, whose next slot write would otherwise wait
 * for the appenders its completion wakes. Does nothing once the ring is closed or when nothing
 * is prepared; the scheduled flush then finds nothing to submit.
 *
 * @since 0.1.0
 * @category operations
 */
export const submitNow = (ring: Ring): void => {
  internalOf(ring).flush()
}
