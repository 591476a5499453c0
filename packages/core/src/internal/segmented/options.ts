/**
 * Resolving a segmented journal's options: its own (`segmentBytes`, `retainBytes`,
 * `recycleSegments`) checked, the rest handed to each segment's `Journal`, and the standby's
 * preallocation derived.
 *
 * @internal
 */
import type * as Journal from "../../Journal.ts"
import { InvalidOptions } from "../../JournalError.ts"
import type { Options } from "../../SegmentedJournal.ts"
import * as JournalOptions from "../journal/options.ts"

/** The public values (documented in `SegmentedJournal.ts`). */
export const SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024
export const SEGMENT_BYTES_MIN = 4096
export const SEGMENT_BYTES_MAX = 2 ** 40

export interface Resolved {
  readonly journalOptions: Journal.Options
  readonly standbyJournalOptions: Journal.Options
  readonly segmentBytes: number
  readonly retainBytes: number | undefined
  readonly standbyPreallocateBytes: number
  readonly recycleSegments: boolean
}

export const resolveOptions = (options: Options | undefined): Resolved | InvalidOptions => {
  const given = options ?? {}
  if (typeof given !== "object") return new InvalidOptions({ option: "options", reason: "must be an object" })
  const { segmentBytes = SEGMENT_BYTES_DEFAULT, retainBytes, recycleSegments = false, ...rest } = given
  if (typeof recycleSegments !== "boolean") {
    return new InvalidOptions({ option: "recycleSegments", reason: "must be a boolean" })
  }
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < SEGMENT_BYTES_MIN || segmentBytes > SEGMENT_BYTES_MAX) {
    return new InvalidOptions({
      option: "segmentBytes",
      reason: `must be an integer between ${SEGMENT_BYTES_MIN} and ${SEGMENT_BYTES_MAX}, got ${segmentBytes}`,
    })
  }
  if (retainBytes !== undefined && (!Number.isSafeInteger(retainBytes) || retainBytes < 0)) {
    return new InvalidOptions({ option: "retainBytes", reason: `must be an integer ≥ 0, got ${retainBytes}` })
  }
  // Preallocating more than a segment would only be cut again at the seal.
  const journalOptions: Journal.Options =
    rest.preallocateBytes === undefined && segmentBytes < JournalOptions.PREALLOCATE_BYTES_DEFAULT
      ? { ...rest, preallocateBytes: 0 }
      : rest
  const checked = JournalOptions.resolve(journalOptions)
  if (checked instanceof InvalidOptions) return checked
  // A standby is preallocated whole (the segment's size, in 64 KiB units) by the rotation fiber
  // before it is needed, so by default its journal preallocates nothing itself: its rolling
  // window would only overshoot the segment's end and be cut at the seal. A `preallocateBytes`
  // the caller gave is kept, and caps the standby's.
  const wholeSegmentBytes = Math.min(JournalOptions.PREALLOCATE_BYTES_MAX, Math.floor(segmentBytes / 65536) * 65536)
  const preallocateGiven = rest.preallocateBytes !== undefined
  const standbyPreallocateBytes = preallocateGiven
    ? Math.min(checked.preallocateBytes, wholeSegmentBytes)
    : wholeSegmentBytes
  const standbyJournalOptions: Journal.Options =
    !preallocateGiven && standbyPreallocateBytes > 0 ? { ...journalOptions, preallocateBytes: 0 } : journalOptions
  return {
    journalOptions,
    standbyJournalOptions,
    segmentBytes,
    retainBytes,
    standbyPreallocateBytes,
    recycleSegments,
  }
}
