/**
 * The journal scanner's state machine: walks frames through a window of the file held in memory,
 * finds the clean end, and asks its driver for more bytes when the window runs out.
 *
 * `step` is synchronous and allocation-free per frame (the driver does the reads), so the cost
 * per record is the CRC plus a few comparisons: the scan runs at memory/CRC speed, not at
 * Effect-per-record speed.
 *
 * Clean-end rules (reference/fsys-journal.md), at a frame boundary `p`:
 * | bytes at p                                   | outcome                                  |
 * |----------------------------------------------|------------------------------------------|
 * | end of file                                  | CleanEnd at p                            |
 * | zero run reaching end of file                | CleanEnd at the run start (padding)      |
 * | zero run, then non-zero bytes                | TruncatedHeader at the run start (hole)  |
 * |   …with legacyGaps, run ends on a 512-byte   | skipped, if a valid frame follows;       |
 * |   boundary and is ≤ 64 MiB                   |   else TruncatedHeader at the run start  |
 * | < 8 bytes left                               | TruncatedHeader at p                     |
 * | bad magic / length > 2^28−1 / CRC mismatch   | BadMagic / LengthOverflow / Checksum…    |
 * | header fine, frame runs past end of file     | TruncatedPayload at p                    |
 * | valid frame                                  | record (lsn = p), continue after it      |
 *
 * In follow mode (without legacyGaps) a zero at p ends the step at once: the outcome is the same
 * clean end, without re-measuring megabytes of preallocated zeros on every poll.
 *
 * @internal
 */
import * as Crc32c from "../../Crc32c.ts"
import * as Check from "../frame/check.ts"
import * as Layout from "../frame/layout.ts"

/**
 * How a scan ended.
 *
 * @internal
 */
export type TailState =
  | "CleanEnd"
  | "TruncatedHeader"
  | "TruncatedPayload"
  | "ChecksumMismatch"
  | "BadMagic"
  | "LengthOverflow"

/** Bytes read per refill of the window: big reads amortise the threadpool round trip. */
export const CHUNK_BYTES = 4 * 1024 * 1024
/**
 * The first read after a follow-mode poll: usually only a few new frames (or none) follow the
 * clean end, while the file may hold megabytes of preallocated zeros after it. Each further read
 * doubles, back up to CHUNK_BYTES.
 */
export const PROBE_BYTES = 64 * 1024
/**
 * Bytes of frames (or of zeros) one `step` checks before it returns TURN_SPENT, so that a scan
 * holds the event loop for about half a millisecond at a time: a whole 4 MiB window in one go
 * held it 4–7 ms (the bench's scan workload, loop p99). A frame larger than this has its
 * CRC-32C computed over several steps, this many bytes per step (a 256 MiB record would
 * otherwise hold the loop for its whole checksum).
 */
export const TURN_BYTES = 512 * 1024
/** fsys 1.1.0's Direct writer left zero gaps ending on this boundary. */
export const LEGACY_GAP_ALIGNMENT_BYTES = 512
/** The longest zero gap `legacyGaps` skips (fsys 1.1.x's bound). */
export const LEGACY_GAP_MAX_BYTES = 64 * 1024 * 1024

/**
 * Called for each valid frame; the payload is `window[payloadStart, payloadEnd)`, valid only
 * during the call. Returning `false` pauses the walk after this frame (`step` returns PAUSED).
 */
export type Visit = (lsn: number, window: Uint8Array, payloadStart: number, payloadEnd: number) => boolean | undefined

/** `step` results. */
export const STOPPED = 0
export const NEED_BYTES = 1
export const PAUSED = 2
/**
 * The step checked `TURN_BYTES` and stopped so that its caller can yield to the event loop; the
 * budget is already renewed, so a caller that does not yield simply steps again.
 */
export const TURN_SPENT = 3

