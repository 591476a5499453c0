/**
 * The record stream: the scanner's walk, with each payload copied out of the (reused) window and
 * emitted in batches, optionally following the file as a writer appends.
 *
 * Batches hold at most `MAX_RECORDS_PER_BATCH` records and at most one window of payload bytes
 * (one step of the cursor), so a slow consumer never makes the reader buffer more than that.
 *
 * @internal
 */
import { Cause, Effect, Stream } from "effect"
import type { IoError } from "@fsys/native"
import * as FileIo from "../../FileIo.ts"
import { InvalidOptions } from "../../JournalError.ts"
import * as Cursor from "./cursor.ts"
import { fill } from "./scan.ts"

/** Records per emitted batch, at most. */
export const MAX_RECORDS_PER_BATCH = 4096
/** Follow mode's poll interval bounds and default. */
export const MIN_POLL_MILLIS = 1
export const MAX_POLL_MILLIS = 60_000
export const DEFAULT_POLL_MILLIS = 100

/** @internal */
export interface JournalRecord {
  /** The frame's start offset. */
  readonly lsn: number
  /** A copy: safe to keep. */
  readonly payload: Uint8Array
}

/** @internal */
export interface RecordsOptions {
  readonly from?: number | undefined
  readonly follow?: boolean | undefined
  readonly legacyGaps?: boolean | undefined
  readonly pollMillis?: number | undefined
}

const validate = (options: RecordsOptions): InvalidOptions | undefined => {
  const from = options.from ?? 0
  if (!(Number.isSafeInteger(from) && from >= 0)) {
    return new InvalidOptions({ option: "from", reason: `must be a byte offset (integer ≥ 0), got ${from}` })
  }
  const pollMillis = options.pollMillis ?? DEFAULT_POLL_MILLIS
  if (!(Number.isInteger(pollMillis) && pollMillis >= MIN_POLL_MILLIS && pollMillis <= MAX_POLL_MILLIS)) {
    return new InvalidOptions({
      option: "pollMillis",
      reason: `must be an integer in [${MIN_POLL_MILLIS}, ${MAX_POLL_MILLIS}], got ${pollMillis}`,
    })
  }
  return undefined
}

/** @internal */
export const records = (
  path: string,
  options: RecordsOptions = {},
): Stream.Stream<JournalRecord, IoError.IoError | InvalidOptions, FileIo.FileIo> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const invalid = validate(options)
      if (invalid !== undefined) return yield* Effect.fail(invalid)
      const from = options.from ?? 0
      const follow = options.follow === true
      const legacyGaps = options.legacyGaps === true
      const pollMillis = options.pollMillis ?? DEFAULT_POLL_MILLIS

      const fileIo = yield* FileIo.FileIo
      const handle = yield* fileIo.open(path, { readOnly: true })
      const cursor = Cursor.make(yield* fileIo.size(handle), 0)
      let batch: Array<JournalRecord> = []
      // `from` is not trusted as a frame boundary: a payload can contain frame-shaped bytes, so
      // the chain is walked (and checked) from 0 and earlier records are skipped without a copy.
      const visit: Cursor.Visit = (lsn, window, start, end) => {
        if (lsn < from) return
        batch.push({ lsn, payload: window.slice(start, end) })
      }

      const pull = Effect.gen(function* () {
        // Bounded by the file: each turn emits, reads more, or (follow) sleeps.
        for (;;) {
          const stepped = Cursor.step(cursor, legacyGaps, MAX_RECORDS_PER_BATCH, visit)
          // A step visits at most MAX_RECORDS_PER_BATCH frames of one window: emit what it found.
          // (At a NEED/STOPPED point the next step returns the same answer, so nothing is lost.)
          if (batch.length > 0) {
            const out = batch as unknown as readonly [JournalRecord, ...Array<JournalRecord>]
            batch = []
            return out
          }
          if (stepped === Cursor.NEED_BYTES) {
            yield* fill(fileIo, handle, cursor)
          } else if (stepped === Cursor.STOPPED) {
            if (!follow) return yield* Cause.done()
            yield* Effect.sleep(pollMillis)
            Cursor.resume(cursor, yield* fileIo.size(handle))
          }
        }
      })
      return Stream.fromPull(Effect.succeed(pull))
    }),
  )
