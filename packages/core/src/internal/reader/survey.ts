/**
 * The damage survey: after the scan found where the valid log stops, look past that point for
 * frames that are still intact. One flipped byte in the middle of a file stops the scan there,
 * and everything after it — possibly thousands of intact records — is the "tail" that the next
 * `Journal.open` saves to its sidecar and cuts. The user must be told before that happens.
 *
 * The survey resynchronises: from the byte after the damage it searches for a position holding
 * the v1 magic, a plausible length that fits in the file, and a CRC-32C that matches; from such
 * a frame it walks the chain as the scanner does, and where the chain breaks it searches again.
 * Zero runs are skipped (a frame never starts with 0x00).
 *
 * Bounded: every byte is read at most once by the search windows and once per candidate frame
 * that covers it; candidates are CRC-checked only within `SURVEY_CHECK_BYTES_MAX` bytes in all
 * (a file of frame-shaped garbage cannot make it quadratic), after which the survey reports
 * itself incomplete. At most `RUNS_MAX` runs are listed; the totals count all of them.
 *
 * A frame found this way is intact, but not necessarily a record its writer meant: a payload may
 * itself contain frame-shaped bytes. The report says "intact frames", not "records".
 *
 * @internal
 */
import { Effect } from "effect"
import type { IoError } from "@fsys/native"
import * as Crc32c from "../../Crc32c.ts"
import type { FileIoService, Handle } from "../../FileIo.ts"
import * as Layout from "../frame/layout.ts"
import * as Cursor from "./cursor.ts"
import { runToEnd, type ScanOptions, type ScanResult, scanHandle } from "./scan.ts"

/** Total bytes of candidate frames the search may CRC-check before it gives up. */
export const SURVEY_CHECK_BYTES_MAX = 1024 * 1024 * 1024
/** Runs of consecutive intact frames listed in the report (the totals count every run). */
export const RUNS_MAX = 16
/** The first byte of every frame (the magic's high byte). */
const MAGIC_FIRST_BYTE = Layout.MAGIC >>> 24

/** @internal */
export interface IntactRun {
  /** LSN of the run's first frame. */
  readonly firstLsn: number
  /** LSN of the run's last frame. */
  readonly lastLsn: number
  /** Where the run's last frame ends. */
  readonly endLsn: number
  readonly frames: number
}

/** @internal */
export interface Damage {
  /** The clean end: where the first bad frame (or hole) starts; open cuts the file here. */
  readonly firstBadLsn: number
  /** Intact frames found after it (all runs). */
  readonly intactFrames: number
  /** Bytes those frames occupy. */
  readonly intactBytes: number
  /** The first `RUNS_MAX` runs of consecutive intact frames, in file order. */
  readonly runs: ReadonlyArray<IntactRun>
  /** False when the search stopped at `SURVEY_CHECK_BYTES_MAX` before the end of the file. */
  readonly complete: boolean
}

/** @internal */
export interface SurveyResult extends ScanResult {
  /** Present when the tail is not clean: what lies after the first bad frame. */
  readonly damage?: Damage
}

/**
 * Scans the file open as `handle` and, when its tail is not clean, surveys what follows.
 *
 * @internal
 */
export const surveyHandle = (
  fileIo: FileIoService,
  handle: Handle,
  options: ScanOptions = {},
): Effect.Effect<SurveyResult, IoError.IoError> =>
  Effect.gen(function* () {
    const scan = yield* scanHandle(fileIo, handle, options)
    if (scan.tailState === "CleanEnd") return scan
    return { ...scan, damage: yield* surveyAfter(fileIo, handle, scan) }
  })

interface Search {
  readonly fileIo: FileIoService
  readonly handle: Handle
  readonly fileEnd: number
  /** The search window (reused), and a scratch buffer for candidates that span it. */
  readonly window: Uint8Array
  readonly scratch: Uint8Array
  checkBytesLeft: number
}

const NOT_FOUND = -1
const OUT_OF_BUDGET = -2