/**
 * Scanner state. Invariants:
 * - `position` is a frame boundary: every byte in [0, position) belongs to a valid frame (or, with
 *   legacyGaps, a skipped gap followed by one), so `position` is the clean end so far.
 * - `window[0, windowLength)` holds file bytes [windowStart, windowStart + windowLength).
 * - `zeroRunStart ≥ 0` only while a zero run starting there is being measured, `zeroScan` the
 *   next byte of it to examine; `gapStart ≥ 0` only between skipping a legacy gap and the frame
 *   after it proving valid.
 * - `largeFrom ≥ 0` only while the frame at `largeFrom` (= `position`, larger than `TURN_BYTES`,
 *   whole in the window) is being checksummed over several steps: `largeSeed` is the CRC-32C of
 *   file bytes [largeFrom, largeHashedTo). Nothing else moves meanwhile.
 * - `turnBytesLeft ≤ TURN_BYTES`; at or below 0, the next step returns TURN_SPENT first.
 */
export interface Cursor {
  position: number
  fileEnd: number
  zeroRunStart: number
  zeroScan: number
  gapStart: number
  records: number
  lastLsn: number
  tailState: TailState
  /** The reusable read buffer (≤ CHUNK_BYTES); `window` is it, or a one-off buffer for an oversize frame. */
  chunk: Uint8Array
  window: Uint8Array
  windowStart: number
  windowLength: number
  /** With NEED_BYTES: read from `needFrom`, at least `needBytes` bytes. */
  needFrom: number
  needBytes: number
  /** How much the next refill reads (beyond `needBytes`): PROBE_BYTES after a poll, up to CHUNK_BYTES. */
  readAheadBytes: number
  /**
   * Follow mode (without legacyGaps): a zero byte at a frame boundary ends the step at once.
   * Nothing new can be there yet (a frame starts with 0x46), so the zero run after the clean end —
   * preallocated or Direct padding, possibly megabytes — is not re-measured on every poll.
   */
  zeroEndsScan: boolean
  /** What the current step may still check before it returns TURN_SPENT. */
  turnBytesLeft: number
  largeFrom: number
  largeHashedTo: number
  largeSeed: number
}

export const make = (fileEnd: number, position: number, zeroEndsScan = false): Cursor => ({
  position,
  fileEnd,
  zeroRunStart: -1,
  zeroScan: 0,
  gapStart: -1,
  records: 0,
  lastLsn: -1,
  tailState: "CleanEnd",
  chunk: new Uint8Array(0),
  window: new Uint8Array(0),
  windowStart: 0,
  windowLength: 0,
  needFrom: 0,
  needBytes: 0,
  readAheadBytes: CHUNK_BYTES,
  zeroEndsScan,
  turnBytesLeft: TURN_BYTES,
  largeFrom: -1,
  largeHashedTo: 0,
  largeSeed: 0,
})

/** Restarts scanning at the clean end against a new file size (follow mode); the window is dropped because the bytes after the clean end may have been rewritten. */
export const resume = (cursor: Cursor, fileEnd: number): void => {
  cursor.fileEnd = fileEnd
  cursor.zeroRunStart = -1
  cursor.gapStart = -1
  cursor.tailState = "CleanEnd"
  cursor.windowLength = 0
  cursor.readAheadBytes = PROBE_BYTES
  cursor.largeFrom = -1
}

/**
 * The index of the first non-zero byte of `bytes[from, limit)`, or `limit`. Compares four bytes
 * at a time once aligned (≈ 4× the byte loop: a resume scan crosses megabytes of preallocated
 * zeros).
 */
const skipZeros = (bytes: Uint8Array, from: number, limit: number): number => {
  let index = from
  while (index < limit && ((bytes.byteOffset + index) & 3) !== 0) {
    if (bytes[index] !== 0) return index
    index++
  }
  const words = (limit - index) >>> 2
  if (words > 0) {
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset + index, words)
    let word = 0
    while (word < words && view[word] === 0) word++
    index += word << 2
  }
  while (index < limit && bytes[index] === 0) index++
  return index
}

