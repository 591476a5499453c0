/**
 * Reading a segment by LSN: from the sparse index's nearest entry, walk frame headers to the
 * requested start, then decode (and CRC-check) that one frame.
 *
 * Cost sketch: one open, one read of at most `WINDOW_BYTES` per window walked (normally one: the
 * index has an entry every `STRIDE_BYTES`), plus one exact read when the record does not fit.
 *
 * @internal
 */
import { Effect } from "effect"
import type { IoError } from "@fsys/native"
import type * as FileIo from "../../FileIo.ts"
import * as Frame from "../../Frame.ts"
import { declaredLength, HEADER_BYTES, PAYLOAD_BYTES_MAX, OVERHEAD_BYTES } from "../frame/layout.ts"
import { type SparseIndex, STRIDE_BYTES } from "./sparseIndex.ts"

/** One stride plus a typical record: a lookup normally needs one read. */
export const WINDOW_BYTES = STRIDE_BYTES + 64 * 1024

export interface Located {
  readonly _tag: "Found"
  readonly payload: Uint8Array
}

export interface Missing {
  readonly _tag: "Missing"
  readonly reason: string
}

/**
 * The payload of the record starting at `localLsn` in the segment file, which holds valid frames
 * through `localEnd`; `Missing` (with why) when no record starts there.
 */
export const readLocal = (
  io: FileIo.FileIoService,
  path: string,
  index: SparseIndex,
  localLsn: number,
  localEnd: number,
): Effect.Effect<Located | Missing, IoError.IoError> =>
  Effect.scoped(
    Effect.gen(function* () {
      if (localLsn < 0 || localLsn >= localEnd) return missing("past the segment's end")
      // Offset 0 of a non-empty segment is always a record start: the walk's fallback.
      const entry = Math.max(0, index.floor(localLsn))
      const handle = yield* io.open(path, { readOnly: true })
      let window = new Uint8Array(Math.min(WINDOW_BYTES, localEnd - entry))
      let windowStart = entry
      let windowLength = yield* io.readAt(handle, window, windowStart)
      let position = entry
      // Bounded: each turn moves `position` forward by at least one frame, within `localEnd`.
      while (position < localLsn) {
        if (position + HEADER_BYTES > windowStart + windowLength) {
          windowStart = position
          window = window.length >= Math.min(WINDOW_BYTES, localEnd - position) ? window : new Uint8Array(WINDOW_BYTES)
          windowLength = yield* io.readAt(
            handle,
            window.subarray(0, Math.min(window.length, localEnd - position)),
            position,
          )
          if (windowLength < HEADER_BYTES) return missing(`the file ends at offset ${position + windowLength}`)
        }
        const length = declaredLength(window, position - windowStart, windowLength)
        if (length < 0 || length > PAYLOAD_BYTES_MAX)
          return missing(`no frame at offset ${position} while walking to it`)
        position += length + OVERHEAD_BYTES
      }
      if (position !== localLsn) return missing(`it falls inside the record at an earlier LSN (next start ${position})`)
      let at = localLsn - windowStart
      let length = declaredLength(window, at, windowLength)
      if (length < 0 && windowStart + windowLength < localEnd) {
        // The header is past the window: read it on its own.
        const header = new Uint8Array(HEADER_BYTES)
        if ((yield* io.readAt(handle, header, localLsn)) === HEADER_BYTES)
          length = declaredLength(header, 0, HEADER_BYTES)
      }
      if (length < 0 || length > PAYLOAD_BYTES_MAX) return missing("no frame header there")
      const frameBytes = length + OVERHEAD_BYTES
      if (localLsn + frameBytes > localEnd) return missing("the frame runs past the segment's valid end")
      let frame = window.subarray(at, at + frameBytes)
      if (at + frameBytes > windowLength) {
        // Bounded by the segment's valid bytes (checked above), never by the length field alone.
        const exact = new Uint8Array(frameBytes)
        if ((yield* io.readAt(handle, exact, localLsn)) !== frameBytes)
          return missing("the file is shorter than the frame")
        frame = exact
        at = 0
      }
      const decoded = Frame.decode(frame, 0)
      if (decoded._tag !== "Ok") return missing(`the frame there is ${decoded._tag}`)
      return { _tag: "Found", payload: decoded.payload.slice() } as const
    }),
  )

const missing = (reason: string): Missing => ({ _tag: "Missing", reason })
