/**
 * The record stream: the scanner's walk, with each payload copied out of the (reused) window and
 * emitted in batches, optionally following the file as a writer appends.
 *
 * Batches hold at most `RECORDS_PER_BATCH_MAX` records and about `BATCH_BYTES_MAX` of payload
 * (or one larger record), so a slow consumer never makes the reader buffer more than that.
 *
 * How far the walk may read, and what it does at that point, is the `Bound`'s business: the
 * file's size (polled in follow mode) for `JournalReader.records`, the journal's durable frontier
 * for the handle's follower (`internal/journal/follower.ts`).
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
export const RECORDS_PER_BATCH_MAX = 1024
/**
 * Payload bytes per batch before it is emitted (a single larger record makes its own batch).
 * Kept under glibc's mmap threshold (128 KiB): a batch's copy then reuses heap memory instead of
 * faulting in fresh pages — measured here, 4 MiB copies made the stream ~10× slower.
 */
export const BATCH_BYTES_MAX = 64 * 1024
/** Follow mode's poll interval bounds and default. */
export const POLL_MILLIS_MIN = 1
export const POLL_MILLIS_MAX = 60_000
export const POLL_MILLIS_DEFAULT = 100

/** @internal */
export interface JournalRecord {
  /** The frame's start offset. */
  readonly lsn: number
  /**
   * A copy, safe to keep: a view into a buffer shared by the records of one batch (≤ 4 MiB), so
   * keeping a few records of many batches for long keeps those buffers alive — `slice` them then.
   */
  readonly payload: Uint8Array
}

/** @internal */
export interface RecordsOptions {
  readonly from?: number | undefined
  readonly follow?: boolean | undefined
  readonly legacyGaps?: boolean | undefined
  readonly pollMillis?: number | undefined
}

/** `from` must be a byte offset. */
export const validateFrom = (from: number): InvalidOptions | undefined =>
  Number.isSafeInteger(from) && from >= 0
    ? undefined
    : new InvalidOptions({ option: "from", reason: `must be a byte offset (integer ≥ 0), got ${from}` })

const validate = (options: RecordsOptions): InvalidOptions | undefined => {
  const invalidFrom = validateFrom(options.from ?? 0)
  if (invalidFrom !== undefined) return invalidFrom
  const pollMillis = options.pollMillis ?? POLL_MILLIS_DEFAULT
  if (!(Number.isInteger(pollMillis) && pollMillis >= POLL_MILLIS_MIN && pollMillis <= POLL_MILLIS_MAX)) {
    return new InvalidOptions({
      option: "pollMillis",
      reason: `must be an integer in [${POLL_MILLIS_MIN}, ${POLL_MILLIS_MAX}], got ${pollMillis}`,
    })
  }
  return undefined
}

/**
 * How far a record walk may read. The walk never reads at or past the bound it was given.
 *
 * @internal
 */
export interface Bound<E> {
  /** The first bound. */
  readonly initial: Effect.Effect<number, E>
  /**
   * Called when the walk stopped at `position` with `tailState`: the next bound to resume
   * against, or `undefined` to end the stream.
   */
  readonly next: (position: number, tailState: Cursor.TailState) => Effect.Effect<number | undefined, E>
}

/**
 * The records of the file open as `handle`, from offset 0, within `bound`; records before
 * `from` are verified but not emitted.
 *
 * @internal
 */
export const walk = <E>(
  fileIo: FileIo.FileIoService,
  handle: FileIo.Handle,
  options: { readonly from: number; readonly legacyGaps: boolean; readonly zeroEndsScan: boolean },
  bound: Bound<E>,
): Stream.Stream<JournalRecord, E | IoError.IoError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const { from, legacyGaps } = options
      const cursor = Cursor.make(yield* bound.initial, 0, options.zeroEndsScan)
      // The current batch, as positions in the cursor's window (copied out before the next read).
      const lsns: Array<number> = []
      const starts: Array<number> = []
      const ends: Array<number> = []
      // `from` is not trusted as a frame boundary: a payload can contain frame-shaped bytes, so
      // the chain is walked (and checked) from 0 and earlier records are skipped without a copy.
      const visit: Cursor.Visit = (lsn, _window, start, end) => {
        if (lsn < from) return true
        lsns.push(lsn)
        starts.push(start)
        ends.push(end)
        return lsns.length < RECORDS_PER_BATCH_MAX && end - starts[0] < BATCH_BYTES_MAX
      }
      // One allocation and one copy per batch, not per record: a batch's frames are adjacent in
      // the window, so their payloads are views into one copy of the span they cover.
      const takeBatch = (): readonly [JournalRecord, ...Array<JournalRecord>] => {
        const count = lsns.length
        const spanStart = starts[0]
        const span = cursor.window.slice(spanStart, ends[count - 1])
        const out = new Array<JournalRecord>(count)
        for (let i = 0; i < count; i++) {
          out[i] = { lsn: lsns[i], payload: span.subarray(starts[i] - spanStart, ends[i] - spanStart) }
        }
        lsns.length = 0
        starts.length = 0
        ends.length = 0
        return out as unknown as readonly [JournalRecord, ...Array<JournalRecord>]
      }

      // Set when a step spent its turn while it also found records: the next pull yields first.
      let yieldDue = false
      const pull = Effect.gen(function* () {
        if (yieldDue) {
          yieldDue = false
          yield* Effect.yieldNow
        }
        // Bounded by the file: each turn emits, reads more, yields, or asks the bound what next.
        for (;;) {
          const stepped = Cursor.step(cursor, legacyGaps, visit)
          // Emit what this step found before the window is refilled. (At a NEED/STOPPED point the
          // next step returns the same answer, so nothing is lost.)
          if (lsns.length > 0) {
            yieldDue = stepped === Cursor.TURN_SPENT
            return takeBatch()
          }
          if (stepped === Cursor.TURN_SPENT) {
            yield* Effect.yieldNow
          } else if (stepped === Cursor.NEED_BYTES) {
            yield* fill(fileIo, handle, cursor)
          } else if (stepped === Cursor.STOPPED) {
            const next = yield* bound.next(cursor.position, cursor.tailState)
            if (next === undefined) return yield* Cause.done()
            Cursor.resume(cursor, next)
          }
        }
      })
      return Stream.fromPull(Effect.succeed(pull))
    }),
  )

/** @internal */
export const records = (
  path: string,
  options: RecordsOptions = {},
): Stream.Stream<JournalRecord, IoError.IoError | InvalidOptions> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const invalid = validate(options)
      if (invalid !== undefined) return yield* invalid
      const follow = options.follow === true
      const legacyGaps = options.legacyGaps === true
      const pollMillis = options.pollMillis ?? POLL_MILLIS_DEFAULT

      const fileIo = yield* FileIo.FileIo
      const handle = yield* fileIo.open(path, { readOnly: true })
      // The file's size: what reached the file, durable or not (a cross-process follower cannot
      // know more; see `JournalReader.records`).
      const size = fileIo.size(handle)
      const bound: Bound<IoError.IoError> = {
        initial: size,
        next: () => (follow ? Effect.andThen(Effect.sleep(pollMillis), size) : Effect.succeed(undefined)),
      }
      return walk(fileIo, handle, { from: options.from ?? 0, legacyGaps, zeroEndsScan: follow && !legacyGaps }, bound)
    }),
  )
