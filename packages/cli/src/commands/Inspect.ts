/**
 * `fsys inspect <journal>` — what is in a journal: records, bytes, the clean end and the state of
 * the tail, the first and last LSN, and a histogram of record sizes. Reads only; changes nothing.
 * On a damaged tail it also says whether intact frames follow the first bad one (and that the
 * next open would save them to its sidecar and cut them). Given a segmented journal's directory,
 * it lists the segments, the checkpoint and the first/last LSN, and names each damaged segment.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import { Argument, Command } from "effect/cli"
import { Frame, JournalReader } from "@fsys/core"
import * as Damage from "../internal/damage.ts"
import * as Failure from "../internal/failure.ts"
import * as Format from "../internal/format.ts"
import * as JournalFile from "../internal/journalFile.ts"
import { jsonFlag, legacyGapsFlag } from "../internal/flags.ts"
import * as Segmented from "../internal/segmented.ts"

/**
 * What `inspect` reports (also its `--json` output).
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly path: string
  readonly fileSizeBytes: number
  readonly records: number
  readonly payloadBytes: number
  readonly frameBytes: number
  readonly firstLsn: number | null
  readonly lastLsn: number | null
  readonly cleanEnd: number
  readonly tailState: string
  /** Bytes after the clean end: zero padding (Direct mode) or a damaged tail. */
  readonly bytesAfterCleanEnd: number
  readonly minRecordBytes: number | null
  readonly maxRecordBytes: number | null
  /** Record sizes in power-of-two ranges, the non-empty ones in ascending order. */
  readonly sizeHistogram: ReadonlyArray<SizeBucket>
  /** Present when the tail is damaged: what the survey found after the first bad frame. */
  readonly damage?: Damage.DamageReport
}

/**
 * One range of the size histogram: `records` payloads of `minBytes`…`maxBytes` bytes.
 *
 * @since 0.1.0
 * @category models
 */
export interface SizeBucket {
  readonly minBytes: number
  readonly maxBytes: number
  readonly records: number
}

/**
 * Reads the journal at `path` and summarises it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const inspect = Effect.fn("fsys.inspect")(function* (path: string, legacyGaps: boolean) {
  const readable = yield* JournalFile.checkReadable(path)
  const sizeHistogram = new Array<number>(Format.HISTOGRAM_BUCKETS).fill(0)
  let payloadBytes = 0
  let firstLsn: number | null = null
  let minRecordBytes: number | null = null
  let maxRecordBytes: number | null = null
  // One pass: the scan checks every frame and hands each payload (a view) to this callback.
  const scan = yield* JournalReader.survey(path, {
    legacyGaps,
    onRecord: (lsn, payload) => {
      const size = payload.length
      payloadBytes += size
      firstLsn ??= lsn
      minRecordBytes = minRecordBytes === null ? size : Math.min(minRecordBytes, size)
      maxRecordBytes = maxRecordBytes === null ? size : Math.max(maxRecordBytes, size)
      sizeHistogram[Format.bucketOf(size)]!++
    },
  })
  if (JournalFile.isNotAJournal(readable, scan)) return yield* JournalFile.notAJournal(path, scan.tailState)
  const records = scan.records
  const lastLsn = scan.lastLsn ?? null
  const report: Report = {
    path,
    fileSizeBytes: scan.fileSize,
    records,
    payloadBytes,
    frameBytes: payloadBytes + records * Frame.OVERHEAD_BYTES,
    firstLsn,
    lastLsn,
    cleanEnd: scan.cleanEnd,
    tailState: scan.tailState,
    bytesAfterCleanEnd: scan.fileSize - scan.cleanEnd,
    minRecordBytes,
    maxRecordBytes,
    sizeHistogram: sizeHistogram.flatMap((records, bucket) => {
      if (records === 0) return []
      const { minBytes, maxBytes } = Format.bucketRange(bucket)
      return [{ minBytes, maxBytes, records }]
    }),
    ...(scan.damage === undefined ? {} : { damage: Damage.report(scan.damage) }),
  }
  return report
})

/**
 * How the tail reads to a person.
 *
 * @since 0.1.0
 * @category utils
 */
export const describeTail = (report: Pick<Report, "tailState" | "cleanEnd" | "bytesAfterCleanEnd">): string => {
  if (report.tailState === "CleanEnd") {
    return report.bytesAfterCleanEnd === 0
      ? "clean: the last record ends the file"
      : `clean: followed by ${Format.bytes(report.bytesAfterCleanEnd)} of zeros (sector padding or preallocation)`
  }
  return (
    `${report.tailState} at ${report.cleanEnd}: ${Format.bytes(report.bytesAfterCleanEnd)} after the clean end ` +
    `would be saved to <journal>.corrupt-${report.cleanEnd} and truncated by the next open`
  )
}

const render = (report: Report): string => {
  const mean = report.records === 0 ? 0 : report.payloadBytes / report.records
  const lines = [
    `journal      ${report.path}`,
    `file size    ${Format.bytes(report.fileSizeBytes)} (${report.fileSizeBytes} B)`,
    `records      ${report.records} (payload ${Format.bytes(report.payloadBytes)}, frames ${Format.bytes(report.frameBytes)})`,
    `first LSN    ${report.firstLsn ?? "-"}`,
    `last LSN     ${report.lastLsn ?? "-"}`,
    `clean end    ${report.cleanEnd} (next append goes here)`,
    `tail         ${describeTail(report)}`,
  ]
  const intact = report.damage === undefined ? undefined : Damage.intactLine(report.damage)
  if (intact !== undefined) lines.push(`after damage ${intact}`)
  if (report.records > 0) {
    lines.push(
      `record size  min ${Format.bytes(report.minRecordBytes ?? 0)}, mean ${Format.bytes(Math.round(mean))}, max ${Format.bytes(report.maxRecordBytes ?? 0)}`,
    )
    lines.push("size histogram (records per size range)")
    lines.push(Format.histogram(report.sizeHistogram))
  }
  return lines.join("\n")
}

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "inspect",
  {
    journal: Argument.String("journal").pipe(
      Argument.withDescription("Path of the journal file, or of a segmented journal's directory"),
    ),
    json: jsonFlag,
    legacyGaps: legacyGapsFlag,
  },
  ({ journal, json, legacyGaps }) =>
    Effect.gen(function* () {
      const segments = yield* Segmented.listSegments(journal)
      if (segments !== undefined) {
        // A segmented journal's directory: damage is shown, not fatal, as for a file.
        const report = yield* Segmented.survey(journal, segments, legacyGaps)
        return yield* Console.log(
          json ? JSON.stringify({ segmented: true, ...report }, null, 2) : Segmented.renderSegments(report).join("\n"),
        )
      }
      const report = yield* inspect(journal, legacyGaps)
      yield* Console.log(json ? JSON.stringify(report, null, 2) : render(report))
    }).pipe(Effect.mapError(Failure.fromError)),
).pipe(
  Command.withDescription(
    "Summarise a journal: records, bytes, clean end, tail state (and intact frames after damage), LSNs, record sizes; " +
      "a segmented journal's directory: its segments (base/end LSN, bytes, sealed, damage), checkpoint, first/last LSN",
  ),
)
