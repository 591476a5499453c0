/**
 * The record stream of a segmented journal: durable records from `from` on, in LSN order,
 * across segments; following waits for more.
 *
 * Only durable records are emitted (below `syncedLsn`), so a follower never sees a record a crash
 * could take back. Each pull reads one batch from one segment through the scanner's cursor,
 * starting at a position already known to be a record start (`from` is checked with `read`'s
 * walk; later positions are ends of records the cursor validated).
 *
 * @internal
 */
import { Cause, Effect, Scope, Stream } from "effect"
import type * as FileIo from "../../FileIo.ts"
import * as Cursor from "../reader/cursor.ts"
import { fill } from "../reader/scan.ts"
import type { Engine, Segment, SegmentedError } from "./engine.ts"
import { NoRecordAt } from "./errors.ts"
import { read } from "./operations.ts"

/** Records per emitted batch, at most, and payload bytes before a batch is emitted. */
export const RECORDS_PER_BATCH_MAX = 1024
export const BATCH_BYTES_MAX = 64 * 1024
/** How often a follower looks for newly durable records. */
export const FOLLOW_POLL_MILLIS = 20

export interface SegmentedRecord {
  readonly lsn: number
  readonly payload: Uint8Array
}

/**
 * Reads the records of `segment` from `position` (a record start) up to `durable`: one batch, or
 * an empty one when no valid frame starts there (the cursor's `tailState` says why).
 */
const readBatch = (
  io: FileIo.FileIoService,
  handle: FileIo.Handle,
  segment: Segment,
  durable: number,
  position: number,
): Effect.Effect<{ readonly batch: Array<SegmentedRecord>; readonly cursor: Cursor.Cursor }, SegmentedError> =>
  Effect.gen(function* () {
    const localEnd = Math.min(durable, segment.baseLsn + segment.localEnd) - segment.baseLsn
    const cursor = Cursor.make(localEnd, position - segment.baseLsn)
    const batch: Array<SegmentedRecord> = []
    let batchBytes = 0
    const visit: Cursor.Visit = (lsn, window, start, end) => {
      batch.push({ lsn: segment.baseLsn + lsn, payload: window.slice(start, end) })
      batchBytes += end - start
      return batch.length < RECORDS_PER_BATCH_MAX && batchBytes < BATCH_BYTES_MAX
    }
    // Bounded by the segment: each turn reads more of it, yields, or stops.
    for (;;) {
      const stepped = Cursor.step(cursor, false, visit)
      if (batch.length > 0 || stepped === Cursor.STOPPED) break
      if (stepped === Cursor.NEED_BYTES) yield* fill(io, handle, cursor)
      else if (stepped === Cursor.TURN_SPENT) yield* Effect.yieldNow
    }
    return { batch, cursor }
  })

const truncatedUnder = (engine: Engine, position: number): NoRecordAt =>
  new NoRecordAt({
    lsn: position,
    firstLsn: engine.firstLsn,
    nextLsn: engine.nextLsn,
    reason: "the journal was truncated under the stream",
  })

export const records = (
  engine: Engine,
  options: { readonly from?: number | undefined; readonly follow?: boolean | undefined } = {},
): Stream.Stream<SegmentedRecord, SegmentedError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      let position = options.from ?? engine.firstLsn
      const follow = options.follow === true
      if (position < engine.nextLsn) yield* read(engine, position)
      else if (position !== engine.nextLsn) {
        return yield* new NoRecordAt({
          lsn: position,
          firstLsn: engine.firstLsn,
          nextLsn: engine.nextLsn,
          reason: "past the end of the journal",
        })
      }
      const scope = yield* Effect.scope
      const io = engine.config.io
      let opened: { readonly segment: Segment; readonly path: string; readonly handle: FileIo.Handle } | undefined

      const pullOnce: Effect.Effect<ReadonlyArray<SegmentedRecord> | undefined, SegmentedError> = Effect.gen(
        function* () {
          const durable = engine.syncedLsn
          if (position < engine.firstLsn || position > engine.nextLsn) return yield* truncatedUnder(engine, position)
          if (position >= durable) return undefined
          const segment = engine.segmentHolding(position)
          if (opened === undefined || opened.segment !== segment || opened.path !== segment.path) {
            if (opened !== undefined) yield* io.close(opened.handle)
            const handle = yield* Scope.provide(io.open(segment.path, { readOnly: true }), scope)
            opened = { segment, path: segment.path, handle }
          }
          const { batch, cursor } = yield* readBatch(io, opened.handle, segment, durable, position)
          // Retired while it was read (segments leave the list before their file is touched): the
          // bytes may be a recycled standby's, so they are not this segment's records.
          if (segment.baseLsn < engine.firstLsn) return yield* truncatedUnder(engine, position)
          const last = batch[batch.length - 1]
          if (last === undefined) {
            return yield* new NoRecordAt({
              lsn: position,
              firstLsn: engine.firstLsn,
              nextLsn: engine.nextLsn,
              reason: `the segment ${segment.path} has no valid frame there (${cursor.tailState})`,
            })
          }
          position = segment.baseLsn + cursor.position
          return batch
        },
      )

      const pull = Effect.gen(function* () {
        for (;;) {
          const batch = yield* pullOnce
          if (batch !== undefined) return batch as unknown as readonly [SegmentedRecord, ...Array<SegmentedRecord>]
          if (!follow) return yield* Cause.done()
          yield* Effect.sleep(FOLLOW_POLL_MILLIS)
        }
      })
      return Stream.fromPull(Effect.succeed(pull))
    }),
  )