/** Whether the frame of `frameBytes` at `at` (header already checked) has a matching CRC, read in chunks. */
const crcMatchesAcross = Effect.fnUntraced(function* (search: Search, at: number, frameBytes: number) {
  const crcOffset = at + frameBytes - Layout.TRAILER_BYTES
  let crc = 0
  let position = at
  // Bounded: each turn reads ≥ 1 byte toward crcOffset, or gives up on a short read.
  while (position < crcOffset) {
    const wanted = Math.min(search.scratch.length, crcOffset - position)
    const got = yield* search.fileIo.readAt(search.handle, search.scratch.subarray(0, wanted), position)
    if (got === 0) return false
    crc = Crc32c.computeRange(search.scratch, 0, got, crc)
    position += got
  }
  const trailer = search.scratch.subarray(0, Layout.TRAILER_BYTES)
  const got = yield* search.fileIo.readAt(search.handle, trailer, crcOffset)
  return got === Layout.TRAILER_BYTES && Layout.readU32LE(trailer, 0) === crc
})

/**
 * The position of the first intact frame at or after `from`, `NOT_FOUND`, or `OUT_OF_BUDGET`.
 */
const findFrame = Effect.fnUntraced(function* (search: Search, from: number) {
  const { window, fileEnd } = search
  let windowStart = from
  // Bounded: each window advances `windowStart` by ≥ 1 byte (a window holds ≥ a header).
  while (windowStart + Layout.OVERHEAD_BYTES <= fileEnd) {
    const wanted = Math.min(window.length, fileEnd - windowStart)
    const windowEnd = yield* search.fileIo.readAt(search.handle, window.subarray(0, wanted), windowStart)
    if (windowEnd < Layout.HEADER_BYTES) return NOT_FOUND
    const lastCandidate = windowEnd - Layout.HEADER_BYTES
    for (let index = 0; index <= lastCandidate; index++) {
      if (window[index] !== MAGIC_FIRST_BYTE) continue
      const length = Layout.declaredLength(window, index, windowEnd)
      if (length < 0 || length > Layout.PAYLOAD_BYTES_MAX) continue
      const frameBytes = length + Layout.OVERHEAD_BYTES
      const at = windowStart + index
      if (at + frameBytes > fileEnd) continue
      if (search.checkBytesLeft < frameBytes) return OUT_OF_BUDGET
      search.checkBytesLeft -= frameBytes
      if (index + frameBytes <= windowEnd) {
        const crcOffset = index + Layout.HEADER_BYTES + length
        if (Layout.readU32LE(window, crcOffset) === Crc32c.computeRange(window, index, crcOffset)) return at
      } else if (yield* crcMatchesAcross(search, at, frameBytes)) {
        return at
      }
    }
    windowStart += lastCandidate + 1
  }
  return NOT_FOUND
})

/**
 * Surveys the file after `scan`'s clean end (see the module comment).
 *
 * @internal
 */
export const surveyAfter = (
  fileIo: FileIoService,
  handle: Handle,
  scan: ScanResult,
): Effect.Effect<Damage, IoError.IoError> =>
  Effect.gen(function* () {
    const fileEnd = scan.fileSize
    const bufferBytes = Math.max(Layout.OVERHEAD_BYTES, Math.min(Cursor.CHUNK_BYTES, fileEnd - scan.cleanEnd))
    const search: Search = {
      fileIo,
      handle,
      fileEnd,
      window: new Uint8Array(bufferBytes),
      scratch: new Uint8Array(bufferBytes),
      checkBytesLeft: SURVEY_CHECK_BYTES_MAX,
    }
    const runs: Array<IntactRun> = []
    let intactFrames = 0
    let intactBytes = 0
    let complete = true
    let from = scan.cleanEnd + 1
    // Bounded: each turn moves `from` past a found run (≥ 1 frame) or ends.
    while (from < fileEnd) {
      const found = yield* findFrame(search, from)
      if (found === OUT_OF_BUDGET) {
        complete = false
        break
      }
      if (found === NOT_FOUND) break
      // Walk the chain from the found frame exactly as the scanner would.
      const cursor = Cursor.make(fileEnd, found)
      // Reuse the scratch buffer (idle between candidate checks): one allocation per survey, not per run.
      cursor.chunk = search.scratch
      yield* runToEnd(fileIo, handle, cursor, false, undefined)
      intactFrames += cursor.records
      intactBytes += cursor.position - found
      if (runs.length < RUNS_MAX) {
        runs.push({ firstLsn: found, lastLsn: cursor.lastLsn, endLsn: cursor.position, frames: cursor.records })
      }
      if (cursor.tailState === "CleanEnd") break
      // (The found frame verified, so the walk moved past it; the max guards a file changing underneath.)
      from = Math.max(cursor.position, found) + 1
    }
    return { firstBadLsn: scan.cleanEnd, intactFrames, intactBytes, runs, complete }
  })
