/**
 * The one positional-IO loop every FileIo layer uses: write all of a buffer, read until full or
 * end of file. A layer supplies only its single call (`fs.write`, `Libc.pwrite`, a ring WRITE);
 * the loop owns the rest, so short writes, short reads, Direct end of file, EINTR and the per-call
 * cap behave the same on every backend.
 *
 * - One call moves at most `BYTES_PER_CALL_MAX` bytes (Linux caps a read or write there anyway).
 * - A write call that moves nothing is `ShortWrite` (a full device that does not say ENOSPC, a
 *   broken FUSE filesystem): never a loop without progress.
 * - A read that returns 0 is end of file; with `shortMeansEnd` (O_DIRECT handles) so is the first
 *   short read, because the next read would start at an unaligned offset and fail `EINVAL`.
 * - A call that fails `EINTR` did nothing and is made again, at most `Libc.EINTR_RETRIES_MAX`
 *   times per transfer (a signal on FUSE or NFS `intr`; io_uring reports it in the CQE).
 *
 * Bounded: every turn moves at least one byte, ends the loop, or spends one EINTR retry.
 *
 * @internal
 */
import { Effect } from "effect"
import { IoError, Libc } from "@fsys/native"

/** Largest byte count handed to one call, on every layer. */
export const BYTES_PER_CALL_MAX = Libc.IO_BYTES_MAX

/** One system call of a layer: moves up to `chunk.byteLength` bytes at `offsetBytes`, returns the count. */
export type Call = (chunk: Uint8Array, offsetBytes: number) => Effect.Effect<number, IoError.IoError>

export interface Transfer {
  /** Names the call in errors the loop makes itself (`ShortWrite`). */
  readonly syscall: string
  readonly path: string
  readonly offsetBytes: number
  readonly call: Call
}

/** Runs `effect` again while it fails `EINTR`, at most `Libc.EINTR_RETRIES_MAX` times. */
export const retryingInterrupted = <A>(
  effect: Effect.Effect<A, IoError.IoError>,
  retriesLeft: number = Libc.EINTR_RETRIES_MAX,
): Effect.Effect<A, IoError.IoError> =>
  Effect.catch(effect, (error) =>
    error.code === "EINTR" && retriesLeft > 0 ? retryingInterrupted(effect, retriesLeft - 1) : Effect.fail(error),
  )

/** Writes all of `bytes`, continuing short writes. */
export const writeAll = (transfer: Transfer, bytes: Uint8Array): Effect.Effect<void, IoError.IoError> => {
  const step = (doneBytes: number, retriesLeft: number): Effect.Effect<void, IoError.IoError> => {
    const lengthBytes = Math.min(bytes.byteLength - doneBytes, BYTES_PER_CALL_MAX)
    const chunk = bytes.subarray(doneBytes, doneBytes + lengthBytes)
    return Effect.matchEffect(transfer.call(chunk, transfer.offsetBytes + doneBytes), {
      onFailure: (error) =>
        error.code === "EINTR" && retriesLeft > 0 ? step(doneBytes, retriesLeft - 1) : Effect.fail(error),
      onSuccess: (count) => {
        if (count <= 0) return Effect.fail(IoError.fromErrno("ESHORT", transfer.syscall, transfer.path))
        const total = doneBytes + count
        return total >= bytes.byteLength ? Effect.void : step(total, retriesLeft)
      },
    })
  }
  return bytes.byteLength === 0 ? Effect.void : step(0, Libc.EINTR_RETRIES_MAX)
}

/** Reads into `into` until it is full or the file ends; returns the count read. */
export const readFull = (
  transfer: Transfer & { readonly shortMeansEnd: boolean },
  into: Uint8Array,
): Effect.Effect<number, IoError.IoError> => {
  const step = (doneBytes: number, retriesLeft: number): Effect.Effect<number, IoError.IoError> => {
    const lengthBytes = Math.min(into.byteLength - doneBytes, BYTES_PER_CALL_MAX)
    const chunk = into.subarray(doneBytes, doneBytes + lengthBytes)
    return Effect.matchEffect(transfer.call(chunk, transfer.offsetBytes + doneBytes), {
      onFailure: (error) =>
        error.code === "EINTR" && retriesLeft > 0 ? step(doneBytes, retriesLeft - 1) : Effect.fail(error),
      onSuccess: (count) => {
        const total = doneBytes + count
        if (count === 0 || total >= into.byteLength || (transfer.shortMeansEnd && count < lengthBytes)) {
          return Effect.succeed(total)
        }
        return step(total, retriesLeft)
      },
    })
  }
  return into.byteLength === 0 ? Effect.succeed(0) : step(0, Libc.EINTR_RETRIES_MAX)
}
