/**
 * Opening a journal file for appending: lock, scan, recover the tail, make the start durable,
 * and choose Direct or buffered IO.
 *
 * Recovery decisions (the file may have been left by a crash at any point):
 *
 * | what the scan finds past the clean end | what open does                                  |
 * |----------------------------------------|-------------------------------------------------|
 * | nothing (EOF)                          | resume at the clean end                         |
 * | only zeros to EOF (pad, preallocation) | keep them; resume at the clean end              |
 * | anything else (torn/corrupt/hole)      | copy `[cleanEnd, size)` to `<path>.corrupt-<cleanEnd>`, fsync it and the directory, then truncate to the clean end and fsync |
 *
 * If the sidecar cannot be written the open fails and the journal file is left untouched. Open
 * never trusts the page cache: bytes a killed process left may be only in memory, so one
 * fdatasync runs before `syncedLsn` is allowed to start at the clean end. A new file's directory
 * entry is fsynced before open returns.
 *
 * @since 0.1.0
 */
import * as NodePath from "node:path"
import { Effect, Exit, Scope } from "effect"
import type { IoError } from "@fsys/native"
import type * as FileIo from "../../FileIo.ts"
import { type InvalidOptions, JournalLocked, NotAJournal } from "../../JournalError.ts"
import type { TailState } from "../../JournalReader.ts"
import { scanHandle } from "../reader/scan.ts"
import { roundDown } from "../logBuffer/sectors.ts"
import { selectFileIo, type BackendChoice } from "./backend.ts"
import { probeSectorBytes } from "./sector.ts"

/** Bytes copied per step when saving a corrupt tail: bounds the memory recovery uses. */
const SIDECAR_CHUNK_BYTES = 1024 * 1024

export interface ResumeOptions {
  readonly mode: "direct" | "buffered"
  /** LogBufferLive is Direct by definition: fail instead of falling back to buffered. */
  readonly requireDirect: boolean
  readonly backend: BackendChoice
  readonly legacyGaps: boolean
  readonly sectorBytes?: number
}

export interface Resumed {
  readonly fileIo: FileIo.FileIoService
  /** The handle records are written through (O_DIRECT when `directActive`). */
  readonly handle: FileIo.Handle
  /** A buffered handle on the same file: holds the lock, used for reads. */
  readonly readHandle: FileIo.Handle
  readonly directActive: boolean
  /** 1 when buffered, the DIO alignment when Direct. */
  readonly sectorBytes: number
  readonly cleanEnd: number
  /** The file's size after recovery (zeros past the clean end are kept as preallocated space). */
  readonly fileSize: number
  readonly records: number
  readonly tailState: TailState
  /** Where the corrupt tail was saved, if there was one. */
  readonly sidecarPath: string | undefined
  readonly carry: Uint8Array
  readonly reason: string
  readonly created: boolean
}

/**
 * Opens `path` for appending, recovering a crashed tail first.
 */
