/**
 * Reading what the media holds, for recovery.
 *
 * After a failed writeback Linux marks the pages clean: a buffered read keeps returning bytes that
 * never reached the device, in this process and in any other (the page cache is the kernel's),
 * and the next fdatasync succeeds because nothing is dirty (PostgreSQL's "fsyncgate", 2018). A
 * recovery scan through the page cache would then resume past a hole on the media and acknowledge
 * new records behind it. So recovery reads through an O_DIRECT handle where the filesystem
 * accepts one: a Direct read first writes back dirty pages of its range (a killed writer's bytes
 * are then on the device) and then reads the device, never a clean cached page. Reads are done in
 * aligned pieces through one aligned bounce buffer, so callers read any offset and length.
 *
 * Unreadable sectors (EIO: latent sector errors, a physical sector torn inside the device) are
 * located to one alignment unit and reported as the end of what can be read, with the offset, so
 * recovery can refuse with a typed reason or, when asked, keep the prefix before them.
 *
 * @internal
 */
import { Effect, type Scope } from "effect"
import type { AlignedBuffer, IoError } from "@fsys/native"
import type { FileIoService, Handle } from "../../FileIo.ts"

/**
 * Bytes per aligned read: the bounce buffer's size, and so the memory a media scan adds. One scan
 * chunk (`Cursor.CHUNK_BYTES`): the scan asks for 4 MiB at a time, and one 4 MiB O_DIRECT read
 * beat four 1 MiB ones in series (`scripts/scan-bench.ts`, Journal.open over 256 MiB of 4 KiB
 * records, three alternations: 611/831/622 against 562/463/440 MB/s).
 */
export const BOUNCE_BYTES = 4 * 1024 * 1024

const isReadError = (error: IoError.IoError): boolean => error.code === "EIO" || error.code === "EBADMSG"

export interface MediaReader {
  /** Through O_DIRECT (the device) or, where the filesystem refuses it, the page cache. */
  readonly direct: boolean
  /** Fills `into` from `offsetBytes` until full, EOF or the first unreadable unit; the count. */
  readonly readAt: (into: Uint8Array, offsetBytes: number) => Effect.Effect<number, IoError.IoError>
  /** The offset of the first unreadable unit any read met, if any. */
  readonly unreadableAt: () => number | undefined
  /** Read errors met (the first one), to name the cause in a typed error. */
  readonly firstError: () => IoError.IoError | undefined
}

/**
 * A reader over `direct` (an O_DIRECT handle, with the alignment its layer reported) or, when
 * `direct` is undefined, over the buffered `buffered` handle.
 */
export const make = (
  fileIo: FileIoService,
  fileSizeBytes: number,
  buffered: Handle,
  direct: { readonly handle: Handle; readonly alignmentBytes: number } | undefined,
): Effect.Effect<MediaReader, IoError.IoError, Scope.Scope> =>
  Effect.gen(function* () {
    let unreadable: number | undefined
    let firstError: IoError.IoError | undefined
    const unitBytes = direct?.alignmentBytes ?? 512
    // Sized to the file when that is smaller (most recoveries): reads go in pieces either way.
    const bounceBytes = Math.min(BOUNCE_BYTES, roundUp(fileSizeBytes + 1, unitBytes))
    const bounce: AlignedBuffer | undefined =
      direct === undefined ? undefined : yield* fileIo.allocateAligned(bounceBytes, direct.alignmentBytes)
    // One read into `target` (aligned when Direct); uninterruptible, so that an interrupted
    // recovery never frees `bounce` under it (docs/CRASH-SAFETY.md, "Recovery's reads").
    const readRaw = (target: Uint8Array, offsetBytes: number): Effect.Effect<number, IoError.IoError> =>
      Effect.uninterruptible(fileIo.readAt(direct?.handle ?? buffered, target, offsetBytes))

    /** After an EIO on a piece: the count readable from its start, unit by unit. */
    const locate = Effect.fnUntraced(function* (target: Uint8Array, offsetBytes: number) {
      for (let done = 0; done < target.length; done += unitBytes) {
        const unit = target.subarray(done, Math.min(done + unitBytes, target.length))
        const read = yield* Effect.result(readRaw(unit, offsetBytes + done))
        if (read._tag === "Failure") {
          if (!isReadError(read.failure)) return yield* Effect.fail(read.failure)
          firstError ??= read.failure
          const at = offsetBytes + done
          if (unreadable === undefined || at < unreadable) unreadable = at
          return done
        }
        if (read.success < unit.length) return done + read.success
      }
      return target.length
    })

    /** A piece within one bounce buffer (or the caller's buffer when buffered). */
    const readPiece = Effect.fnUntraced(function* (target: Uint8Array, offsetBytes: number) {
      const read = yield* Effect.result(readRaw(target, offsetBytes))
      if (read._tag === "Success") return read.success
      if (!isReadError(read.failure)) return yield* Effect.fail(read.failure)
      return yield* locate(target, offsetBytes)
    })

    const readAt = Effect.fnUntraced(function* (into: Uint8Array, offsetBytes: number) {
      if (unreadable !== undefined && offsetBytes >= unreadable) return 0
      const limit = unreadable === undefined ? into.length : Math.min(into.length, unreadable - offsetBytes)
      if (bounce === undefined) return yield* readPiece(into.subarray(0, limit), offsetBytes)
      let filled = 0
      while (filled < limit) {
        const at = offsetBytes + filled
        const alignedStart = at - (at % unitBytes)
        const skip = at - alignedStart
        const want = Math.min(bounce.byteLength, roundUp(skip + (limit - filled), unitBytes))
        const got = yield* readPiece(bounce.bytes.subarray(0, want), alignedStart)
        const useful = Math.max(0, Math.min(got - skip, limit - filled))
        into.set(bounce.bytes.subarray(skip, skip + useful), filled)
        filled += useful
        if (got < want) break
      }
      return filled
    })

    return {
      direct: direct !== undefined,
      readAt,
      unreadableAt: () => unreadable,
      firstError: () => firstError,
    }
  })

const roundUp = (value: number, unit: number): number => Math.ceil(value / unit) * unit

/**
 * The service the scan driver reads through: `fileIo` with `readAt` served by `reader` (the
 * handle argument is ignored: the reader has its own).
 */
export const asFileIo = (fileIo: FileIoService, reader: MediaReader): FileIoService => ({
  ...fileIo,
  readAt: (_handle, into, offsetBytes) => reader.readAt(into, offsetBytes),
})
