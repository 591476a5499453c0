/**
 * Opening a journal file for appending: lock, scan the media, recover the tail, make the start
 * and the file's name durable, and choose Direct or buffered IO.
 *
 * Recovery decisions (the file may have been left by a crash, a killed process or a failed
 * writeback at any point):
 *
 * | what the media scan finds past the clean end      | what open does                                  |
 * |---------------------------------------------------|-------------------------------------------------|
 * | nothing (EOF)                                     | resume at the clean end                         |
 * | only zeros to EOF, and the page cache agrees      | keep them (pad, preallocation); resume there    |
 * | zeros on the media, other bytes in the page cache | stale pages of a failed writeback: save the cached bytes, cut (below) |
 * | anything else (torn/corrupt/hole)                 | copy `[cleanEnd, size)` to a fresh `<path>.corrupt-<cleanEnd>[.n]`, fsync it and the directory, then truncate to the clean end and fsync |
 * | an unreadable sector (EIO)                        | fail `JournalUnreadable` (nothing touched), or with `onReadError: "truncate"` save and cut as above |
 *
 * The scan reads the media, not the page cache (`media.ts`: after a failed fdatasync Linux keeps
 * the lost pages clean and readable). The size is checked again after the scan, so the cut never
 * drops bytes the scan did not see. If the sidecar cannot be written the open fails and the
 * journal is left untouched. One fdatasync runs before `syncedLsn` may start at the clean end (a
 * killed writer's bytes may be only in memory), and the directory is fsynced on every open: the
 * process that created the file may have died before its own directory fsync.
 *
 * @since 0.1.0
 */
import * as NodePath from "node:path"
import { Context, Effect, Exit, Schedule, Scope } from "effect"
import { IoError } from "@fsys/native"
import type * as FileIo from "../../FileIo.ts"
import { type InvalidOptions, JournalLocked, JournalUnreadable, NotAJournal } from "../../JournalError.ts"
import { type ScanResult, scanHandle, type TailState } from "../reader/scan.ts"
import { roundDown } from "../logBuffer/sectors.ts"
import { selectFileIo, type BackendChoice } from "../backend.ts"
import * as Media from "./media.ts"
import { saveTail } from "./sidecar.ts"
import { openDirect } from "./sector.ts"

/** A busy lock is retried this often, at most `LOCK_RETRIES_MAX` times (1 s) before JournalLocked. */
const LOCK_RETRY_MILLIS = 10
const LOCK_RETRIES_MAX = 100

/**
 * The journal's exclusive lock. A writer killed a moment ago can still hold it: the kernel tears a
 * dead process's io_uring down after it exits, and a request still in flight on an io_uring worker
 * keeps the file (and its flock) open. `scripts/lock-after-kill.ts` (kill -9 of a buffered writer
 * over io_uring, then an immediate open) found it locked in 9 of 20 tries, for 35–60 ms. A supervisor's
 * restart must not fail on that, so a busy lock is retried for a bounded time before JournalLocked.
 */
const lockOrWait = (fileIo: FileIo.FileIoService, readHandle: FileIo.Handle, path: string) =>
  fileIo.lock(readHandle).pipe(
    Effect.retry({
      while: (error) => error.reason === "Busy",
      schedule: Schedule.spaced(`${LOCK_RETRY_MILLIS} millis`),
      times: LOCK_RETRIES_MAX,
    }),
    Effect.mapError((error): IoError.IoError | JournalLocked =>
      error.reason === "Busy" ? new JournalLocked({ path }) : error,
    ),
  )

/** Scans tried while the file's size changes under the lock (only a writer ignoring it can). */
const SCAN_ATTEMPTS_MAX = 4
/** Bytes of the cached tail compared per read when checking it against the media. */
const COMPARE_CHUNK_BYTES = 64 * 1024
/** What a zero tail is compared with (memcmp through Buffer.equals). */
const ZEROS = Buffer.alloc(COMPARE_CHUNK_BYTES)

export interface ResumeOptions {
  readonly mode: "direct" | "buffered"
  /** LogBufferLive is Direct by definition: fail instead of falling back to buffered. */
  readonly requireDirect: boolean
  readonly backend: BackendChoice
  readonly legacyGaps: boolean
  readonly sectorBytes?: number
  /** What to do when recovery meets an unreadable sector; default "fail". */
  readonly onReadError?: "fail" | "truncate"
}

