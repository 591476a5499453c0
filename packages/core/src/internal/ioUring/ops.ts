/**
 * The FileIo contract over ring operations: whole writes (short writes continued), reads until
 * full or end of file, syncs, and the linked write→datasync.
 *
 * Every ring operation pins the Node layer's handle (so its fd cannot be closed) and unpins it
 * from the ring's `onSettled`, which runs when the CQE is reaped even if the fiber awaiting it was
 * interrupted. The loops are the shared ones of `../positional.ts` (one cap, one EINTR rule).
 *
 * @internal
 */
import { Effect } from "effect"
import { IoError, IoUring } from "@fsys/native"
import type { Handle } from "../../FileIo.ts"
import { badDescriptor, fromHandle, type OpenFile, pin, unpin } from "../nodeFileIo/openFile.ts"
import * as Positional from "../positional.ts"

const isByteOffset = (value: number): boolean => Number.isSafeInteger(value) && value >= 0

/**
 * Runs one ring operation on `handle`'s fd with the file pinned open until the ring settles it.
 */
const onFile = <A>(
  handle: Handle,
  syscall: string,
  use: (file: OpenFile, onSettled: () => void) => Effect.Effect<A, IoError.IoError>,
): Effect.Effect<A, IoError.IoError> =>
  Effect.suspend(() => {
    const file = fromHandle(handle)
    if (file === undefined || !pin(file)) return Effect.fail(badDescriptor(handle, syscall))
    return use(file, () => unpin(file))
  })

/** `writeAt`: all of `bytes` at `offsetBytes`, continuing short writes; no progress is `ShortWrite`. */
export const writeAll = (
  ring: IoUring.Ring,
  handle: Handle,
  bytes: Uint8Array,
  offsetBytes: number,
): Effect.Effect<void, IoError.IoError> => {
  if (!isByteOffset(offsetBytes)) return Effect.fail(IoError.fromErrno("EINVAL", "io_uring:WRITE", handle.path))
  const call: Positional.Call = (chunk, chunkOffsetBytes) =>
    onFile(handle, "io_uring:WRITE", (file, onSettled) =>
      IoUring.write(ring, file.fd, chunk, chunkOffsetBytes, { path: file.path, onSettled }),
    )
  return Positional.writeAll({ syscall: "io_uring:WRITE", path: handle.path, offsetBytes, call }, bytes)
}

/** `datasync` (`datasync: true`) or `sync` through the ring. */
export const fsync = (ring: IoUring.Ring, handle: Handle, datasync: boolean): Effect.Effect<void, IoError.IoError> =>
  Positional.retryingInterrupted(
    onFile(handle, "io_uring:FSYNC", (file, onSettled) =>
      IoUring.fsync(ring, file.fd, { datasync, path: file.path, onSettled }),
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
    onFile(handle, "io_uring:WRITE", (file, onSettled) =>
      IoUring.writeThenFsync(ring, file.fd, bytes, offsetBytes, { path: file.path, onSettled }),
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
    onFile(handle, "io_uring:READ", (file, onSettled) =>
      IoUring.read(ring, file.fd, chunk, chunkOffsetBytes, { path: file.path, onSettled }),
    )
  return Positional.readFull(
    { syscall: "io_uring:READ", path: handle.path, offsetBytes, call, shortMeansEnd: handle.direct },
    into,
  )
}
