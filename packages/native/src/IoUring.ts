/**
 * A raw io_uring ring for Node.js, driven from the event loop: no liburing, no threads, no busy
 * polling.
 *
 * `make({ entries })` sets up a ring (io_uring_setup, mmap of the SQ/CQ rings and the SQEs) as a
 * scoped resource. Operations (`write`, `read`, `fsync`, `writeThenFsync`, `nop`) return Effects
 * that complete from their CQE:
 *
 * - SQEs prepared during one event-loop turn go to the kernel with ONE io_uring_enter;
 * - completions are reaped from shared memory when `koffi.node.poll` reports the ring fd readable;
 * - at most `capacity` SQEs are in flight; further callers wait in a bounded FIFO (backpressure),
 *   so the completion queue can never overflow (an overflow the kernel reports anyway is flushed);
 * - a write or read whose memory was registered with `registerBuffers` is promoted to
 *   WRITE_FIXED / READ_FIXED automatically; several callers (journals) may register their own
 *   buffers on one ring (a sparse table of `REGISTERED_BUFFERS_MAX` entries, Linux 5.19+);
 * - `writeThenFsync` links a WRITE to an FSYNC (IOSQE_IO_LINK): one submission, ordered, and the
 *   fsync never runs when the write failed or was short. Should the kernel accept only the WRITE
 *   of the pair (a partial submission), the FSYNC is never submitted on its own, unordered: the
 *   result says `synced: false`;
 * - `write(…, { dsync: true })` sets RWF_DSYNC, which block devices that honour FUA complete with a
 *   forced-unit-access write instead of a cache flush.
 *
 * Memory and interruption: an operation keeps its `Uint8Array` referenced, and retains the
 * `InFlight` of the `AlignedMemory` it uses, until its CQE is
 * reaped. Interrupting the waiting fiber therefore never lets memory the kernel still reads be
 * freed (fsys bug FS-C2); an operation interrupted while still queued is simply dropped. Closing
 * the ring's Scope refuses new operations, fails queued ones, cancels what is in flight
 * (IORING_OP_ASYNC_CANCEL) and waits for every CQE before unmapping the rings.
 *
 * `IoUringCallback` has the callback forms of the writes, for hot paths without a fiber per
 * operation.
 *
 * Registered files are deliberately not used: descriptors are passed as plain fds on every SQE,
 * so no cache can ever be keyed by a reused fd number (fsys bug FS-C1). The FileIo layer keeps the
 * fd open until every operation on it has completed.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type * as Scope from "effect/Scope"
import type { AlignedBuffer } from "./AlignedBuffer.ts"
import type * as InFlight from "./InFlight.ts"
import * as Abi from "./internal/ioUring/abi.ts"
import * as Probe from "./internal/ioUring/probe.ts"
import * as Request from "./internal/ioUring/request.ts"
import { internalOf } from "./internal/ioUring/rings.ts"
import * as Rings from "./internal/ioUring/rings.ts"
import * as Internal from "./internal/ioUring/ring.ts"
import * as RingOptions from "./internal/ioUring/ringOptions.ts"
import * as IoError from "./IoError.ts"

/**
 * Ring sizes accepted by `make` (powers of two; the kernel rounds up).
 *
 * @since 0.1.0
 * @category constants
 */
export const ENTRIES_MIN = RingOptions.ENTRIES_MIN

/**
 * @since 0.1.0
 * @category constants
 */
export const ENTRIES_MAX = RingOptions.ENTRIES_MAX

/**
 * Most operations that may wait for room in one ring; past this an operation fails with `Busy`.
 *
 * @since 0.1.0
 * @category constants
 */
export const QUEUED_OPS_MAX = RingOptions.QUEUED_OPS_MAX

/**
 * Buffers registered on one ring at a time, over all its callers; past this `registerBuffers`
 * fails `Busy` (and the FileIo layer runs unregistered).
 *
 * @since 0.1.0
 * @category constants
 */
export const REGISTERED_BUFFERS_MAX = RingOptions.REGISTERED_BUFFERS_MAX

/**
 * When SQEs prepared by callers go to the kernel. `"immediate"`: one io_uring_enter from a
 * `setImmediate` scheduled by the turn's first SQE, so everything prepared during the event-loop
 * turn shares it. `"microtask"`: the enter runs from a microtask, before the current callback
 * returns to the event loop, so everything prepared in the same synchronous run (and its
 * microtasks) shares it: a write prepared from a completion goes out without waiting for the
 * loop's check phase.
 *
 * @since 0.1.0
 * @category models
 */
export type FlushTiming = RingOptions.FlushTiming

/**
 * @since 0.1.0
 * @category constants
 */
export const FLUSH_TIMING_DEFAULT: FlushTiming = "immediate"