export const openForAppend = Effect.fnUntraced(function* (
  path: string,
  options: ResumeOptions,
): Effect.fn.Return<
  Resumed,
  IoError.IoError | JournalLocked | InvalidOptions | NotAJournal,
  FileIo.FileIo | Scope.Scope
> {
  const selected = yield* selectFileIo(options.backend)
  const fileIo = selected.fileIo
  const readHandle = yield* fileIo.open(path, { create: true })
  yield* fileIo
    .lock(readHandle)
    .pipe(
      Effect.mapError((error): IoError.IoError | JournalLocked =>
        error.reason === "Busy" ? new JournalLocked({ path }) : error,
      ),
    )
  const scan = yield* scanHandle(fileIo, readHandle, { legacyGaps: options.legacyGaps })
  // A crash can tear our first frame (Truncated*, ChecksumMismatch) but never writes a foreign
  // first byte: bad magic at offset 0 means this is not a journal, so touch nothing.
  if (scan.cleanEnd === 0 && scan.tailState === "BadMagic") {
    return yield* Effect.fail(new NotAJournal({ path, fileSize: scan.fileSize }))
  }
  let sidecarPath: string | undefined
  if (scan.fileSize > scan.cleanEnd && scan.tailState !== "CleanEnd") {
    sidecarPath = yield* saveTail(fileIo, readHandle, path, scan.cleanEnd, scan.fileSize)
    yield* fileIo.truncate(readHandle, scan.cleanEnd)
    yield* fileIo.sync(readHandle)
  } else {
    // Never trust the page cache: a killed writer's bytes may be only in memory.
    yield* fileIo.datasync(readHandle)
  }
  if (readHandle.created) yield* fileIo.syncDirectory(NodePath.dirname(path))

  let handle = readHandle
  let directActive = false
  let reason = `${selected.reason}; buffered IO (mode "buffered")`
  let sectorBytes = 1
  if (options.mode === "direct") {
    const direct = yield* Effect.exit(fileIo.open(path, { direct: true }))
    if (Exit.isSuccess(direct)) {
      handle = direct.value
      directActive = true
      sectorBytes = options.sectorBytes ?? (yield* probeSectorBytes(path))
      reason = `${selected.reason}; O_DIRECT with ${sectorBytes}-byte sectors`
    } else {
      const error = direct.cause.reasons.find((r) => r._tag === "Fail")
      const refused = error?._tag === "Fail" && error.error.reason === "InvalidArgument"
      if (!refused || options.requireDirect) return yield* Effect.failCause(direct.cause)
      reason = `${selected.reason}; the filesystem refused O_DIRECT (EINVAL), so buffered IO`
    }
  }
  const carryStart = roundDown(scan.cleanEnd, sectorBytes)
  const carry = new Uint8Array(scan.cleanEnd - carryStart)
  if (carry.byteLength > 0) {
    // Through the buffered handle: an O_DIRECT read into an unaligned buffer short-reads.
    const read = yield* fileIo.readAt(readHandle, carry, carryStart)
    if (read !== carry.byteLength) {
      return yield* Effect.die(new Error(`fsys: the file shrank under the journal's lock while reading ${path}`))
    }
  }
  return {
    fileIo,
    handle,
    readHandle,
    directActive,
    sectorBytes,
    cleanEnd: scan.cleanEnd,
    fileSize: sidecarPath === undefined ? scan.fileSize : scan.cleanEnd,
    records: scan.records,
    tailState: scan.tailState,
    sidecarPath,
    carry,
    reason,
    created: readHandle.created,
  }
})

/**
 * Copies `[cleanEnd, fileSize)` to `<path>.corrupt-<cleanEnd>` and makes the copy and its
 * directory entry durable. On any failure the partial sidecar is removed (best effort) and the
 * error returned: the journal itself has not been touched yet.
 */
const saveTail = Effect.fnUntraced(function* (
  fileIo: FileIo.FileIoService,
  source: FileIo.Handle,
  path: string,
  cleanEnd: number,
  fileSize: number,
): Effect.fn.Return<string, IoError.IoError> {
  const sidecarPath = `${path}.corrupt-${cleanEnd}`
  const scope = yield* Scope.make()
  const copied = yield* Effect.exit(
    Effect.gen(function* () {
      const target = yield* fileIo.open(sidecarPath, { create: true })
      yield* fileIo.truncate(target, 0)
      const chunk = new Uint8Array(Math.min(SIDECAR_CHUNK_BYTES, fileSize - cleanEnd))
      for (let offset = cleanEnd; offset < fileSize; ) {
        const want = Math.min(chunk.byteLength, fileSize - offset)
        const read = yield* fileIo.readAt(source, chunk.subarray(0, want), offset)
        if (read === 0) break
        yield* fileIo.writeAt(target, chunk.subarray(0, read), offset - cleanEnd)
        offset += read
      }
      yield* fileIo.sync(target)
      yield* fileIo.syncDirectory(NodePath.dirname(sidecarPath))
    }).pipe(Scope.provide(scope)),
  )
  yield* Scope.close(scope, Exit.void)
  if (Exit.isFailure(copied)) {
    yield* Effect.ignore(fileIo.remove(sidecarPath))
    return yield* Effect.failCause(copied.cause)
  }
  return sidecarPath
})
