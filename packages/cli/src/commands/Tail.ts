/**
 * `fsys tail [-f] <journal>` — prints a journal's records, one per line, as UTF-8 text, hex or
 * JSON: the last 10 by default (like tail(1)), the last N with `-n N`, or every record from an
 * LSN with `--from` (`--from 0`: all). With `--follow` it keeps printing records as they reach
 * the file, until interrupted.
 *
 * What a follower in another process sees: records that reached the file, **not necessarily
 * durable**. A writer's flush puts bytes in the file before its fdatasync returns; after a power
 * cut those records may be gone, and the writer's reopen then writes different records at the
 * same LSNs. Only the writer knows its durable frontier (`Journal.Handle.records` follows it in
 * process). Keeping a position from `tail -f` across a crash needs that caveat.
 *
 * A damaged journal: the records before the damage are printed, then one line on stderr says
 * where the damage is (and how many intact frames follow it), and the exit code is 1, as for
 * `fsys verify`.
 *
 * Given a segmented journal's directory it prints the records across segments with global LSNs,
 * up to the first damage; `--follow` there follows the newest segment and moves to the next one
 * at each rotation (`internal/segmentedFollow.ts`), with the same caveat: the newest segment's
 * records may not be durable yet (every sealed segment's are).
 *
 * @since 0.1.0
 */
import { Console, Effect, Option, Stream } from "effect"
import * as Damage from "../internal/damage.ts"
import { Argument, Command, Flag } from "effect/cli"
import { JournalReader } from "@fsys/core"
import * as Failure from "../internal/failure.ts"
import { legacyGapsFlag } from "../internal/flags.ts"
import * as JournalFile from "../internal/journalFile.ts"
import * as Segmented from "../internal/segmented.ts"
import * as SegmentedFollow from "../internal/segmentedFollow.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type Encoding = "utf8" | "hex" | "json"

const decoder = new TextDecoder("utf-8", { fatal: true })

const utf8OrUndefined = (payload: Uint8Array): string | undefined => {
  try {
    return decoder.decode(payload)
  } catch {
    return undefined
  }
}

const hex = (payload: Uint8Array): string =>
  Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("hex")

/** A bound on `--lines` (the ring of LSNs it keeps). */
const MAX_LINES = 10_000_000
/** Records printed when neither `--lines` nor `--from` is given (tail(1)'s default). */
export const DEFAULT_LINES = 10

/** Control characters would break the one-record-per-line output: escape them. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/g

/**
 * One output line for a record.
 *
 * @since 0.1.0
 * @category utils
 */
export const formatRecord = (lsn: number, payload: Uint8Array, encoding: Encoding): string => {
  switch (encoding) {
    case "hex":
      return `${lsn}\t${hex(payload)}`
    case "utf8": {
      const text = utf8OrUndefined(payload)
      return text === undefined
        ? `${lsn}\t<${payload.length} bytes, not UTF-8: use --format hex>`
        : `${lsn}\t${text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}`
    }
    case "json": {
      // The same keys for every record, whatever its content: the bytes (base64) always, and
      // the text when the payload is UTF-8 (null otherwise). `jq '.utf8 | fromjson'` parses JSON payloads.
      const text = utf8OrUndefined(payload)
      return JSON.stringify({
        lsn,
        length: payload.length,
        payloadBase64: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("base64"),
        utf8: text ?? null,
      })
    }
  }
}

/** Where printing starts, and what the user should be told about it. */
interface Start {
  readonly lsn: number
  readonly notice: string | undefined
}

/**
 * Runs `scan` (a survey of the file, or of every segment) and finds the start: `--from`, else the
 * N-th record from the end (a ring of N LSNs: bounded memory however long the journal is).
 */
