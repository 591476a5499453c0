/**
 * `fsys verify <journal>` — reads every frame and checks its CRC-32C, with a progress bar on a
 * terminal, and says whether the journal is clean to its end.
 *
 * Exit code by result: 0 the journal is clean (every frame intact, nothing but zeros after the
 * last one); 1 the journal has a damaged or torn tail (the records before it are intact and are
 * what a reopen recovers); 2 it could not be verified (missing, a directory, unreadable, not a
 * journal, bad usage).
 *
 * On damage it also surveys the rest of the file (`JournalReader.survey`): intact frames after the
 * first bad one are reported with their LSNs, because the next open would cut them.
 *
 * Given a segmented journal's directory it verifies every segment, that each base follows its
 * predecessor's end, and the checkpoint's CRC; any of these failing is damage (exit 1).
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import { Argument, Command } from "effect/cli"
import { JournalReader } from "@fsys/core"
import * as Damage from "../internal/damage.ts"
import * as Failure from "../internal/failure.ts"
import { jsonFlag, legacyGapsFlag } from "../internal/flags.ts"
import * as Format from "../internal/format.ts"
import * as JournalFile from "../internal/journalFile.ts"
import * as Progress from "../internal/progress.ts"
import * as Segmented from "../internal/segmented.ts"
import { describeTail } from "./Inspect.ts"

/** Progress is reported once per this many records (the callback runs per record). */
const PROGRESS_EVERY_RECORDS = 4096

/**
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly path: string
  readonly clean: boolean
  readonly records: number
  readonly verifiedBytes: number
  readonly fileSizeBytes: number
  readonly cleanEnd: number
  readonly tailState: string
  readonly bytesAfterCleanEnd: number
  readonly elapsedMillis: number
  /** Present when the tail is damaged: what the survey found after the first bad frame. */
  readonly damage?: Damage.DamageReport
}

/**
 * Verifies the journal at `path`; `onProgress` receives the fraction of the file read.
 *
 * @since 0.1.0
 * @category constructors
 */
export const verify = Effect.fn("fsys.verify")(function* (
  path: string,
  legacyGaps: boolean,
  onProgress: (fraction: number, records: number) => void,
) {
  const readable = yield* JournalFile.checkReadable(path)
  const fileSizeBytes = readable.sizeBytes
  const startMillis = performance.now()
  // One pass: the scan decodes every frame and checks its CRC; the callback only reports progress.
  let seen = 0
  const scan = yield* JournalReader.survey(path, {
    legacyGaps,
    onRecord: (lsn) => {
      if (++seen % PROGRESS_EVERY_RECORDS === 0 && fileSizeBytes > 0) onProgress(lsn / fileSizeBytes, seen)
    },
  })
  if (JournalFile.isNotAJournal(readable, scan)) return yield* JournalFile.notAJournal(path, scan.tailState)
  const records = scan.records
  const result: Result = {
    path,
    clean: scan.tailState === "CleanEnd",
    records,
    verifiedBytes: scan.cleanEnd,
    fileSizeBytes: scan.fileSize,
    cleanEnd: scan.cleanEnd,
    tailState: scan.tailState,
    bytesAfterCleanEnd: scan.fileSize - scan.cleanEnd,
    elapsedMillis: performance.now() - startMillis,
    ...(scan.damage === undefined ? {} : { damage: Damage.report(scan.damage) }),
  }
  return result
})

const render = (result: Result): string => {
  const rate = result.elapsedMillis > 0 ? (result.verifiedBytes * 1000) / result.elapsedMillis : 0
  return [
    `${result.clean ? "ok" : "DAMAGED"}  ${result.path}`,
    `records   ${result.records} intact (${Format.bytes(result.verifiedBytes)} verified in ${Format.millis(result.elapsedMillis)}, ${Format.bandwidth(rate)})`,
    `tail      ${describeTail(result)}`,
    ...(result.damage === undefined
      ? []
      : [Damage.intactLine(result.damage)].flatMap((line) => (line === undefined ? [] : [`after     ${line}`]))),
  ].join("\n")
}

/** `verify` on a segmented journal's directory: every segment, the links between them, the checkpoint. */
const verifyDirectory = Effect.fnUntraced(function* (
  journal: string,
  segments: ReadonlyArray<string>,
  json: boolean,
  legacyGaps: boolean,
) {
  const startMillis = performance.now()
  const report = yield* Segmented.survey(journal, segments, legacyGaps)
  const elapsedMillis = performance.now() - startMillis
  if (json) yield* Console.log(JSON.stringify({ segmented: true, ...report, elapsedMillis }, null, 2))
  else {
    yield* Console.log(
      [
        `${report.clean ? "ok" : "DAMAGED"}  ${journal}`,
        `verified  ${report.segments.length} segments in ${Format.millis(elapsedMillis)}`,
        ...Segmented.renderSegments(report),
      ].join("\n"),
    )
  }
  if (!report.clean) {
    return yield* new Failure.CliFailure({
      message: `${journal}: ${report.problems.join("; ")}; ${report.records} records before the first damage are intact`,
      exitCode: Failure.ExitCode.Damaged,
    })
  }
})

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "verify",
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
      if (segments !== undefined) return yield* verifyDirectory(journal, segments, json, legacyGaps)
      const progress = Progress.make()
      const result = yield* verify(journal, legacyGaps, (fraction, records) =>
        progress.update(`verifying ${Progress.bar(fraction)} ${records} records`),
      ).pipe(Effect.ensuring(Effect.sync(progress.done)))
      yield* Console.log(json ? JSON.stringify(result, null, 2) : render(result))
      if (!result.clean) {
        const intact = result.damage?.intactFramesAfterDamage ?? 0
        return yield* new Failure.CliFailure({
          message:
            `${journal}: damaged tail (${result.tailState} at ${result.cleanEnd}); ${result.records} records before it are intact` +
            (intact > 0 ? `; ${intact} intact frames AFTER it would be cut by the next open` : ""),
          exitCode: Failure.ExitCode.Damaged,
        })
      }
    }).pipe(Effect.mapError(Failure.fromError)),
).pipe(
  Command.withDescription(
    "Check every frame's CRC-32C; on damage, also report intact frames after it (the next open would cut them). " +
      "A segmented journal's directory: every segment, gaps between them, the checkpoint. " +
      "Exit 0: clean; 1: damaged or torn tail (or a damaged segment or gap); 2: not a readable journal or bad usage",
  ),
)
