/**
 * Opening a segmented journal's directory: take the lock, clear leftovers, finish an interrupted
 * `truncateBack`, read the checkpoint, and check the chain of sealed segments (building each one's
 * sparse index on the way). The newest segment is then opened by the single-file journal, whose
 * own recovery handles its torn tail (see `internal/recovery/resume.ts`).
 *
 * Recovery decisions:
 *
 * | what open finds                                        | what it does                                   |
 * |--------------------------------------------------------|------------------------------------------------|
 * | `standby.journal`, `recycled.journal`, `checkpoint.tmp`, `truncate-intent.tmp` | removes them: they never hold acknowledged data |
 * | `truncate-intent` (valid)                              | finishes the truncation (roll forward), then removes the marker |
 * | `truncate-intent` (damaged)                            | `SegmentDamaged(IntentDamaged)`, touches nothing |
 * | `checkpoint` (damaged)                                 | `SegmentDamaged(CheckpointDamaged)`            |
 * | no segment, no checkpoint                              | a new journal at LSN 0                         |
 * | no segment but a checkpoint                            | `SegmentDamaged(MissingSegment)`               |
 * | a sealed segment with a torn or corrupt tail           | `SegmentDamaged(SealedSegmentDamaged)`: never cut |
 * | a sealed segment ending before its successor's base    | `SegmentDamaged(MissingSegment)`               |
 * | a sealed segment ending after its successor's base     | `SegmentDamaged(BaseMismatch)`                 |
 * | zeros after a sealed segment's last frame              | kept (preallocation the seal did not cut yet)  |
 *
 * Why the rules are sound: a segment is renamed into place only after its predecessor was closed
 * (fully synced), so every sealed segment is durable through its successor's base whenever the
 * successor's name exists; anything else is damage, not a crash.
 *
 * @internal
 */
import * as NodePath from "node:path"
import { Effect } from "effect"
import type { IoError } from "@fsys/native"
import type * as FileIo from "../../FileIo.ts"
import { scanHandle } from "../reader/scan.ts"
import { type DamageReason, SegmentDamaged } from "./errors.ts"
import * as Names from "./names.ts"
import * as SmallFile from "./smallFile.ts"
import { SparseIndex } from "./sparseIndex.ts"

export interface Found {
  readonly baseLsn: number
  readonly path: string
}

export interface SealedScan {
  readonly baseLsn: number
  readonly path: string
  readonly endLsn: number
  readonly index: SparseIndex
}

export interface Recovered {
  /** Every segment but the newest, checked. */
  readonly sealed: ReadonlyArray<SealedScan>
  /** The newest segment (opened afterwards by `Journal.open`); created at LSN 0 when there is none. */
  readonly newest: Found
  readonly checkpoint: SmallFile.Control | undefined
}

const damaged = (directory: string, path: string, reason: DamageReason, detail: string) =>
  new SegmentDamaged({ directory, path, reason, detail })

const isNotFound = (error: IoError.IoError) => error.reason === "NotFound"

/** Lists the segments by base LSN, removing leftovers that never hold acknowledged data. */
const listSegments = Effect.fnUntraced(function* (io: FileIo.FileIoService, directory: string) {
  const names = yield* io.listDirectory(directory)
  let removed = false
  for (const leftover of [
    Names.STANDBY_NAME,
    Names.RECYCLED_NAME,
    Names.CHECKPOINT_TEMP_NAME,
    Names.INTENT_TEMP_NAME,
  ]) {
    if (!names.includes(leftover)) continue
    yield* io.remove(NodePath.join(directory, leftover)).pipe(Effect.catchIf(isNotFound, () => Effect.void))
    removed = true
  }
  if (removed) yield* io.syncDirectory(directory)
  const segments: Array<Found> = []
  for (const name of names) {
    const baseLsn = Names.parseSegmentName(name)
    if (baseLsn !== undefined) segments.push({ baseLsn, path: NodePath.join(directory, name) })
  }
  segments.sort((a, b) => a.baseLsn - b.baseLsn)
  return { segments, hasIntent: names.includes(Names.INTENT_NAME) }
})

/**
 * Cuts the log at `lsn`: deletes every segment that starts at or after it (keeping the first one
 * when `lsn` is its base), truncates the last kept segment to `lsn`, makes both durable. Idempotent,
 * so it is both `truncateBack`'s work and its roll-forward after a crash. Returns the kept segments.
 */