export interface Resumed {
  readonly fileIo: FileIo.FileIoService
  /** The handle records are written through (O_DIRECT when `directActive`). */
  readonly handle: FileIo.Handle
  /** A buffered handle on the same file: holds the lock. */
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
 * The one file (absolute path) its opener wrote with zeros from start to end and fdatasynced just
 * before this open, holding the directory lock: a recycled segment becoming a standby
 * (`segmented/recycle.ts`). Its recovery then skips reading the zeros back (a media scan and a
 * page-cache comparison of the whole file: ≈ 0.3–0.7 s for 64 MiB here) and resumes at 0, keeping
 * them as preallocated space. Any other path is recovered as always. Provided around the one
 * open; `undefined` everywhere else.
 */
export const KnownZeros: Context.Reference<string | undefined> = Context.Reference<string | undefined>(
  "@fsys/core/internal/recovery/KnownZeros",
  { defaultValue: () => undefined },
)

type ResumeError = IoError.IoError | JournalLocked | InvalidOptions | NotAJournal | JournalUnreadable

/**
 * Opens `path` for appending, recovering a crashed tail first.
 */
export const openForAppend = Effect.fnUntraced(function* (
  path: string,
  options: ResumeOptions,
): Effect.fn.Return<Resumed, ResumeError, Scope.Scope> {
  const selected = yield* selectFileIo(options.backend)
  const fileIo = selected.fileIo
  const readHandle = yield* fileIo.open(path, { create: true })
  yield* lockOrWait(fileIo, readHandle, path)
  // The Direct handle is opened before the scan in both modes: recovery reads the media with it.
  const directOpen = yield* openDirect(fileIo, path, options.sectorBytes).pipe(
    Effect.catch((error) => (options.mode === "buffered" ? Effect.succeed(undefined) : Effect.fail(error))),
  )
  const direct = directOpen?._tag === "Opened" ? directOpen.direct : undefined
  if (options.mode === "direct" && direct === undefined && options.requireDirect && directOpen?._tag === "Refused") {
    return yield* Effect.fail(directOpen.cause)
  }
  // The reader's bounce buffer lives only as long as recovery (the parent frees it on failure).
  const recoveryScope = yield* Scope.fork(yield* Effect.scope, "sequential")
  const reader = yield* Media.make(
    fileIo,
    yield* fileIo.size(readHandle),
    readHandle,
    direct === undefined ? undefined : { handle: direct.handle, alignmentBytes: direct.readAlignmentBytes },
  ).pipe(Scope.provide(recoveryScope))
  const scan =
    (yield* KnownZeros) === path
      ? knownZerosScan(yield* fileIo.size(readHandle))
      : yield* stableScan(fileIo, readHandle, reader, options.legacyGaps)
  const unreadableAt = reader.unreadableAt()
  // A crash can tear our first frame (Truncated*, ChecksumMismatch) but never writes a foreign
  // first byte: bad magic at offset 0 means this is not a journal, so touch nothing.
  if (scan.cleanEnd === 0 && scan.tailState === "BadMagic" && unreadableAt === undefined) {
    return yield* Effect.fail(new NotAJournal({ path, fileSize: scan.fileSize }))
  }
  if (unreadableAt !== undefined && options.onReadError !== "truncate") {
    const cause = reader.firstError() ?? IoError.fromErrno("EIO", "pread", path)
    return yield* Effect.fail(
      new JournalUnreadable({ path, offsetBytes: unreadableAt, cleanEnd: scan.cleanEnd, cause }),
    )
  }
  const cut = yield* cutTail(fileIo, readHandle, path, scan, reader, unreadableAt)
  const chosen = yield* chooseIo(fileIo, readHandle, options.mode, direct, selected.reason)
  const carry = yield* readCarry(reader, scan.cleanEnd, chosen.sectorBytes, path)
  yield* Scope.close(recoveryScope, Exit.void)
  return {
    fileIo,
    handle: chosen.handle,
    readHandle,
    directActive: chosen.directActive,
    sectorBytes: chosen.sectorBytes,
    cleanEnd: scan.cleanEnd,
    fileSize: cut.cut ? scan.cleanEnd : scan.fileSize,
    records: scan.records,
    tailState: scan.tailState,
    sidecarPath: cut.sidecarPath,
    carry,
    reason: chosen.reason,
    created: readHandle.created,
  }
})

/** What a scan of a file of zeros finds: no record, a clean end at 0, the zeros kept. */
const knownZerosScan = (fileSize: number): ScanResult & { readonly knownZeros: true } => ({
  records: 0,
  cleanEnd: 0,
  tailState: "CleanEnd",
  fileSize,
  knownZeros: true,
})

/**
 * Scans through `reader` until the file's size after the scan is the size it started with, so
 * the cut and the kept size are the ones the scan saw (bounded; under the lock the size only
 * changes when a writer ignores it).
 */
const stableScan = Effect.fnUntraced(function* (
  fileIo: FileIo.FileIoService,
  readHandle: FileIo.Handle,
  reader: Media.MediaReader,
  legacyGaps: boolean,
): Effect.fn.Return<ScanResult, IoError.IoError> {
  for (let attempt = 1; attempt <= SCAN_ATTEMPTS_MAX; attempt++) {
    const scan = yield* scanHandle(Media.asFileIo(fileIo, reader), readHandle, { legacyGaps })
    const sizeAfter = yield* fileIo.size(readHandle)
    if (sizeAfter === scan.fileSize) return scan
  }
  return yield* Effect.fail(
    IoError.fromErrno("EBUSY", "fstat", readHandle.path, `the size kept changing over ${SCAN_ATTEMPTS_MAX} scans`),
  )
})

/**
 * Whether the page cache also shows only zeros in `[from, to)`, where the media scan found zeros.
 * Non-zero cached bytes there never reached the device (a failed writeback): the next buffered
 * write would send them out around the new records, so they must be cut.
 */
const cachedZeros = Effect.fnUntraced(function* (
  fileIo: FileIo.FileIoService,
  readHandle: FileIo.Handle,
  from: number,
  to: number,
): Effect.fn.Return<boolean, IoError.IoError> {
  const chunk = Buffer.alloc(Math.min(COMPARE_CHUNK_BYTES, to - from))
  for (let offset = from; offset < to; ) {
    const result = yield* Effect.result(
      fileIo.readAt(readHandle, chunk.subarray(0, Math.min(chunk.length, to - offset)), offset),
    )
    // An unreadable cached range is no evidence of zeros: cut it like any damaged tail.
    if (result._tag === "Failure") {
      if (result.failure.code === "EIO") return false
      return yield* Effect.fail(result.failure)
    }
    const read = result.success
    if (read === 0) return true
    if (!chunk.subarray(0, read).equals(ZEROS.subarray(0, read))) return false
    offset += read
  }
  return true
})

/**
 * Cuts the tail past the clean end when it is damaged, unreadable, or (reading the media) only
 * the page cache shows non-zero bytes there; makes the start and the file's name durable.
 */
const cutTail = Effect.fnUntraced(function* (
  fileIo: FileIo.FileIoService,
  readHandle: FileIo.Handle,
  path: string,
  scan: ScanResult,
  reader: Media.MediaReader,
  unreadableAt: number | undefined,
): Effect.fn.Return<{ readonly cut: boolean; readonly sidecarPath: string | undefined }, IoError.IoError> {
  const cut =
    scan.fileSize > scan.cleanEnd &&
    !("knownZeros" in scan) &&
    (scan.tailState !== "CleanEnd" ||
      unreadableAt !== undefined ||
      (reader.direct && !(yield* cachedZeros(fileIo, readHandle, scan.cleanEnd, scan.fileSize))))
  let sidecarPath: string | undefined
  if (cut) {
    // Saved as the page cache shows it (the media's copy may be older): evidence, not records.
    sidecarPath = yield* saveTail(fileIo, readHandle, path, scan.cleanEnd, scan.fileSize)
    // Truncating also drops every cached page past the clean end, stale ones included.
    yield* fileIo.truncate(readHandle, scan.cleanEnd)
    yield* fileIo.sync(readHandle)
  } else {
    // Never trust the page cache: a killed writer's bytes may be only in memory.
    yield* fileIo.datasync(readHandle)
  }
  yield* fileIo.syncDirectory(NodePath.dirname(path))
  return { cut, sidecarPath }
})

/** The handle records are written through: the Direct one when asked for and opened. */
const chooseIo = Effect.fnUntraced(function* (
  fileIo: FileIo.FileIoService,
  readHandle: FileIo.Handle,
  mode: "direct" | "buffered",
  direct: { readonly handle: FileIo.Handle; readonly sectorBytes: number } | undefined,
  selectedReason: string,
) {
  if (mode === "direct" && direct !== undefined) {
    const sectorBytes = direct.sectorBytes
    const reason = `${selectedReason}; O_DIRECT with ${sectorBytes}-byte sectors`
    return { handle: direct.handle, directActive: true, sectorBytes, reason }
  }
  if (mode === "direct") {
    const reason = `${selectedReason}; the filesystem refused O_DIRECT (EINVAL), so buffered IO`
    return { handle: readHandle, directActive: false, sectorBytes: 1, reason }
  }
  if (direct !== undefined) yield* Effect.ignore(fileIo.close(direct.handle))
  return {
    handle: readHandle,
    directActive: false,
    sectorBytes: 1,
    reason: `${selectedReason}; buffered IO (mode "buffered")`,
  }
})

/** `[roundDown(cleanEnd), cleanEnd)` from the media, like the scan: the next flush rewrites it. */
const readCarry = Effect.fnUntraced(function* (
  reader: Media.MediaReader,
  cleanEnd: number,
  sectorBytes: number,
  path: string,
): Effect.fn.Return<Uint8Array, IoError.IoError> {
  const carryStart = roundDown(cleanEnd, sectorBytes)
  const carry = new Uint8Array(cleanEnd - carryStart)
  if (carry.byteLength > 0) {
    const read = yield* reader.readAt(carry, carryStart)
    if (read !== carry.byteLength) {
      return yield* Effect.die(new Error(`fsys: the file shrank under the journal's lock while reading ${path}`))
    }
  }
  return carry
})
