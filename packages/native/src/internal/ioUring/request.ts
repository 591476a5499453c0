/**
 * The Effect edge of the ring: a caller's request validated into an `Op` (bad input is a typed
 * `IoError` and never reaches the kernel), started on the ring, and its CQE results turned back
 * into a value or an `IoError`. Kept apart from `IoUring`, whose operations are then one call
 * each, and from `ring.ts`, which stays plain synchronous code without Effects.
 *
 * @internal
 */
import { Effect } from "effect"
import type * as Scope from "effect/Scope"
import * as InFlight from "../../InFlight.ts"
import * as IoError from "../../IoError.ts"
import { native, nativeUnsafe } from "../libc/bindings.ts"
import { IO_BYTES_MAX } from "../libc/constants.ts"
import * as Memory from "../memory.ts"
import * as Abi from "./abi.ts"
import { settled } from "./holds.ts"
import { makeOp, type Op } from "./op.ts"
import { Ring } from "./ring.ts"
import type { FlushTiming, Seams } from "./ringOptions.ts"

/**
 * What the ring needs of the caller's options: the hook called once it is done with the op, and
 * the caller's hold, retained from acceptance until the op settles.
 */
export interface Settling {
  readonly onSettled?: () => void
  readonly hold?: InFlight.InFlight
  /** IOSQE_ASYNC on a data op: the kernel runs it in its worker thread, not inline in the enter. */
  readonly offload?: boolean
}

const TAG_PREFIX = "io_uring:"

/** How errors name an op: `io_uring:` and the opcode actually submitted (e.g. WRITE_FIXED). */
export const syscallOf = (op: Op): string =>
  TAG_PREFIX + (Abi.opcodeNames[op.submittedOpcode] ?? `OP${op.submittedOpcode}`)

/** How errors name the file: the caller's path when it gave one. */
export const whereOf = (fd: number, options: { readonly path?: string } | undefined): string =>
  options?.path ?? `fd ${fd}`

/** Sets up a ring once libc is loaded; a failure is always an `IoError` (never a defect). */
export const createRing = (
  entries: number,
  seams: Seams | undefined,
  flushTiming?: FlushTiming,
): Effect.Effect<Ring, IoError.IoError> =>
  Effect.flatMap(native, () =>
    Effect.try({
      try: () => Ring.create(entries, seams, flushTiming),
      catch: (error) =>
        error instanceof IoError.IoError
          ? error
          : IoError.make({
              errno: "EIO",
              syscall: "io_uring_setup",
              description: `${entries} entries`,
              cause: error,
            }),
    }),
  )

/** Closes a ring: waits until every in-flight op was reaped (after cancelling them), then unmaps. */
export const closeRing = (state: Ring): Effect.Effect<void> =>
  Effect.flatMap(
    Effect.callback<void>((resume) => {
      state.beginClose(() => resume(Effect.void))
    }),
    () => Effect.sync(() => state.destroy()),
  )

/**
 * Builds the op and offers it to the ring: `complete` is called from its CQE; `refused` (after
 * `onSettled`) when the input is invalid or the ring refuses it. Returns the op the ring took,
 * or `undefined`. Shared by the Effect form (`run`) and the callback form (`start`).
 */
const begin = (
  state: Ring,
  options: Settling | undefined,
  where: string,
  build: () => Op | IoError.IoError,
  complete: (op: Op) => void,
  refused: (error: IoError.IoError) => void,
): Op | undefined => {
  const op = build()
  if (op instanceof IoError.IoError) {
    options?.onSettled?.()
    refused(op)
    return undefined
  }
  op.complete = complete
  const errno = state.start(op)
  if (errno === 0) return op
  op.complete = undefined
  settled(op)
  refused(IoError.fromErrno(errno, syscallOf(op), where))
  return undefined
}

/**
 * Builds the op when the Effect runs (so an Effect can be retried or run twice), starts it on
 * the ring `stateOf()` returns and resumes with `onDone(op)` from its CQE. `build` returns an
 * `IoError` for invalid input. A queued op is dropped when the fiber is interrupted; a submitted
 * one stays tracked until its CQE. `onSettled` runs exactly once on every path.
 */
export const run = <A>(
  stateOf: () => Ring,
  options: Settling | undefined,
  where: string,
  build: () => Op | IoError.IoError,
  onDone: (op: Op) => Effect.Effect<A, IoError.IoError>,
): Effect.Effect<A, IoError.IoError> =>
  Effect.callback<A, IoError.IoError>((resume) => {
    const state = stateOf()
    const op = begin(
      state,
      options,
      where,
      build,
      (done) => resume(onDone(done)),
      (error) => resume(Effect.fail(error)),
    )
    if (op !== undefined && state.isQueued(op)) return Effect.sync(() => state.abandon(op))
  })

