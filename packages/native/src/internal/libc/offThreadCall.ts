/**
 * One koffi `.async` call as an Effect: errno read on completion, EINTR retried a bounded number
 * of times, interruption that never frees memory a thread still uses, and the argument checks the
 * positional calls share. Separate from `Libc` because it is the one tricky piece of that module
 * (the public calls are one-liners over it), and from `internal/offThread.ts`, which only bounds
 * how many calls are in flight and knows nothing about errno or Effects.
 *
 * @internal
 */
import { Effect } from "effect"
import * as InFlight from "../../InFlight.ts"
import * as IoError from "../../IoError.ts"
import * as Memory from "../memory.ts"
import * as OffThread from "../offThread.ts"
import { type Callback, type Native, native } from "./bindings.ts"
import { IO_BYTES_MAX } from "./constants.ts"

/**
 * EINTR retries of one off-thread call. A signal during a blocking write or sync (FUSE, NFS with
 * `intr`) fails the call with EINTR without doing it; the call is simply made again. `close` is
 * never retried: Linux releases the descriptor even when close reports EINTR.
 *
 * @since 0.1.0
 * @category constants
 */
export const EINTR_RETRIES_MAX = 16

const EINTR = 4

/** The Effect one finished call resumes with: a koffi failure, a negative result, or the result. */
const outcomeOf = (
  syscall: string,
  path: string,
  error: unknown,
  result: number,
  errno: number,
): Effect.Effect<number, IoError.IoError> => {
  if (error != null) return Effect.fail(IoError.fromErrno("EIO", syscall, path, error))
  if (result < 0) return Effect.fail(IoError.fromErrno(errno, syscall, path))
  return Effect.succeed(result)
}

/** The call never started: koffi kept refusing it (its own queue of async calls was full). */
const neverMade = (syscall: string, path: string, cause: unknown): IoError.IoError =>
  IoError.make({
    errno: "EAGAIN",
    syscall,
    path,
    description: "koffi's queue of asynchronous calls stayed full; the call was never made",
    cause,
  })

/**
 * Runs one `.async` call through the dispatcher (`internal/offThread.ts`: bounded in flight,
 * queued beyond). The callback reads errno synchronously (koffi restores it around the callback
 * only). Interrupting the fiber drops a call still queued; a started one runs on: `onAbandoned`
 * sees its result (to close a descriptor nobody will use), and `hold` stays retained until the
 * thread is done.
 */
export const offThreadCall = (
  syscall: string,
  path: string,
  start: (native: Native, done: Callback) => void,
  hold?: InFlight.InFlight,
  onAbandoned?: (native: Native, result: number) => void,
): Effect.Effect<number, IoError.IoError> =>
  Effect.flatMap(native, (lib) =>
    Effect.callback<number, IoError.IoError>((resume) => {
      let abandoned = false
      let interruptedCalls = 0
      let task: OffThread.Task
      if (hold !== undefined) InFlight.retain(hold)
      const settle = (exit: Effect.Effect<number, IoError.IoError>): void => {
        if (hold !== undefined) InFlight.release(hold)
        if (!abandoned) resume(exit)
      }
      const attempt = (): void => {
        task = OffThread.makeTask(
          (finished) =>
            start(lib, (error, raw) => {
              const result = Number(raw)
              const errno = result < 0 ? lib.errno() : 0
              finished()
              if (abandoned) {
                if (hold !== undefined) InFlight.release(hold)
                if (error == null && result >= 0 && onAbandoned !== undefined) onAbandoned(lib, result)
                return
              }
              if (errno === EINTR && syscall !== "close" && interruptedCalls < EINTR_RETRIES_MAX) {
                interruptedCalls += 1
                attempt()
                return
              }
              settle(outcomeOf(syscall, path, error, result, errno))
            }),
          (cause) => settle(Effect.fail(neverMade(syscall, path, cause))),
        )
        OffThread.submit(task)
      }
      attempt()
      return Effect.sync(() => {
        abandoned = true
        // Never started: nothing to wait for.
        if (OffThread.cancel(task) && hold !== undefined) InFlight.release(hold)
      })
    }),
  )

/** How errors name a descriptor: the caller's path when it gave one. */
export const describeFd = (fd: number, path: string | undefined): string => path ?? `fd ${fd}`

/** Checks a positional call's offset, length and memory; the typed error, or undefined when fine. */
export const checkRange = (
  syscall: string,
  path: string,
  bytes: Uint8Array,
  offsetBytes: number,
): IoError.IoError | undefined => {
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) return IoError.fromErrno("EINVAL", syscall, path)
  if (bytes.byteLength > IO_BYTES_MAX) return IoError.fromErrno("EINVAL", syscall, path)
  const allocation = Memory.lookup(bytes)
  if (allocation?.freed === true) return IoError.fromErrno("EFAULT", syscall, path)
  return undefined
}
