/**
 * Callback-form writes a FileIo layer may offer beside its Effect operations, for the log
 * buffer's writer (`logBuffer/writer.ts`): a group-commit round then runs from the seal to the
 * waiters' wake without a fiber, which costs less than the round's own bookkeeping (issue 12).
 *
 * `IoUringFileIo` registers one linked ring submission (`ioUring/ops.ts`), the Node layer a
 * threadpool `fs.write` + `fs.fdatasync` on aligned memory (`nodeFileIo/writeNow.ts`); the simulated disk
 * registers none, so its jobs run their Effects.
 *
 * Not part of the `FileIoService` interface: a layer registers them for its service object, and
 * the writer looks them up by that exact object. A service that wraps another (a test double, a
 * caller's interceptor, anything built with `{ ...service }`) is a different object and finds
 * nothing, so its own `writeAt` and `writeAtThenDatasync` are always the ones that run.
 *
 * Contract: the same as the Effect operation it stands for (`writeAt`, `writeAtThenDatasync` or
 * `writeAtDsync`, by `WriteSync`), reported once through `done` (`undefined` = success), possibly before the
 * call returns; nothing can interrupt it, and the layer keeps the handle open and the bytes
 * referenced until the kernel is done with them.
 *
 * @internal
 */
import { Cause, Effect, Exit, Option } from "effect"
import { IoError } from "@fsys/native"
import type { FileIoService, Handle } from "../FileIo.ts"

/** How a callback-form write reports, exactly once. */
export type WriteDone = (failure: IoError.IoError | undefined) => void

/**
 * What a callback-form write makes durable: nothing (`"none"`, `writeAt`), everything written
 * before it too (`"datasync"`, `writeAtThenDatasync`), or its own bytes only (`"dsync"`,
 * `writeAtDsync`: only where the layer has it, `CallbackIo.dsync`).
 */
export type WriteSync = "none" | "datasync" | "dsync"

export interface CallbackIo {
  /** Whether `write` takes `"dsync"` (the layer's service then has `writeAtDsync`). */
  readonly dsync: boolean
  readonly write: (handle: Handle, bytes: Uint8Array, offsetBytes: number, sync: WriteSync, done: WriteDone) => void
}

const registry = new WeakMap<FileIoService, CallbackIo>()

/** Called by a layer once, for the service object it returns. */
export const register = <S extends FileIoService>(service: S, io: CallbackIo): S => {
  registry.set(service, io)
  return service
}

/** The callback-form writes of exactly this service object, if its layer registered any. */
export const lookup = (service: FileIoService): CallbackIo | undefined => registry.get(service)

/**
 * Runs a layer's Effect operation for a callback-form write that it hands over (the rare cases:
 * a short write, EINTR, memory or sizes the fast path does not take) and reports its outcome
 * through `done`; a defect is reported as an `Unknown` IoError, never lost. `after` runs first
 * (the layer releases what it held for the fast path).
 */
export const runToDone = (
  effect: Effect.Effect<void, IoError.IoError>,
  path: string,
  done: WriteDone,
  after?: () => void,
): void => {
  Effect.runCallback(effect, {
    onExit: (exit) => {
      after?.()
      if (Exit.isSuccess(exit)) return done(undefined)
      const error = Cause.findErrorOption(exit.cause)
      done(
        Option.isSome(error)
          ? error.value
          : new IoError.IoError({
              reason: "Unknown",
              syscall: "write",
              code: "EUNKNOWN",
              path,
              cause: Cause.squash(exit.cause),
            }),
      )
    },
  })
}
