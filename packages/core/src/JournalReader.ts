/**
 * Reading a journal: find its clean end (`scan`), report what lies past damage (`survey`), or
 * stream its records (`records`), through the `FileIo` service — so the same reader runs over
 * Node, io_uring or the simulated disk.
 *
 * The clean end is where the valid log stops and a writer resumes. Scanning from offset 0:
 * - end of file, or a run of zeros reaching it (Direct-IO padding) → `CleanEnd` (at the run's start);
 * - a run of zeros followed by more bytes is a **hole** → `TruncatedHeader` at its start: nothing
 *   after a hole is replayed, so replay is always a prefix of what was appended;
 * - fewer than 8 bytes, or a frame running past the end of file → `TruncatedHeader` /
 *   `TruncatedPayload`; a bad magic, a length over `Frame.PAYLOAD_BYTES_MAX`, a CRC mismatch →
 *   `BadMagic` / `LengthOverflow` / `ChecksumMismatch`.
 *
 * `legacyGaps: true` also reads files written by fsys 1.1.0, whose Direct writer left zero gaps:
 * a zero run ending on a 512-byte boundary, at most 64 MiB long, is skipped when a valid frame
 * follows it (else the log ends at the run's start). It is opt-in because after a crash a lost
 * sector looks exactly like such a gap.
 *
 * Any file — random bytes, empty, huge length fields — gets a tail state, never a defect; a
 * directory or a missing file is an `IoError`. Reads are 4 MiB chunks; a length field never
 * drives an allocation larger than the bytes the file holds. The event loop gets a turn after
 * every 512 KiB checked (frames, zeros, or a slice of one large frame's CRC-32C), so a scan —
 * the journal's own recovery at open included — holds it about half a millisecond at a time.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { Stream } from "effect"
import type { IoError } from "@fsys/native"
import * as FileIo from "./FileIo.ts"
import type { InvalidOptions } from "./JournalError.ts"
import * as Records from "./internal/reader/records.ts"
import * as Scan from "./internal/reader/scan.ts"
import * as Survey from "./internal/reader/survey.ts"

/**
 * How the valid log ends.
 *
 * @since 0.1.0
 * @category models
 */
export type TailState = Scan.TailState

/**
 * The outcome of a scan.
 *
 * @since 0.1.0
 * @category models
 */
export type ScanResult = Scan.ScanResult

/**
 * @since 0.1.0
 * @category models
 */
export type ScanOptions = Scan.ScanOptions

/**
 * A run of consecutive intact frames found after the damage.
 *
 * @since 0.1.0
 * @category models
 */
export type IntactRun = Survey.IntactRun

/**
 * What lies after the first bad frame: the intact frames the next `Journal.open` would save to
 * its sidecar and cut from the journal.
 *
 * @since 0.1.0
 * @category models
 */
export type Damage = Survey.Damage

/**
 * A scan, plus (when the tail is not clean) a `damage` survey.
 *
 * @since 0.1.0
 * @category models
 */
export type SurveyResult = Survey.SurveyResult

/**
 * One record: its LSN (the frame's start offset) and a copy of its payload.
 *
 * @since 0.1.0
 * @category models
 */
export type JournalRecord = Records.JournalRecord

/**
 * - `from`: only records with `lsn ≥ from` (an LSN, typically a previous record's end or a scan's
 *   `cleanEnd`). The chain is still walked and verified from offset 0 — an offset cannot be
 *   trusted to be a frame boundary, since payloads may contain frame-shaped bytes — but earlier
 *   payloads are not copied. Not a boundary? Records start at the next one.
 * - `follow`: at the clean end, poll every `pollMillis` (default 100, 1–60000) and emit frames as
 *   they become complete and valid, until interrupted. Bytes after the clean end are re-read on
 *   each poll, because a Direct writer rewrites its last sector in place.
 *   **What a follower of the file sees:** records that reached the file, which is not the same as
 *   durable. A writer's flush puts records in the file before its fdatasync, so a follower can
 *   emit records that a power cut then takes back — and the writer's next open resumes at the
 *   recovered clean end, so *different* records may later appear at those same LSNs. A consumer
 *   that stores its position must treat what it read past the writer's last acknowledged sync as
 *   provisional. In the writer's own process, `Journal.Handle.records` emits only durable records.
 * - `legacyGaps`: as for `scan`.
 *
 * @since 0.1.0
 * @category models
 */
export type RecordsOptions = Records.RecordsOptions

/**
 * Finds the clean end of the journal at `path` (opened read-only, closed when done), counting
 * its valid records. `onRecord`, if given, sees each payload as a view valid during the call.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { JournalReader } from "@fsys/core"
 * const program = Effect.gen(function* () {
 *   const { records, cleanEnd, tailState } = yield* JournalReader.scan("app.log")
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const scan = (path: string, options: ScanOptions = {}): Effect.Effect<ScanResult, IoError.IoError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const fileIo = yield* FileIo.FileIo
      const handle = yield* fileIo.open(path, { readOnly: true })
      return yield* Scan.scanHandle(fileIo, handle, options)
    }),
  ).pipe(Effect.withSpan("JournalReader.scan", { attributes: { path } }))

/**
 * Scans an already open handle from offset 0 (what `Journal.open` uses to resume). The handle
 * must be a buffered one: the scan reads into ordinary memory, which O_DIRECT refuses.
 *
 * @since 0.1.0
 * @category constructors
 */
export const scanHandle: (
  fileIo: FileIo.FileIoService,
  handle: FileIo.Handle,
  options?: ScanOptions,
) => Effect.Effect<ScanResult, IoError.IoError> = Scan.scanHandle

/**
 * The valid records of the journal at `path`, in LSN order, ending at the clean end (or, with
 * `follow`, never). The file is opened read-only and closed when the stream ends.
 *
 * @since 0.1.0
 * @category constructors
 */
export const records: (
  path: string,
  options?: RecordsOptions,
) => Stream.Stream<JournalRecord, IoError.IoError | InvalidOptions> = Records.records

/**
 * Scans the journal at `path` like `scan` and, when the tail is not clean, also looks past the
 * first bad frame for frames that are still intact (a bounded resync search for the magic, a
 * plausible length and a matching CRC-32C, then a chain walk from each frame it finds). One
 * flipped byte mid-file stops the valid log there; `damage` says how many intact frames follow,
 * at which LSNs — the bytes that the next `Journal.open` saves to `<path>.corrupt-<cleanEnd>…`
 * and truncates. A CLI or an operator should look at them before opening the journal for write.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { JournalReader } from "@fsys/core"
 * const program = Effect.gen(function* () {
 *   const { tailState, damage } = yield* JournalReader.survey("app.log")
 *   if (damage !== undefined && damage.intactFrames > 0) {
 *     console.log(`${damage.intactFrames} intact frames after the damage at ${damage.firstBadLsn}`)
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const survey = (path: string, options: ScanOptions = {}): Effect.Effect<SurveyResult, IoError.IoError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const fileIo = yield* FileIo.FileIo
      const handle = yield* fileIo.open(path, { readOnly: true })
      return yield* Survey.surveyHandle(fileIo, handle, options)
    }),
  ).pipe(Effect.withSpan("JournalReader.survey", { attributes: { path } }))
