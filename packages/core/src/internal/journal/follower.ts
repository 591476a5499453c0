/**
 * The durable follower: `Journal.Handle.records`, a record stream bounded by the journal's
 * durable frontier (`syncedLsn`), never by what merely reached the file.
 *
 * Why not `JournalReader.records({ follow: true })`: it reads the file, which holds records that
 * were written but not yet made durable (a flush without its fdatasync, a Direct sector rewrite).
 * After a power cut those bytes may be gone, and different records may later be written at the
 * same LSNs, so a consumer that stored its position would silently skip or misread. Here the
 * walk may read only `[0, syncedLsn)`; every byte there was written and fdatasync'ed by this
 * journal, and a later flush rewrites the last sector with the same bytes below the frontier.
 *
 * Waking: the group-commit round that advances `syncedLsn` calls `Frontier.advance` (one shared
 * Deferred per wait, not per follower or per record, and nothing at all while no follower
 * waits). The wait is still bounded by `RECHECK_MILLIS`, after which the follower re-reads the
 * journal's state: a poisoned journal advances no frontier and sends no notification.
 *
 * The follower reads through the FileIo that was ambient when the journal opened (the Node
 * default, or the layer the caller provided), on its own read-only buffered handle: never through
 * the journal's own io_uring ring, which the journal's close releases while a follower may still
 * be emitting the last records.
 *
 * @internal
 */
import { Deferred, Effect, Exit, Stream } from "effect"
import { IoError } from "@fsys/native"
import type * as FileIo from "../../FileIo.ts"
import { JournalClosed, JournalPoisoned, type JournalError } from "../../JournalError.ts"
import * as Records from "../reader/records.ts"

/** A waiting follower re-checks the journal's state (poisoned, closed) at least this often. */
export const RECHECK_MILLIS = 1_000

/**
 * The journal's durable frontier as an event: `advance` after `syncedLsn` grew, `end` when the
 * journal closed (nothing will advance any more).
 *
 * @internal
 */
export class Frontier {
  private waiting: Deferred.Deferred<void> | undefined = undefined
  private endedValue = false

  get ended(): boolean {
    return this.endedValue
  }

  /** Wakes every waiting follower. O(1); free when nobody waits (the group-commit hot path). */
  advance(): void {
    const waiting = this.waiting
    if (waiting === undefined) return
    this.waiting = undefined
    Deferred.doneUnsafe(waiting, Exit.void)
  }

  end(): void {
    this.endedValue = true
    this.advance()
  }

  /** Resolves at the next `advance`/`end`, or after `RECHECK_MILLIS`. */
  readonly wait: Effect.Effect<void> = Effect.suspend(() => {
    if (this.endedValue) return Effect.void
    this.waiting ??= Deferred.makeUnsafe<void>()
    return Deferred.await(this.waiting).pipe(
      Effect.timeoutOption(RECHECK_MILLIS),
      // The waker runs us inside its own stack (the committer's round): hop to a new turn first.
      Effect.andThen(Effect.yieldNow),
    )
  })
}

/**
 * What the follower needs from the journal.
 *
 * @internal
 */
export interface Source {
  readonly path: string
  /** The FileIo ambient at open (not the journal's own ring). */
  readonly fileIo: FileIo.FileIoService
  readonly legacyGaps: boolean
  readonly frontier: Frontier
  readonly syncedLsn: () => number
  readonly poisonedBy: () => IoError.IoError | undefined
}

/**
 * @internal
 */
export interface FollowOptions {
  /** Only records with `lsn ≥ from` (verified from 0 all the same, as `JournalReader.records`). */
  readonly from?: number | undefined
  /** Keep emitting records as they become durable, until the journal closes. Default false. */
  readonly follow?: boolean | undefined
}

/** Bytes below the frontier that do not verify: the media returned something we did not write. */
const damagedBelowFrontier = (path: string, position: number, tailState: string, syncedLsn: number) =>
  new IoError.IoError({
    reason: "Io",
    syscall: "Journal.records",
    code: "EBADMSG",
    path,
    cause: `durable bytes below syncedLsn ${syncedLsn} do not verify: ${tailState} at ${position}`,
  })

/**
 * The durable records of the journal, in LSN order. Without `follow` it ends at the frontier as
 * of the call; with it, it ends when the journal closes (after the records the close made
 * durable) and fails with `JournalPoisoned` when the journal is poisoned.
 *
 * @internal
 */
export const records = (
  source: Source,
  options: FollowOptions,
  isClosed: () => boolean,
): Stream.Stream<Records.JournalRecord, JournalError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const from = options.from ?? 0
      const invalid = Records.validateFrom(from)
      if (invalid !== undefined) return yield* invalid
      if (isClosed()) return yield* new JournalClosed({ path: source.path })
      const follow = options.follow === true
      const { fileIo, frontier, path } = source
      const handle = yield* fileIo.open(path, { readOnly: true })
      // The bound the walk was last given: it must stop exactly there (every sync target is a
      // frame end), else the durable bytes read back damaged.
      let limit = source.syncedLsn()
      // Bounded: each turn returns a larger frontier, ends, fails, or waits ≤ RECHECK_MILLIS.
      const next = (position: number, tailState: string): Effect.Effect<number | undefined, JournalError> =>
        Effect.suspend(() => {
          if (position !== limit || tailState !== "CleanEnd") {
            return Effect.fail(damagedBelowFrontier(path, position, tailState, limit))
          }
          const synced = source.syncedLsn()
          if (synced > limit) {
            limit = synced
            return Effect.succeed(synced)
          }
          if (!follow || frontier.ended) return Effect.succeed(undefined)
          const poison = source.poisonedBy()
          if (poison !== undefined) return Effect.fail(new JournalPoisoned({ path, cause: poison }))
          return Effect.andThen(frontier.wait, next(position, tailState))
        })
      const bound: Records.Bound<JournalError> = { initial: Effect.sync(() => limit), next }
      return Records.walk(fileIo, handle, { from, legacyGaps: source.legacyGaps, zeroEndsScan: false }, bound)
    }),
  )