const stop = (cursor: Cursor, state: TailState, at: number): number => {
  // A legacy gap only counts when a valid frame follows it: otherwise the log ends at the gap.
  if (cursor.gapStart >= 0) {
    cursor.position = cursor.gapStart
    cursor.tailState = "TruncatedHeader"
  } else {
    cursor.position = at
    cursor.tailState = state
  }
  return STOPPED
}

const need = (cursor: Cursor, from: number, bytes: number): number => {
  cursor.needFrom = from
  cursor.needBytes = bytes
  return NEED_BYTES
}

/** `stepZeroRun`'s answer when the scan goes on (not one of the step results). */
const ZEROS_CONTINUE = -1

/**
 * Inside a zero run: skips zeros through the window. The run ends the log (padding to the end of
 * the file, or a hole), is a legacy gap before a frame, or needs more bytes.
 */
const stepZeroRun = (cursor: Cursor, legacyGaps: boolean, windowStart: number, windowEnd: number): number => {
  const fileEnd = cursor.fileEnd
  let scan = cursor.zeroScan
  if (scan >= fileEnd) {
    // Zeros to the end of the file: padding after the last frame, not a hole.
    const runStart = cursor.zeroRunStart
    cursor.zeroRunStart = -1
    return stop(cursor, "CleanEnd", runStart)
  }
  if (scan < windowStart || scan >= windowEnd) return need(cursor, scan, 1)
  // At most the turn's budget: megabytes of preallocated zeros are measured across turns.
  const limit = Math.min(windowEnd, fileEnd, scan + cursor.turnBytesLeft) - windowStart
  const index = skipZeros(cursor.window, scan - windowStart, limit)
  cursor.turnBytesLeft -= windowStart + index - scan
  scan = windowStart + index
  cursor.zeroScan = scan
  if (index === limit) return ZEROS_CONTINUE
  // A non-zero byte at `scan`: the run [zeroRunStart, scan) is a hole, unless it is a legacy gap.
  const runStart = cursor.zeroRunStart
  cursor.zeroRunStart = -1
  const isLegacyGap = legacyGaps && scan % LEGACY_GAP_ALIGNMENT_BYTES === 0 && scan - runStart <= LEGACY_GAP_MAX_BYTES
  if (!isLegacyGap) return stop(cursor, "TruncatedHeader", runStart)
  cursor.gapStart = runStart
  cursor.position = scan
  return ZEROS_CONTINUE
}

/** `checkLarge`'s answer while the frame's checksum is not finished (not a step result or a code). */
const LARGE_CONTINUE = -100

/**
 * The frame at `position` (whole in the window, header valid, `frameLength` > TURN_BYTES):
 * checksums as much of it as the turn's budget allows and spends the turn (LARGE_CONTINUE), or, once all of it
 * is hashed, answers like `Check.checkAt` (its length, or CHECKSUM_MISMATCH).
 */
const checkLarge = (
  cursor: Cursor,
  window: Uint8Array,
  index: number,
  position: number,
  frameLength: number,
): number => {
  if (cursor.largeFrom !== position) {
    cursor.largeFrom = position
    cursor.largeHashedTo = position
    cursor.largeSeed = 0
  }
  const crcAt = position + frameLength - Layout.TRAILER_BYTES
  const from = cursor.largeHashedTo
  const to = Math.min(crcAt, from + cursor.turnBytesLeft)
  const base = position - index
  cursor.largeSeed = Crc32c.computeRange(window, from - base, to - base, cursor.largeSeed)
  cursor.largeHashedTo = to
  if (to < crcAt) {
    cursor.turnBytesLeft = 0
    return LARGE_CONTINUE
  }
  cursor.largeFrom = -1
  // The turn paid for what was hashed in it; the caller then takes `frameLength` off again.
  cursor.turnBytesLeft += frameLength - (to - from)
  return Layout.readU32LE(window, crcAt - base) === cursor.largeSeed ? frameLength : Check.CHECKSUM_MISMATCH
}