const findStart = <S extends { readonly cleanEnd: number }, E, R>(
  from: Option.Option<number>,
  lines: Option.Option<number>,
  scan: (onRecord: (lsn: number) => void) => Effect.Effect<S, E, R>,
) =>
  Effect.gen(function* () {
    if (Option.isSome(lines) && Option.isSome(from)) {
      return yield* Failure.usage("--from and --lines are exclusive (--from 0 prints every record)")
    }
    if (Option.isSome(lines) && !(lines.value >= 0 && lines.value <= MAX_LINES)) {
      return yield* Failure.usage(`--lines must be in [0, ${MAX_LINES}]`)
    }
    const keep = Option.isSome(from) ? 0 : Option.getOrElse(lines, () => DEFAULT_LINES)
    const fromLsn = Option.getOrUndefined(from)
    const ring = new Float64Array(Math.max(1, keep))
    let seen = 0
    /** The first record at or after `--from` (its LSN), -1 while none. */
    let firstFrom = -1
    /** The first record's LSN (a segmented journal's first segment need not start at 0). */
    let firstLsn = -1
    const result = yield* scan((lsn: number) => {
      if (firstLsn < 0) firstLsn = lsn
      if (keep > 0) ring[seen % keep] = lsn
      seen++
      if (fromLsn !== undefined && firstFrom < 0 && lsn >= fromLsn) firstFrom = lsn
    })
    let start: Start
    if (fromLsn !== undefined) {
      if (fromLsn < 0 || fromLsn > result.cleanEnd) {
        return yield* Failure.usage(`--from ${fromLsn} is outside the journal [0, ${result.cleanEnd}]`)
      }
      const lsn = firstFrom < 0 ? result.cleanEnd : firstFrom
      start = {
        lsn,
        // `--from 0` means every record, also when truncateFront dropped the first segments.
        notice:
          lsn === fromLsn || fromLsn === 0
            ? undefined
            : `--from ${fromLsn} is not a record boundary: starting at the next record, LSN ${lsn}` +
              (lsn === result.cleanEnd ? " (the end of the journal)" : ""),
      }
    } else {
      const oldest = Math.max(0, firstLsn)
      start = { lsn: keep === 0 ? result.cleanEnd : seen <= keep ? oldest : ring[seen % keep]!, notice: undefined }
    }
    return { start, scan: result }
  })

/** The single-file scan: checks the path first, then surveys it. */
const surveyFile = (journal: string, legacyGaps: boolean) => (onRecord: (lsn: number) => void) =>
  Effect.gen(function* () {
    const readable = yield* JournalFile.checkReadable(journal)
    const scan = yield* JournalReader.survey(journal, { legacyGaps, onRecord })
    if (JournalFile.isNotAJournal(readable, scan)) return yield* JournalFile.notAJournal(journal, scan.tailState)
    return scan
  })

/** `tail` on a segmented journal's directory: the records of the valid prefix, with global LSNs. */
const tailDirectory = Effect.fnUntraced(function* (
  journal: string,
  segments: ReadonlyArray<string>,
  options: { readonly follow: boolean; readonly format: Encoding; readonly legacyGaps: boolean },
  from: Option.Option<number>,
  lines: Option.Option<number>,
) {
  const { start, scan } = yield* findStart(from, lines, (onRecord) =>
    Segmented.survey(journal, segments, options.legacyGaps, onRecord),
  )
  if (start.notice !== undefined) yield* Console.error(`fsys tail: ${start.notice}`)
  // Only the newest segment's torn tail is something the writer repairs (as for a single file):
  // then follow, having said so. Sealed damage or a gap stops the journal: print up to it, exit 1.
  if (options.follow && scan.faults.every((fault) => fault.reason === "DamagedTail")) {
    if (!scan.clean) yield* Console.error(`fsys tail: ${journal}: ${scan.problems.join("; ")}`)
    const holding = scan.segments.filter((segment) => segment.baseLsn <= start.lsn).at(-1) ?? scan.segments[0]!
    return yield* SegmentedFollow.follow(
      journal,
      { baseLsn: holding.baseLsn, from: start.lsn },
      { legacyGaps: options.legacyGaps },
      (batch) =>
        batch.length === 0
          ? Effect.void
          : Console.log(batch.map((r) => formatRecord(r.lsn, r.payload, options.format)).join("\n")),
    )
  }
  yield* Stream.runForEachArray(Segmented.records(journal, scan, options.legacyGaps, start.lsn), (batch) =>
    batch.length === 0
      ? Effect.void
      : Console.log(batch.map((r) => formatRecord(r.lsn, r.payload, options.format)).join("\n")),
  )
  if (!scan.clean) {
    return yield* new Failure.CliFailure({
      message: `${journal}: ${scan.problems.join("; ")}; printed the ${scan.records} records before the first damage`,
      exitCode: Failure.ExitCode.Damaged,
    })
  }
})

