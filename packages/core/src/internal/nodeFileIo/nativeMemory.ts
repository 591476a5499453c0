/**
 * Positional IO on memory from `AlignedMemory` (Direct-IO slots), through `Libc.pwrite`/`pread`.
 *
 * Why not `fs.write` for these too: `AlignedMemory` frees its memory only after every IO that
 * retained the allocation has finished (fsys bug FS-C2), and `Libc`'s calls do that retaining;
 * `fs.write` cannot. The caller runs these uninterruptibly with the fd pinned (`onFileEffect` in
 * `make.ts`), so an interrupted fiber waits for the thread before the Scope may close the fd.
 *
 * @internal
 */
import { Effect } from "effect"
import { IoError, Libc } from "@fsys/native"

/** Writes all of `bytes`, continuing short writes; a write that makes no progress is `ShortWrite`. */
export const writeAll = (fd: number, path: string, bytes: Uint8Array, offsetBytes: number) =>
  Effect.gen(function* () {
    let writtenBytes = 0
    // Bounded: each turn writes ≥ 1 byte or fails.
    while (writtenBytes < bytes.length) {
      const lengthBytes = Math.min(bytes.length - writtenBytes, Libc.IO_BYTES_MAX)
      const chunk = bytes.subarray(writtenBytes, writtenBytes + lengthBytes)
      const count = yield* Libc.pwrite(fd, chunk, offsetBytes + writtenBytes, path)
      if (count <= 0) return yield* IoError.fromErrno("ESHORT", "pwrite", path)
      writtenBytes += count
    }
  })

/**
 * Reads until `into` is full or the file ends; with `shortMeansEnd` (O_DIRECT) the first short
 * read ends it, since a retry at the unaligned offset after it would fail `EINVAL`.
 */
export const readFull = (fd: number, path: string, into: Uint8Array, offsetBytes: number, shortMeansEnd: boolean) =>
  Effect.gen(function* () {
    let readBytes = 0
    // Bounded: each turn reads ≥ 1 byte or stops.
    while (readBytes < into.length) {
      const lengthBytes = Math.min(into.length - readBytes, Libc.IO_BYTES_MAX)
      const chunk = into.subarray(readBytes, readBytes + lengthBytes)
      const count = yield* Libc.pread(fd, chunk, offsetBytes + readBytes, path)
      readBytes += count
      if (count === 0 || (shortMeansEnd && count < lengthBytes)) break
    }
    return readBytes
  })
