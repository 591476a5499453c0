/**
 * The FileIo contract over ring operations: whole writes (short writes continued), reads until
 * full or end of file, syncs, and the linked write→datasync.
 *
 * Every ring operation pins the Node layer's handle (so its fd cannot be closed) and unpins it
 * from the ring's `onSettled`, which runs when the CQE is reaped even if the fiber awaiting it was
 * interrupted, or from `onFile`'s exit handler when the ring never saw the operation. The loops are
 * the shared ones of `../positional.ts` (one cap, one EINTR rule).
 *
 * @internal
 */
import { Effect } from "effect"
import { InFlight, IoError, IoUring, IoUringCallback } from "@fsys/native"
import type { Handle } from "../../FileIo.ts"
import { badDescriptor, fromHandle, type OpenFile, pin, unpin } from "../nodeFileIo/openFile.ts"
import * as CallbackIo from "../callbackIo.ts"
import * as Positional from "../positional.ts"

const isByteOffset = (value: number): boolean => Number.isSafeInteger(value) && value >= 0

/**
 * A buffered READ or WRITE at least this long goes to the kernel's worker thread (IOSQE_ASYNC)
 * instead of being tried inline in `io_uring_enter`, where a page-cache hit is copied on the
 * calling thread: `scripts/enter-cost.ts` measured a 4 MiB read at 0.5 ms inside the enter (a
 * scan's every chunk), and on XFS, which takes buffered writes without blocking, a 4 MiB write
 * at 0.5 ms (8 ms at worst); offloaded, both 0.01–0.02 ms. (ext4 punts buffered writes to the
 * worker on its own.) Below the bound the copy costs little next to the worker's wake-up: a
 * 64 × 100 B round's write stays inline. O_DIRECT IO never needs it: its enter only queues bios.
 */
export const OFFLOAD_MIN_BYTES = 256 * 1024

const offloaded = (handle: Handle, byteLength: number): boolean => !handle.direct && byteLength >= OFFLOAD_MIN_BYTES

/** What a ring operation is started with: the unpinning `onSettled` and a `hold` that tells who owns it. */
interface Settle {
  readonly onSettled: () => void
  readonly hold: InFlight.InFlight
}

/**
 * Runs one ring operation on `handle`'s fd with the file pinned open until the ring settles it.
 *
 * The ring calls `onSettled` only for an operation it accepted (or refused), and it accepts the
 * operation only when the returned Effect reaches its callback. An interrupt at the scheduler
 * yield between the pin and that callback used to leak the pin, and the file's close then waited
 * forever for `inFlight` to reach 0 (issue 10 item 10). So the pin and the exit handler that
 * settles an operation the ring never saw are installed in one uninterruptible step. The ring
 * retains `hold` from accepting the operation until its CQE (or until it drops it while still
 * queued), so "not settled and `hold` idle" at exit means the ring never took it.
 */
const onFile = <A>(
  handle: Handle,
  syscall: string,
  use: (file: OpenFile, settle: Settle) => Effect.Effect<A, IoError.IoError>,
): Effect.Effect<A, IoError.IoError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const file = fromHandle(handle)
      if (file === undefined || !pin(file)) return Effect.fail(badDescriptor(handle, syscall))
      let settled = false
      const settle: Settle = {
        onSettled: () => {
          if (settled) return
          settled = true
          unpin(file)
        },
        hold: InFlight.make(),
      }
      return Effect.onExit(restore(use(file, settle)), () =>
        settled || settle.hold.count > 0 ? Effect.void : Effect.sync(settle.onSettled),
      )
    }),
  )

/**
 * `writeAt`: all of `bytes` at `offsetBytes`, continuing short writes; no progress is `ShortWrite`.
 * With `dsync` (`writeAtDsync`) every WRITE carries RWF_DSYNC, so each part, a short write's
 * continuation included, is durable when it completes.
 */
export const writeAll = (
  ring: IoUring.Ring,
  handle: Handle,
  bytes: Uint8Array,
  offsetBytes: number,
  dsync = false,
): Effect.Effect<void, IoError.IoError> => {
  if (!isByteOffset(offsetBytes)) return Effect.fail(IoError.fromErrno("EINVAL", "io_uring:WRITE", handle.path))
  const call: Positional.Call = (chunk, chunkOffsetBytes) =>
    onFile(handle, "io_uring:WRITE", (file, settle) =>
      IoUring.write(ring, file.fd, chunk, chunkOffsetBytes, {
        path: file.path,
        offload: offloaded(handle, chunk.byteLength),
        dsync,
        ...settle,
      }),
    )
  return Positional.writeAll({ syscall: "io_uring:WRITE", path: handle.path, offsetBytes, call }, bytes)
}

/** `datasync` (`datasync: true`) or `sync` through the ring. */
export const fsync = (ring: IoUring.Ring, handle: Handle, datasync: boolean): Effect.Effect<void, IoError.IoError> =>
  Positional.retryingInterrupted(
    onFile(handle, "io_uring:FSYNC", (file, settle) =>
      IoUring.fsync(ring, file.fd, { datasync, path: file.path, ...settle }),
    ),
  )

/**
 * `writeAtThenDatasync`: one linked WRITE→FSYNC(DATASYNC) submission. A short write breaks the
 * link (the kernel cancels the sync), and so does a partial submission that took only the WRITE
 * (the ring then never submits the FSYNC on its own): the rest is written and synced separately.
 */
