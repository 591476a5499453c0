/**
 * The scan driver: reads the file through `FileIo` into the cursor's window, chunk by chunk,
 * until the cursor finds the clean end. `scanHandle` is what `Journal.open` runs to resume, and
 * what `JournalReader.scan` runs on a path.
 *
 * Memory: one window of at most `CHUNK_BYTES` (smaller for smaller files), plus, only while a
 * frame larger than the window is being checked, one buffer of exactly that frame's size — which
 * the cursor has already checked is no more than the bytes the file holds after it, so a corrupt
 * length field can never drive an allocation bigger than the file. `scanHandle` on a file larger
 * than one chunk reads ahead instead (`readAhead.ts`): two buffers of `CHUNK_BYTES` plus
 * `ReadAhead.CARRY_BYTES_MAX` (10 MiB in all), and the same one-off buffer for an oversize frame.
 *
 * @internal
 */
import { Effect } from "effect"
import type { IoError } from "@fsys/native"
import type { FileIoService, Handle } from "../../FileIo.ts"
import * as Cursor from "./cursor.ts"
import * as ReadAhead from "./readAhead.ts"

export type { TailState } from "./cursor.ts"

/** @internal */
export interface ScanOptions {
  /** Skip fsys 1.1.0's zero gaps (see `JournalReader`); default false. */
  readonly legacyGaps?: boolean | undefined
  /**
   * Called for every valid frame, in LSN order; `payload` is a view into the read buffer, valid
   * only during the call (copy it to keep it).
   */
  readonly onRecord?: ((lsn: number, payload: Uint8Array) => void) | undefined
}

/** @internal */
export interface ScanResult {
  /** Valid frames before the clean end. */
  readonly records: number
  /** Where the valid log ends: a writer resumes here. */
  readonly cleanEnd: number
  readonly tailState: Cursor.TailState
  /** The file's size when the scan started. */
  readonly fileSize: number
  /** LSN (start offset) of the last valid frame, absent when there is none. */
  readonly lastLsn?: number
}

/**
 * Reads what `cursor` asked for (NEED_BYTES) into its window. A read shorter than asked means
 * the file shrank meanwhile: the cursor's end moves back, so the scan still terminates.
 */
export const fill = Effect.fnUntraced(function* (fileIo: FileIoService, handle: Handle, cursor: Cursor.Cursor) {
  const from = cursor.needFrom
  const minimumBytes = cursor.needBytes
  const wantedBytes = Math.max(minimumBytes, Math.min(cursor.readAheadBytes, cursor.fileEnd - from))
  cursor.readAheadBytes = Math.min(Cursor.CHUNK_BYTES, cursor.readAheadBytes * 2)
  let buffer: Uint8Array
  if (wantedBytes > Cursor.CHUNK_BYTES) {
    // An oversize frame: exactly its bytes, dropped again at the next refill.
    buffer = new Uint8Array(wantedBytes)
  } else {
    // The reused chunk, sized to the file when that is smaller, grown (≤ CHUNK_BYTES) if it grew.
    if (cursor.chunk.length < wantedBytes) {
      cursor.chunk = new Uint8Array(Math.min(Cursor.CHUNK_BYTES, Math.max(wantedBytes, cursor.chunk.length * 2)))
    }
    buffer = cursor.chunk
  }
  const readBytes = yield* fileIo.readAt(handle, buffer.subarray(0, wantedBytes), from)
  cursor.window = buffer
  cursor.windowStart = from
  cursor.windowLength = readBytes
  if (readBytes < wantedBytes) cursor.fileEnd = from + readBytes
})

/**
 * Runs `cursor` to its tail, visiting every frame, and yields to the event loop after every
 * `Cursor.TURN_BYTES` checked (a visitor that pauses the walk just resumes it here).
 */
export const runToEnd = Effect.fnUntraced(function* (
  fileIo: FileIoService,
  handle: Handle,
  cursor: Cursor.Cursor,
  legacyGaps: boolean,
  visit: Cursor.Visit | undefined,
) {
  // Bounded by the file: every step moves the cursor forward (or stops it).
  for (;;) {
    const stepped = Cursor.step(cursor, legacyGaps, visit)
    if (stepped === Cursor.STOPPED) return
    if (stepped === Cursor.NEED_BYTES) yield* fill(fileIo, handle, cursor)
    else if (stepped === Cursor.TURN_SPENT) yield* Effect.yieldNow
  }
})

/**
 * Finds the clean end of the journal open as `handle`, from offset 0.
 *
 * @internal
 */
export const scanHandle = (
  fileIo: FileIoService,
  handle: Handle,
  options: ScanOptions = {},
): Effect.Effect<ScanResult, IoError.IoError> =>
  Effect.gen(function* () {
    const fileSize = yield* fileIo.size(handle)
    const cursor = Cursor.make(fileSize, 0)
    const onRecord = options.onRecord
    const visit: Cursor.Visit | undefined =
      onRecord === undefined
        ? undefined
        : (lsn, window, start, end) => {
            onRecord(lsn, window.subarray(start, end))
          }
    const legacyGaps = options.legacyGaps === true
    // More than one chunk: read the next while this one is checked.
    if (fileSize > Cursor.CHUNK_BYTES) yield* ReadAhead.runToEnd(fileIo, handle, cursor, legacyGaps, visit)
    else yield* runToEnd(fileIo, handle, cursor, legacyGaps, visit)
    const result = { records: cursor.records, cleanEnd: cursor.position, tailState: cursor.tailState, fileSize }
    return cursor.lastLsn < 0 ? result : { ...result, lastLsn: cursor.lastLsn }
  })
