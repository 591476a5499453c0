/**
 * The loops of positional IO over `node:fs` callbacks: write everything, read until full or EOF.
 *
 * They run in callback land (one `Effect.callback` per operation, not one per syscall), because
 * each `fs.write` already costs a threadpool round trip and the Effect boundary belongs around
 * the whole operation. Every loop is bounded: each step moves at least one byte or stops.
 *
 * @internal
 */
import * as NodeFs from "node:fs"
import { IoError } from "@fsys/native"

/** Largest length handed to one `pwrite`/`pread`; Linux caps a call at 0x7ffff000 bytes anyway. */
export const MAX_BYTES_PER_CALL = 2 ** 30

export type Done<A> = (error: IoError.IoError | undefined, value: A) => void

/** Writes all of `bytes` at `offsetBytes`, continuing short writes; a 0-byte write is `ShortWrite`. */
export const writeAll = (fd: number, path: string, bytes: Uint8Array, offsetBytes: number, done: Done<void>): void => {
  const step = (writtenBytes: number): void => {
    if (writtenBytes === bytes.length) {
      done(undefined, undefined)
      return
    }
    const lengthBytes = Math.min(bytes.length - writtenBytes, MAX_BYTES_PER_CALL)
    NodeFs.write(fd, bytes, writtenBytes, lengthBytes, offsetBytes + writtenBytes, (error, count) => {
      if (error !== null) return done(IoError.fromNodeError(error, "pwrite", path), undefined)
      // No progress would loop forever (full device that does not report ENOSPC, a broken FUSE
      // filesystem): report it instead.
      if (count <= 0) return done(IoError.fromErrno("ESHORT", "pwrite", path), undefined)
      step(writtenBytes + count)
    })
  }
  step(0)
}

/**
 * Reads into `into` from `offsetBytes` until it is full or the file ends; the count read.
 *
 * With `shortMeansEnd` (O_DIRECT handles) the first short read ends the loop: a Direct read is
 * only short at end of file, and retrying at the unaligned offset after it would fail `EINVAL`.
 */
export const readFull = (
  fd: number,
  path: string,
  into: Uint8Array,
  offsetBytes: number,
  shortMeansEnd: boolean,
  done: Done<number>,
): void => {
  const step = (readBytes: number): void => {
    if (readBytes === into.length) {
      done(undefined, readBytes)
      return
    }
    const lengthBytes = Math.min(into.length - readBytes, MAX_BYTES_PER_CALL)
    NodeFs.read(fd, into, readBytes, lengthBytes, offsetBytes + readBytes, (error, count) => {
      if (error !== null) return done(IoError.fromNodeError(error, "pread", path), 0)
      if (count === 0 || (shortMeansEnd && count < lengthBytes)) return done(undefined, readBytes + count)
      step(readBytes + count)
    })
  }
  step(0)
}