export const writeAllThenDatasync = (
  ring: IoUring.Ring,
  handle: Handle,
  bytes: Uint8Array,
  offsetBytes: number,
): Effect.Effect<void, IoError.IoError> => {
  if (!isByteOffset(offsetBytes)) return Effect.fail(IoError.fromErrno("EINVAL", "io_uring:WRITE", handle.path))
  if (bytes.byteLength === 0 || bytes.byteLength > Positional.BYTES_PER_CALL_MAX) {
    return Effect.andThen(writeAll(ring, handle, bytes, offsetBytes), fsync(ring, handle, true))
  }
  return Effect.flatMap(
    onFile(handle, "io_uring:WRITE", (file, settle) =>
      IoUring.writeThenFsync(ring, file.fd, bytes, offsetBytes, {
        path: file.path,
        offload: offloaded(handle, bytes.byteLength),
        ...settle,
      }),
    ),
    (result) => {
      if (result.synced) return Effect.void
      if (result.writtenBytes === bytes.byteLength) return fsync(ring, handle, true)
      if (result.writtenBytes <= 0) return Effect.fail(IoError.fromErrno("ESHORT", "io_uring:WRITE", handle.path))
      return Effect.andThen(
        writeAll(ring, handle, bytes.subarray(result.writtenBytes), offsetBytes + result.writtenBytes),
        fsync(ring, handle, true),
      )
    },
  )
}

/**
 * `writeAll` (or, with `datasync`, `writeAllThenDatasync`) in callback form, for the log buffer's
 * writer (`../callbackIo.ts`): one ring submission, entered at once, with a plain completion callback, no fiber. The
 * handle is pinned from the submission to the CQE (`onSettled`), as `onFile` does. Everything but
 * a clean, whole result — an EINTR, a short write, a link split by a partial submission, a write
 * too large for one call — is finished by the Effect operation above, so those rules live in one
 * place; a plain error is reported as is.
 */
export const writeNow = (
  ring: IoUring.Ring,
  handle: Handle,
  bytes: Uint8Array,
  offsetBytes: number,
  sync: CallbackIo.WriteSync,
  done: (failure: IoError.IoError | undefined) => void,
): void => {
  const lengthBytes = bytes.byteLength
  const dsync = sync === "dsync"
  const rest = (writtenBytes: number): void => {
    const tail =
      writtenBytes >= lengthBytes
        ? Effect.void
        : writeAll(ring, handle, bytes.subarray(writtenBytes), offsetBytes + writtenBytes, dsync)
    CallbackIo.runToDone(
      sync === "datasync" ? Effect.andThen(tail, fsync(ring, handle, true)) : tail,
      handle.path,
      done,
    )
  }
  if (!isByteOffset(offsetBytes) || lengthBytes === 0 || lengthBytes > Positional.BYTES_PER_CALL_MAX) {
    rest(0)
    return
  }
  const file = fromHandle(handle)
  if (file === undefined || !pin(file)) {
    done(badDescriptor(handle, "io_uring:WRITE"))
    return
  }
  let settled = false
  const options = {
    path: file.path,
    offload: offloaded(handle, lengthBytes),
    onSettled: () => {
      if (settled) return
      settled = true
      unpin(file)
    },
  }
  const onFailure = (error: IoError.IoError): void => {
    if (error.code === "EINTR") rest(0)
    else done(error)
  }
  const onSuccess = (writtenBytes: number, complete: boolean): void => {
    if (complete) done(undefined)
    else if (writtenBytes <= 0) done(IoError.fromErrno("ESHORT", "io_uring:WRITE", handle.path))
    else rest(writtenBytes)
  }
  if (sync === "datasync") {
    IoUringCallback.startWriteThenFsync(ring, file.fd, bytes, offsetBytes, options, (outcome) => {
      if (outcome instanceof IoError.IoError) onFailure(outcome)
      else onSuccess(outcome.writtenBytes, outcome.synced)
    })
  } else {
    IoUringCallback.startWrite(ring, file.fd, bytes, offsetBytes, { ...options, dsync }, (outcome) => {
      if (outcome instanceof IoError.IoError) onFailure(outcome)
      else onSuccess(outcome, outcome === lengthBytes)
    })
  }
  // Submitted at once, not at the ring's flush: the writer starts a job inside the completion of
  // the one before it, and the waiters that completion wakes (an appender copying its next
  // record) must not run before the write is in the kernel (docs/ARCHITECTURE.md, "The two
  // slots as a pipeline").
  IoUringCallback.submitNow(ring)
}

/**
 * `readAt`: fills `into` from `offsetBytes` until full or end of file; returns the count. On a
 * Direct handle the first short read ends the loop (see `../positional.ts`).
 */
export const readFull = (
  ring: IoUring.Ring,
  handle: Handle,
  into: Uint8Array,
  offsetBytes: number,
): Effect.Effect<number, IoError.IoError> => {
  if (!isByteOffset(offsetBytes)) return Effect.fail(IoError.fromErrno("EINVAL", "io_uring:READ", handle.path))
  const call: Positional.Call = (chunk, chunkOffsetBytes) =>
    onFile(handle, "io_uring:READ", (file, settle) =>
      IoUring.read(ring, file.fd, chunk, chunkOffsetBytes, {
        path: file.path,
        offload: offloaded(handle, chunk.byteLength),
        ...settle,
      }),
    )
  return Positional.readFull(
    { syscall: "io_uring:READ", path: handle.path, offsetBytes, call, shortMeansEnd: handle.direct },
    into,
  )
}