/**
 * `run` without Effect, for a hot path that cannot afford a fiber per op: builds and starts the op
 * now and calls `onDone` exactly once with `decode(op)` from its CQE, or with the typed error
 * when the input is invalid or the ring refuses the op (then before this returns). Nobody can
 * interrupt it: a queued op waits for room like any other, and `onSettled` runs exactly once on
 * every path, as with `run`.
 */
export const start = <A>(
  state: Ring,
  options: Settling | undefined,
  where: string,
  build: () => Op | IoError.IoError,
  decode: (op: Op) => A | IoError.IoError,
  onDone: (outcome: A | IoError.IoError) => void,
): void => {
  begin(state, options, where, build, (done) => onDone(decode(done)), onDone)
}

/** A descriptor the kernel could accept (non-negative, fits the SQE's signed 32-bit field). */
export const checkFd = (fd: number): boolean => Number.isSafeInteger(fd) && fd >= 0 && fd <= 0x7fffffff

/** A READ or WRITE (optionally linked to an FSYNC) as asked by a caller, before validation. */
export interface DataOpSpec {
  readonly opcode: number
  readonly fd: number
  readonly bytes: Uint8Array
  readonly offsetBytes: number
  readonly opFlags?: number
  readonly linkedFsyncFlags?: number
  readonly options: Settling | undefined
  readonly where: string
}

/** Validates a data op; returns the op or the typed error. */
export const dataOp = (spec: DataOpSpec): Op | IoError.IoError => {
  const { opcode, fd, bytes, offsetBytes, where } = spec
  const syscall = TAG_PREFIX + Abi.opcodeNames[opcode]
  if (!checkFd(fd) || !Number.isSafeInteger(offsetBytes) || offsetBytes < 0) {
    return IoError.fromErrno("EINVAL", syscall, where)
  }
  if (bytes.byteLength === 0 || bytes.byteLength > IO_BYTES_MAX) return IoError.fromErrno("EINVAL", syscall, where)
  const allocation = Memory.lookup(bytes)
  if (allocation?.freed === true) return IoError.fromErrno("EFAULT", syscall, where)
  const address = allocation !== undefined ? allocation.address + bytes.byteOffset : nativeUnsafe().addressOf(bytes)
  return makeOp({
    opcode,
    fd,
    opFlags: spec.opFlags ?? 0,
    ...(spec.linkedFsyncFlags !== undefined ? { linkedFsyncFlags: spec.linkedFsyncFlags } : {}),
    bytes,
    address,
    offsetBytes,
    allocation,
    onSettled: spec.options?.onSettled,
    hold: spec.options?.hold,
    sqeFlags: spec.options?.offload === true ? Abi.IOSQE_ASYNC : 0,
  })
}

/** A FSYNC op on `fd` with `fsyncFlags`, or the typed error for a bad descriptor. */
export const fsyncOp = (fd: number, fsyncFlags: number, options: Settling | undefined, where: string) =>
  checkFd(fd)
    ? makeOp({
        opcode: Abi.IORING_OP_FSYNC,
        fd,
        opFlags: fsyncFlags,
        onSettled: options?.onSettled,
        hold: options?.hold,
      })
    : IoError.fromErrno("EINVAL", "io_uring:FSYNC", where)

/** A READ or WRITE result: the bytes moved, or the errno of a negative CQE result. */
export const decodeBytes =
  (where: string) =>
  (op: Op): number | IoError.IoError =>
    op.result0 < 0 ? IoError.fromErrno(-op.result0, syscallOf(op), where) : op.result0

/** A decoded outcome as the Effect `run` resumes with. */
export const resultOf =
  <A>(decode: (op: Op) => A | IoError.IoError) =>
  (op: Op): Effect.Effect<A, IoError.IoError> => {
    const outcome = decode(op)
    return outcome instanceof IoError.IoError ? Effect.fail(outcome) : Effect.succeed(outcome)
  }

/** A result without a value (FSYNC, NOP): the errno of a negative CQE result, or success. */
export const resultVoid =
  (where: string, syscall?: string) =>
  (op: Op): Effect.Effect<void, IoError.IoError> =>
    op.result0 < 0 ? Effect.fail(IoError.fromErrno(-op.result0, syscall ?? syscallOf(op), where)) : Effect.void

/** The outcome of a linked WRITE + FSYNC (see `IoUring.WriteThenFsyncResult`). */
export interface WrittenThenSynced {
  readonly writtenBytes: number
  readonly synced: boolean
}

/**
 * Decodes a linked pair's two results: the write's errno first; a short write or a split pair
 * (the FSYNC was never ordered after the WRITE) is `synced: false`; then the fsync's errno.
 */