const damageMessage = (journal: string, scan: JournalReader.SurveyResult): string => {
  const intact = scan.damage === undefined ? undefined : Damage.intactLine(Damage.report(scan.damage))
  return (
    `${journal}: damaged tail (${scan.tailState} at ${scan.cleanEnd}); printed the ${scan.records} records before it` +
    (intact === undefined ? "" : `; ${intact}`)
  )
}

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "tail",
  {
    journal: Argument.String("journal").pipe(
      Argument.withDescription("Path of the journal file, or of a segmented journal's directory"),
    ),
    follow: Flag.Boolean("follow").pipe(
      Flag.withAlias("f"),
      Flag.withDescription(
        "Keep printing records as they reach the file, until interrupted. Not necessarily durable: " +
          "after a power cut the writer may lose them and write different records at the same LSNs",
      ),
      Flag.withDefault(false),
    ),
    format: Flag.Literals("format", ["utf8", "hex", "json"]).pipe(
      Flag.withDescription(
        "How to print payloads; json: one object per line with lsn, length, payloadBase64, utf8 (null if not UTF-8) (default: utf8)",
      ),
      Flag.withDefault("utf8"),
    ),
    from: Flag.Int("from").pipe(
      Flag.withDescription(
        "Print every record from this LSN (0: all). Not a record boundary: starts at the next record, said on stderr",
      ),
      Flag.optional,
    ),
    lines: Flag.Int("lines").pipe(
      Flag.withAlias("n"),
      Flag.withDescription(`Print the last N records (default: ${DEFAULT_LINES}; with --follow: then keep following)`),
      Flag.optional,
    ),
    legacyGaps: legacyGapsFlag,
  },
  ({ journal, follow, format, from, lines, legacyGaps }) =>
    Effect.gen(function* () {
      const segments = yield* Segmented.listSegments(journal)
      if (segments !== undefined) {
        return yield* tailDirectory(journal, segments, { follow, format, legacyGaps }, from, lines)
      }
      const { start, scan } = yield* findStart(from, lines, surveyFile(journal, legacyGaps))
      if (start.notice !== undefined) yield* Console.error(`fsys tail: ${start.notice}`)
      const damaged = scan.tailState !== "CleanEnd"
      // Following a damaged file: say so now (the run ends only when interrupted).
      if (damaged && follow) yield* Console.error(`fsys tail: ${damageMessage(journal, scan)}`)
      const records = JournalReader.records(journal, { legacyGaps, follow, from: start.lsn })
      yield* Stream.runForEachArray(records, (batch) =>
        batch.length === 0
          ? Effect.void
          : Console.log(batch.map((r) => formatRecord(r.lsn, r.payload, format)).join("\n")),
      )
      if (damaged) {
        return yield* new Failure.CliFailure({
          message: damageMessage(journal, scan),
          exitCode: Failure.ExitCode.Damaged,
        })
      }
    }).pipe(Effect.mapError(Failure.fromError)),
).pipe(
  Command.withDescription(
    `Print records (utf8, hex or json): the last ${DEFAULT_LINES} by default, -n N, or --from LSN; ` +
      "--follow prints records as they reach the file (not necessarily durable), across rotations on a segmented " +
      "journal's directory, whose records print with global LSNs. Exit 1 on a damaged journal",
  ),
)
