/**
 * The segmented journal's own typed errors (the single-file `JournalError`s apply as well).
 *
 * @internal
 */
import { Data } from "effect"

/**
 * Why a segmented journal's directory cannot be opened as it is. Recovery never "repairs" these:
 * they mean sealed data is missing or damaged, and cutting it silently would lose acknowledged
 * records.
 */
export type DamageReason =
  /** A sealed segment (not the newest) does not end cleanly exactly where its successor starts. */
  | "SealedSegmentDamaged"
  /** A segment's base LSN is not its predecessor's end (a segment is missing in between). */
  | "MissingSegment"
  /** A sealed segment ends past its successor's base (two segments claim the same LSNs). */
  | "BaseMismatch"
  /** The checkpoint file is not a valid checkpoint (it is only ever replaced atomically). */
  | "CheckpointDamaged"
  /** The truncate-intent marker is not valid, or names an LSN the segments do not hold. */
  | "IntentDamaged"
  /** A checkpoint or the directory names an LSN below the first segment or past the end. */
  | "LsnMismatch"

export class SegmentDamaged extends Data.TaggedError("SegmentDamaged")<{
  readonly directory: string
  readonly path: string
  readonly reason: DamageReason
  readonly detail: string
}> {
  override get message(): string {
    return `segmented journal ${this.directory}: ${this.reason} at ${this.path}: ${this.detail}`
  }
}

export class NoRecordAt extends Data.TaggedError("NoRecordAt")<{
  readonly lsn: number
  readonly firstLsn: number
  readonly nextLsn: number
  readonly reason: string
}> {
  override get message(): string {
    return `no record starts at LSN ${this.lsn} (journal holds [${this.firstLsn}, ${this.nextLsn})): ${this.reason}`
  }
}