export const decodeWriteThenFsync =
  (where: string, lengthBytes: number) =>
  (op: Op): WrittenThenSynced | IoError.IoError => {
    if (op.result0 < 0) return IoError.fromErrno(-op.result0, syscallOf(op), where)
    if (op.result0 < lengthBytes || op.linkSplit) return { writtenBytes: op.result0, synced: false }
    if (op.result1 < 0) return IoError.fromErrno(-op.result1, "io_uring:FSYNC", where)
    return { writtenBytes: op.result0, synced: true }
  }

/**
 * A data request ready to start, in Effect or callback form: how errors name its file, how its op
 * is built (validated) and how its CQE is decoded.
 */
export interface Described<A> {
  readonly where: string
  readonly build: () => Op | IoError.IoError
  readonly decode: (op: Op) => A | IoError.IoError
}

/** A WRITE (RWF_DSYNC with `dsync`) of `bytes` at `offsetBytes`: the bytes written. */
export const describeWrite = (
  fd: number,
  bytes: Uint8Array,
  offsetBytes: number,
  options: (Settling & { readonly path?: string; readonly dsync?: boolean }) | undefined,
): Described<number> => {
  const where = whereOf(fd, options)
  const opFlags = options?.dsync === true ? Abi.RWF_DSYNC : 0
  return {
    where,
    build: () => dataOp({ opcode: Abi.IORING_OP_WRITE, fd, bytes, offsetBytes, opFlags, options, where }),
    decode: decodeBytes(where),
  }
}

/** A READ into `into` from `offsetBytes`: the bytes read (0 at end of file). */
export const describeRead = (
  fd: number,
  into: Uint8Array,
  offsetBytes: number,
  options: (Settling & { readonly path?: string }) | undefined,
): Described<number> => {
  const where = whereOf(fd, options)
  return {
    where,
    build: () => dataOp({ opcode: Abi.IORING_OP_READ, fd, bytes: into, offsetBytes, options, where }),
    decode: decodeBytes(where),
  }
}

/** A WRITE linked to an FSYNC (DATASYNC unless `datasync: false`). */
export const describeWriteThenFsync = (
  fd: number,
  bytes: Uint8Array,
  offsetBytes: number,
  options: (Settling & { readonly path?: string; readonly datasync?: boolean }) | undefined,
): Described<WrittenThenSynced> => {
  const where = whereOf(fd, options)
  const linkedFsyncFlags = options?.datasync === false ? 0 : Abi.IORING_FSYNC_DATASYNC
  return {
    where,
    build: () => dataOp({ opcode: Abi.IORING_OP_WRITE, fd, bytes, offsetBytes, linkedFsyncFlags, options, where }),
    decode: decodeWriteThenFsync(where, bytes.byteLength),
  }
}

/** The allocations behind buffers to register: each must be a whole, live `AlignedMemory` buffer. */
export const allocationsOf = (
  buffers: ReadonlyArray<{ readonly bytes: Uint8Array }>,
): Array<Memory.Allocation> | IoError.IoError => {
  const allocations: Array<Memory.Allocation> = []
  for (const buffer of buffers) {
    const allocation = Memory.lookup(buffer.bytes)
    if (allocation === undefined || allocation.freed || buffer.bytes.byteOffset !== 0) {
      return IoError.fromErrno("EINVAL", "io_uring_register", "", "buffer not from AlignedMemory.allocate")
    }
    allocations.push(allocation)
  }
  return allocations
}

/**
 * Registers `buffers` as one group of `ring`'s fixed buffers until the Scope closes (see
 * `IoUring.registerBuffers`). The release retires the group first, so no new op is promoted to
 * it, and unregisters only once its fixed ops in flight have completed.
 */
export const registerBuffers = (
  ring: Ring,
  buffers: ReadonlyArray<{ readonly bytes: Uint8Array }>,
): Effect.Effect<void, IoError.IoError, Scope.Scope> =>
  Effect.suspend(() => {
    const allocations = allocationsOf(buffers)
    if (allocations instanceof IoError.IoError) return Effect.fail(allocations)
    return Effect.asVoid(
      Effect.acquireRelease(
        Effect.suspend(() => {
          const group = ring.registerBuffers(allocations)
          return typeof group !== "number"
            ? Effect.succeed(group)
            : Effect.fail(IoError.fromErrno(group, "io_uring_register", "", `${allocations.length} buffers`))
        }),
        (group) =>
          Effect.suspend(() => {
            ring.retireBuffers(group)
            return Effect.flatMap(InFlight.awaitIdle(group.fixedInFlight), () =>
              Effect.sync(() => {
                ring.unregisterBuffers(group)
              }),
            )
          }),
      ),
    )
  })