/**
 * Counters for tests and benchmarks (`enters` counts io_uring_enter calls made to submit).
 *
 * @since 0.1.0
 * @category models
 */
export type Stats = Readonly<Internal.Stats>

/**
 * An io_uring instance, valid until the Scope that made it closes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ring {
  /** The ring's own descriptor. */
  readonly fd: number
  readonly sqEntries: number
  readonly cqEntries: number
  /** Most SQEs in flight at once (a linked write+fsync counts two). */
  readonly capacity: number
  /** `IORING_FEAT_*` bits reported by the kernel. */
  readonly features: number
  /** SQEs submitted or prepared whose CQE has not been reaped yet. */
  readonly inFlight: () => number
  /** Operations waiting for room. */
  readonly queued: () => number
  readonly stats: () => Stats
}

/**
 * Options common to every operation.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpOptions {
  /** Names the file in errors (default `fd <n>`). */
  readonly path?: string
  /**
   * Retained from the moment the ring accepts the operation until it settles: a caller that sees
   * it idle and the operation not settled knows the ring never took it (its interrupt came first).
   */
  readonly hold?: InFlight.InFlight
  /**
   * Called exactly once when the ring is done with the operation: after its CQE was reaped (even
   * when the waiting fiber was interrupted), or when it was refused or dropped before reaching the
   * kernel. Runs after the ring's bookkeeping, before the fiber resumes.
   */
  readonly onSettled?: () => void
  /**
   * IOSQE_ASYNC (a READ or WRITE, or the WRITE of `writeThenFsync`; ignored elsewhere): the
   * kernel runs the operation in its io-wq worker thread
   * instead of trying it inline in `io_uring_enter`. A buffered READ that the page cache can
   * serve (or a buffered WRITE, on filesystems that take them without blocking, such as XFS) is
   * otherwise copied inside the enter, on the calling thread: ≈ 0.5 ms per 4 MiB here
   * (`scripts/enter-cost.ts`), all of it event-loop time. O_DIRECT IO only queues its bios
   * inline, so it gains nothing from this.
   */
  readonly offload?: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface WriteOptions extends OpOptions {
  /** RWF_DSYNC: the write is durable when it completes (FUA on devices that support it). */
  readonly dsync?: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface FsyncOptions extends OpOptions {
  /** IORING_FSYNC_DATASYNC: fdatasync rather than fsync (default true). */
  readonly datasync?: boolean
}

/**
 * The outcome of `writeThenFsync`. A short write breaks the link (the kernel cancels the fsync),
 * and so does a partial submission that took only the write: then `synced` is false and the
 * caller continues the write (if short) and syncs again.
 *
 * @since 0.1.0
 * @category models
 */
export interface WriteThenFsyncResult {
  readonly writtenBytes: number
  readonly synced: boolean
}

/**
 * Sets up a ring with `entries` SQEs (rounded up to a power of two by the kernel; the CQ gets
 * twice that). Closing the Scope cancels and waits for in-flight operations, then unmaps.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly entries: number
  /** When prepared SQEs are submitted (default `FLUSH_TIMING_DEFAULT`); see `FlushTiming`. */
  readonly flushTiming?: FlushTiming
  /** @internal Test seams (other kernels' behaviour, partial submissions) and the observer. */
  readonly seams?: RingOptions.Seams
}): Effect.Effect<Ring, IoError.IoError, Scope.Scope> => {
  const entries = options.entries
  if (!Number.isSafeInteger(entries) || entries < ENTRIES_MIN || entries > ENTRIES_MAX) {
    return Effect.fail(IoError.fromErrno("EINVAL", "io_uring_setup", "", `${entries} entries`))
  }
  const flushTiming = options.flushTiming ?? FLUSH_TIMING_DEFAULT
  if (flushTiming !== "immediate" && flushTiming !== "microtask") {
    return Effect.fail(IoError.fromErrno("EINVAL", "io_uring_setup", "", `flushTiming ${String(flushTiming)}`))
  }
  return Effect.acquireRelease(Request.createRing(entries, options.seams, flushTiming), Request.closeRing).pipe(
    Effect.map((state) => {
      const ring: Ring = {
        fd: state.fd,
        sqEntries: state.sqEntries,
        cqEntries: state.cqEntries,
        capacity: state.capacity,
        features: state.features,
        inFlight: () => state.inFlight,
        queued: () => state.queuedCount,
        stats: () => ({ ...state.stats }),
      }
      Rings.remember(ring, state)
      return ring
    }),
  )
}

/**
 * Writes `bytes` at `offsetBytes` (WRITE, or WRITE_FIXED when the memory is registered). Returns
 * the bytes written, which may be fewer than asked; a negative CQE result fails with its errno.
 *
 * @since 0.1.0
 * @category operations
 */