/** A frame that does not check at `position`: the tail, or (a payload past the window) a need. */
const stopAtBadFrame = (
  cursor: Cursor,
  frameLength: number,
  index: number,
  position: number,
  available: number,
): number => {
  switch (frameLength) {
    case Check.TRUNCATED_HEADER:
      // headerBytes were in the window, so fewer than 8 bytes are left in the file.
      return stop(cursor, "TruncatedHeader", position)
    case Check.BAD_MAGIC:
      return stop(cursor, "BadMagic", position)
    case Check.LENGTH_OVERFLOW:
      return stop(cursor, "LengthOverflow", position)
    case Check.CHECKSUM_MISMATCH:
      return stop(cursor, "ChecksumMismatch", position)
    default: {
      // TRUNCATED_PAYLOAD: past the end of the file, or only past the end of the window.
      const wanted = Layout.readU32LE(cursor.window, index + Layout.LENGTH_OFFSET) + Layout.OVERHEAD_BYTES
      if (wanted > available) return stop(cursor, "TruncatedPayload", position)
      return need(cursor, position, wanted)
    }
  }
}

/**
 * Advances over as many frames as the window holds, visiting each; returns when the visitor asks
 * to pause (PAUSED), when it needs bytes outside the window (NEED_BYTES), or at the tail
 * (STOPPED, with `position` = clean end and `tailState` set).
 */
export const step = (cursor: Cursor, legacyGaps: boolean, visit: Visit | undefined): number => {
  const fileEnd = cursor.fileEnd
  // Bounded: every iteration moves `position`, `zeroScan` or `largeHashedTo` forward, or
  // returns; and at most `TURN_BYTES` are checked before it returns.
  for (;;) {
    if (cursor.turnBytesLeft <= 0) {
      cursor.turnBytesLeft = TURN_BYTES
      return TURN_SPENT
    }
    const window = cursor.window
    const windowStart = cursor.windowStart
    const windowEnd = windowStart + cursor.windowLength

    if (cursor.zeroRunStart >= 0) {
      const outcome = stepZeroRun(cursor, legacyGaps, windowStart, windowEnd)
      if (outcome === ZEROS_CONTINUE) continue
      return outcome
    }

    const position = cursor.position
    if (position >= fileEnd) return stop(cursor, "CleanEnd", position)
    const available = fileEnd - position
    const headerBytes = Math.min(available, Layout.HEADER_BYTES)
    if (position < windowStart || position + headerBytes > windowEnd) return need(cursor, position, headerBytes)
    const index = position - windowStart
    if (window[index] === 0) {
      // A frame never starts with 0x00: padding or a hole. A legacy gap is never followed by
      // another zero run (the run would have continued), so this cannot chain gaps.
      if (cursor.zeroEndsScan) return stop(cursor, "CleanEnd", position)
      cursor.zeroRunStart = position
      cursor.zeroScan = position
      continue
    }
    const headerLength = Check.checkHeaderAt(window, index, Math.min(windowEnd, fileEnd) - windowStart)
    const frameLength =
      headerLength < 0
        ? headerLength
        : headerLength > TURN_BYTES
          ? checkLarge(cursor, window, index, position, headerLength)
          : Check.checksumAt(window, index, headerLength)
    if (frameLength === LARGE_CONTINUE) continue
    if (frameLength < 0) return stopAtBadFrame(cursor, frameLength, index, position, available)
    cursor.turnBytesLeft -= frameLength
    cursor.records++
    cursor.lastLsn = position
    cursor.gapStart = -1
    cursor.position = position + frameLength
    if (
      visit !== undefined &&
      visit(position, window, index + Layout.HEADER_BYTES, index + frameLength - Layout.TRAILER_BYTES) === false
    ) {
      return PAUSED
    }
  }
}
