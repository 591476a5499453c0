/**
 * Callback forms of `Libc`'s `pwrite` and `fdatasync`, for a hot path that cannot afford a fiber
 * per call: the journal's writer runs its Direct rounds over pwrite through these where io_uring
 * is not available.
 *
 * Each starts its call on the libuv threadpool now (through the same bounded dispatcher as the
 * Effect forms, EINTR retried the same way) and calls `onDone` exactly once with the result or
 * the typed error; before returning only when the input is invalid or libc cannot be loaded.
 * Nothing can abandon a call: it runs to the end, and `AlignedMemory` that `bytes` views is not
 * freed before it did.
 *
 * @since 0.1.0
 */
import * as Bindings from "./internal/libc/bindings.ts"
import { checkRange, describeFd, startOffThreadCall } from "./internal/libc/offThreadCall.ts"
import * as Memory from "./internal/memory.ts"
import * as IoError from "./IoError.ts"

/**
 * How a call reports, exactly once: its non-negative result, or the typed error.
 *
 * @since 0.1.0
 * @category models
 */
export type Completion = (outcome: number | IoError.IoError) => void

/** The loaded bindings, or the IoError of a failed load (a callback form cannot fail an Effect). */
const loaded = (): Bindings.Native | IoError.IoError => {
  try {
    return Bindings.nativeUnsafe()
  } catch (error) {
    return error instanceof IoError.IoError
      ? error
      : IoError.make({ errno: "EIO", syscall: "dlopen", description: "libc", cause: error })
  }
}

/**
 * `Libc.pwrite` in callback form: the bytes written (possibly fewer than asked).
 *
 * @since 0.1.0
 * @category files
 */
export const startPwrite = (
  fd: number,
  bytes: Uint8Array,
  offsetBytes: number,
  path: string | undefined,
  onDone: Completion,
): void => {
  const where = describeFd(fd, path)
  const lib = checkRange("pwrite", where, bytes, offsetBytes) ?? loaded()
  if (lib instanceof IoError.IoError) {
    onDone(lib)
    return
  }
  startOffThreadCall(
    lib,
    "pwrite",
    where,
    (native, done) => native.pwrite.async(fd, bytes, bytes.byteLength, offsetBytes, done),
    Memory.lookup(bytes)?.inFlight,
    undefined,
    onDone,
  )
}

/**
 * `Libc.fdatasync` in callback form: 0, or the typed error.
 *
 * @since 0.1.0
 * @category files
 */
export const startFdatasync = (fd: number, path: string | undefined, onDone: Completion): void => {
  const lib = loaded()
  if (lib instanceof IoError.IoError) {
    onDone(lib)
    return
  }
  startOffThreadCall(
    lib,
    "fdatasync",
    describeFd(fd, path),
    (native, done) => native.fdatasync.async(fd, done),
    undefined,
    undefined,
    onDone,
  )
}
