/**
 * An open file of the Node layer: the public `Handle` plus the fd and its in-flight count.
 *
 * Why the count: an fs call runs on the threadpool and cannot be cancelled. If a fiber is
 * interrupted mid-write and its Scope closes the fd at once, the number can be reused by the next
 * `open` and the stale write lands in another file (fsys bug FS-C1 was this, with a ring cache).
 * So `close` only marks the file closing; the fd is really closed when the last in-flight call on
 * it has returned. No new call starts on a closing file (they fail `BadDescriptor`).
 *
 * State machine (`state`): "open" → "closing" (close requested, `inFlight > 0`) → "closed".
 * Invariant: `fd` is a live descriptor owned by this object exactly while `state !== "closed"`.
 *
 * @internal
 */
import * as NodeFs from "node:fs"
import { IoError } from "@fsys/native"
import type { Handle } from "../../FileIo.ts"

type CloseWaiter = (error: IoError.IoError | undefined) => void

/** @internal */
export class OpenFile implements Handle {
  readonly id: number
  readonly path: string
  readonly direct: boolean
  readonly readOnly: boolean
  readonly created: boolean
  readonly fd: number
  state: "open" | "closing" | "closed" = "open"
  /** fs calls on `fd` submitted and not yet returned. */
  inFlight = 0
  /** Who waits for the real close (explicit `close` calls and the Scope finalizer). */
  closeWaiters: Array<CloseWaiter> = []

  constructor(id: number, path: string, fd: number, direct: boolean, readOnly: boolean, created: boolean) {
    this.id = id
    this.path = path
    this.fd = fd
    this.direct = direct
    this.readOnly = readOnly
    this.created = created
  }
}

/** The layer's own handle, or `undefined` for a handle from another layer (or a forged one). */
export const fromHandle = (handle: Handle): OpenFile | undefined => (handle instanceof OpenFile ? handle : undefined)

export const badDescriptor = (handle: Handle, syscall: string): IoError.IoError =>
  IoError.fromErrno("EBADF", syscall, handle.path)

/** Marks the start of a call on `file.fd`; false (and nothing changed) when the file is not open. */
export const pin = (file: OpenFile): boolean => {
  if (file.state !== "open") return false
  file.inFlight++
  return true
}

/** Marks the end of a call started with `pin`; performs a deferred close when it was the last. */
export const unpin = (file: OpenFile): void => {
  file.inFlight--
  if (file.state === "closing" && file.inFlight === 0) closeNow(file)
}

const closeNow = (file: OpenFile): void => {
  NodeFs.close(file.fd, (error) => {
    // Bookkeeping first, then wake the waiters (they may resume fibers synchronously).
    file.state = "closed"
    const failure = error === null ? undefined : IoError.fromNodeError(error, "close", file.path)
    const waiters = file.closeWaiters
    file.closeWaiters = []
    for (const waiter of waiters) waiter(failure)
  })
}

/**
 * Requests the close and calls `onClosed` once the fd is really closed. Idempotent: callers that
 * wait for the one `close(2)` are told its outcome; callers after it succeed at once.
 */
export const requestClose = (file: OpenFile, onClosed: CloseWaiter): void => {
  if (file.state === "closed") {
    onClosed(undefined)
    return
  }
  file.closeWaiters.push(onClosed)
  if (file.state === "open") {
    file.state = "closing"
    if (file.inFlight === 0) closeNow(file)
  }
}