export const write = (
  ring: Ring,
  fd: number,
  bytes: Uint8Array,
  offsetBytes: number,
  options?: WriteOptions,
): Effect.Effect<number, IoError.IoError> => {
  const { where, build, decode } = Request.describeWrite(fd, bytes, offsetBytes, options)
  return Request.run(() => internalOf(ring), options, where, build, Request.resultOf(decode))
}

/**
 * Reads into `into` from `offsetBytes` (READ, or READ_FIXED when the memory is registered).
 * Returns the bytes read (0 at end of file).
 *
 * @since 0.1.0
 * @category operations
 */
export const read = (
  ring: Ring,
  fd: number,
  into: Uint8Array,
  offsetBytes: number,
  options?: OpOptions,
): Effect.Effect<number, IoError.IoError> => {
  const { where, build, decode } = Request.describeRead(fd, into, offsetBytes, options)
  return Request.run(() => internalOf(ring), options, where, build, Request.resultOf(decode))
}

/**
 * fdatasync (default) or fsync through the ring.
 *
 * @since 0.1.0
 * @category operations
 */
export const fsync = (ring: Ring, fd: number, options?: FsyncOptions): Effect.Effect<void, IoError.IoError> => {
  const where = Request.whereOf(fd, options)
  const flags = options?.datasync === false ? 0 : Abi.IORING_FSYNC_DATASYNC
  return Request.run(
    () => internalOf(ring),
    options,
    where,
    () => Request.fsyncOp(fd, flags, options, where),
    Request.resultVoid(where),
  )
}

/**
 * A WRITE linked to an FSYNC (DATASYNC unless `datasync: false`) in one submission: the fsync
 * starts only after the write completed in full. A failed write fails with the write's errno; a
 * failed fsync with the fsync's; a short write returns `{ synced: false }`.
 *
 * @since 0.1.0
 * @category operations
 */
export const writeThenFsync = (
  ring: Ring,
  fd: number,
  bytes: Uint8Array,
  offsetBytes: number,
  options?: FsyncOptions,
): Effect.Effect<WriteThenFsyncResult, IoError.IoError> => {
  const { where, build, decode } = Request.describeWriteThenFsync(fd, bytes, offsetBytes, options)
  return Request.run(() => internalOf(ring), options, where, build, Request.resultOf(decode))
}

/**
 * A no-op through the ring (round trip of one SQE and one CQE).
 *
 * @since 0.1.0
 * @category operations
 */
export const nop = (ring: Ring): Effect.Effect<void, IoError.IoError> =>
  Request.run(
    () => internalOf(ring),
    undefined,
    "nop",
    () => Internal.makeOp({ opcode: Abi.IORING_OP_NOP }),
    Request.resultVoid("", "io_uring:NOP"),
  )

/**
 * Registers `buffers` (from `AlignedMemory.allocate`) as fixed buffers of the ring until the Scope
 * closes; reads and writes within them then use READ_FIXED / WRITE_FIXED. Call it after the
 * buffers were allocated, in an inner Scope, so the registration is released (after waiting for
 * the fixed operations on these buffers in flight) before the buffers are freed. Several
 * registrations may share one ring (up to `REGISTERED_BUFFERS_MAX` buffers; Linux 5.19+, one at a
 * time on older kernels). Fails `Busy` when the table is full (or, before 5.19, taken), and with
 * the kernel's errno when it refuses to pin the memory (`ENOMEM`: RLIMIT_MEMLOCK); nothing is
 * registered then.
 *
 * @since 0.1.0
 * @category resources
 */
export const registerBuffers = (
  ring: Ring,
  buffers: ReadonlyArray<AlignedBuffer>,
): Effect.Effect<void, IoError.IoError, Scope.Scope> => Request.registerBuffers(internalOf(ring), buffers)

/**
 * True while `ring` has buffers registered.
 *
 * @since 0.1.0
 * @category utils
 */
export const hasRegisteredBuffers = (ring: Ring): boolean => internalOf(ring).hasRegisteredBuffers

/**
 * Whether io_uring can be used here, and why not.
 *
 * @since 0.1.0
 * @category models
 */
export type Availability = Probe.Availability

/**
 * Probes io_uring by setting up (and closing) a tiny ring and asking it which opcodes it
 * supports. Never fails: an unavailable ring is reported with the errno of the failed setup.
 *
 * @since 0.1.0
 * @category constructors
 */
export const probe: Effect.Effect<Availability> = Effect.scoped(
  Effect.map(make({ entries: ENTRIES_MIN }), (ring): Availability => Probe.availabilityOf(internalOf(ring))),
).pipe(Effect.catch((error) => Effect.succeed<Availability>({ available: false, code: error.code })))

/**
 * Names of the `IORING_FEAT_*` bits set in `features`.
 *
 * @since 0.1.0
 * @category utils
 */
export const featureNames: (features: number) => ReadonlyArray<string> = Probe.featureNames