export const applyTruncation = Effect.fnUntraced(function* (
  io: FileIo.FileIoService,
  directory: string,
  segments: ReadonlyArray<Found>,
  lsn: number,
): Effect.fn.Return<ReadonlyArray<Found>, IoError.IoError | SegmentDamaged> {
  let kept = segments.filter((segment) => segment.baseLsn < lsn)
  if (kept.length === 0) kept = segments.filter((segment) => segment.baseLsn === lsn)
  const last = kept[kept.length - 1]
  if (last === undefined) {
    return yield* damaged(directory, directory, "IntentDamaged", `no segment holds LSN ${lsn}`)
  }
  const keepBytes = lsn - last.baseLsn
  yield* Effect.scoped(
    Effect.gen(function* () {
      const handle = yield* io.open(last.path)
      const size = yield* io.size(handle)
      if (size < keepBytes) {
        return yield* damaged(directory, last.path, "IntentDamaged", `truncation to LSN ${lsn} is past the file's end`)
      }
      yield* io.truncate(handle, keepBytes)
      yield* io.sync(handle)
    }),
  )
  // Newest first: the kept prefix is contiguous at every step (the intent covers the rest).
  for (const segment of [...segments].reverse()) {
    if (kept.includes(segment)) continue
    yield* io.remove(segment.path).pipe(Effect.catchIf(isNotFound, () => Effect.void))
  }
  yield* io.syncDirectory(directory)
  return kept
})

/** Scans one sealed segment, requiring a clean end exactly at `expectedEnd`. */
const checkSealed = Effect.fnUntraced(function* (
  io: FileIo.FileIoService,
  directory: string,
  segment: Found,
  expectedEnd: number,
): Effect.fn.Return<SealedScan, IoError.IoError | SegmentDamaged> {
  const index = new SparseIndex()
  const scan = yield* Effect.scoped(
    Effect.flatMap(io.open(segment.path, { readOnly: true }), (handle) =>
      scanHandle(io, handle, { onRecord: (lsn) => index.note(lsn) }),
    ),
  )
  const endLsn = segment.baseLsn + scan.cleanEnd
  if (scan.tailState !== "CleanEnd") {
    return yield* damaged(
      directory,
      segment.path,
      "SealedSegmentDamaged",
      `${scan.tailState} at offset ${scan.cleanEnd} of a sealed segment (its successor starts at LSN ${expectedEnd})`,
    )
  }
  if (endLsn < expectedEnd) {
    return yield* damaged(
      directory,
      segment.path,
      "MissingSegment",
      `the segment ends at LSN ${endLsn} but the next one starts at ${expectedEnd}`,
    )
  }
  if (endLsn > expectedEnd) {
    return yield* damaged(
      directory,
      segment.path,
      "BaseMismatch",
      `the segment ends at LSN ${endLsn}, past the next one's base ${expectedEnd}`,
    )
  }
  return { baseLsn: segment.baseLsn, path: segment.path, endLsn, index }
})

/** Everything open does before the newest segment is opened for appending. */
export const recover = Effect.fnUntraced(function* (
  io: FileIo.FileIoService,
  directory: string,
): Effect.fn.Return<Recovered, IoError.IoError | SegmentDamaged> {
  const listed = yield* listSegments(io, directory)
  let segments: ReadonlyArray<Found> = listed.segments
  if (listed.hasIntent) {
    const intentPath = NodePath.join(directory, Names.INTENT_NAME)
    const bytes = yield* SmallFile.readIfExists(io, intentPath)
    const intent = bytes === undefined ? "vanished while opening" : SmallFile.decode(SmallFile.INTENT_MAGIC, bytes)
    if (typeof intent === "string") return yield* damaged(directory, intentPath, "IntentDamaged", intent)
    segments = yield* applyTruncation(io, directory, segments, intent.lsn)
    yield* SmallFile.removeDurably(io, directory, Names.INTENT_NAME)
  }
  const checkpointPath = NodePath.join(directory, Names.CHECKPOINT_NAME)
  const checkpointBytes = yield* SmallFile.readIfExists(io, checkpointPath)
  let checkpoint: SmallFile.Control | undefined
  if (checkpointBytes !== undefined) {
    const decoded = SmallFile.decode(SmallFile.CHECKPOINT_MAGIC, checkpointBytes)
    if (typeof decoded === "string") return yield* damaged(directory, checkpointPath, "CheckpointDamaged", decoded)
    checkpoint = decoded
  }
  const newest = segments[segments.length - 1]
  if (newest === undefined) {
    if (checkpoint !== undefined) {
      return yield* damaged(
        directory,
        directory,
        "MissingSegment",
        `a checkpoint at LSN ${checkpoint.lsn} but no segment`,
      )
    }
    return { sealed: [], newest: { baseLsn: 0, path: Names.segmentPath(directory, 0) }, checkpoint }
  }
  const sealed: Array<SealedScan> = []
  for (let position = 0; position + 1 < segments.length; position++) {
    const segment = segments[position] as Found
    const successor = segments[position + 1] as Found
    sealed.push(yield* checkSealed(io, directory, segment, successor.baseLsn))
  }
  return { sealed, newest, checkpoint }
})
