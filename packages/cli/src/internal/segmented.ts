/**
 * Reading a segmented journal's directory (docs/FORMAT.md, "Segmented journals") for `inspect`,
 * `verify` and `tail`, read-only: the segments by their names, each surveyed on its own with
 * `JournalReader.survey`, the checkpoint decoded and CRC-checked. Nothing is opened for write and
 * no lock is taken, so a live writer is not disturbed (what a reader sees of the newest segment
 * is what reached the file, not necessarily durable, as for a single file).
 *
 * The naming and checkpoint layout are re-implemented here from FORMAT.md rather than imported
 * from core's internal folder: the CLI only depends on core's public API.
 */
import { readdir, readFile } from "node:fs/promises"
import * as NodePath from "node:path"
import { Effect, Stream } from "effect"
import { Crc32c, JournalReader, type SegmentedJournal } from "@fsys/core"
import * as Damage from "./damage.ts"
import * as Failure from "./failure.ts"
import * as Format from "./format.ts"

const SEGMENT_PATTERN = /^(\d{20})\.journal$/
const CHECKPOINT_NAME = "checkpoint"
const INTENT_NAME = "truncate-intent"
const CHECKPOINT_MAGIC = "FSYSCKP1"
const CONTROL_HEADER_BYTES = 20
const CONTROL_TRAILER_BYTES = 4
/** FORMAT.md: a checkpoint's data is at most 1 MiB. */
const CHECKPOINT_DATA_BYTES_MAX = 1024 * 1024
/** A bound on the segments one run reads (a directory of millions of names is not a journal). */
const SEGMENTS_MAX = 1_000_000

/** One segment as the commands report it (also in `--json`). */
export interface SegmentReport {
  readonly name: string
  readonly baseLsn: number
  /** `baseLsn` + the segment's clean end: where its successor must start. */
  readonly endLsn: number
  readonly bytes: number
  /** Every segment but the newest is sealed: it must end cleanly at its successor's base. */
  readonly sealed: boolean
  readonly records: number
  readonly tailState: string
  /** Present when the segment's tail is damaged; LSNs in it are global. */
  readonly damage?: Damage.DamageReport
}

/**
 * One damage: the file it is in, a reason named as `SegmentedJournal.DamageReason` names it (what
 * the next open would fail with; `DamagedTail` for the newest segment's tail, which the open
 * saves to a sidecar and cuts), and a sentence.
 */
export interface Fault {
  readonly file: string
  readonly reason: SegmentedJournal.DamageReason | "DamagedTail"
  readonly message: string
}

/** What a directory holds; `problems` is empty when the journal is clean. */
export interface DirectoryReport {
  readonly path: string
  readonly segments: ReadonlyArray<SegmentReport>
  readonly checkpoint: { readonly lsn: number; readonly dataBytes: number } | null
  /** A `truncateBack` was in progress (the next open finishes it). */
  readonly truncateIntent: boolean
  /** Records in the valid prefix: up to the first damage or gap. */
  readonly records: number
  readonly payloadBytes: number
  readonly firstLsn: number | null
  readonly lastLsn: number | null
  /** The end of the valid prefix (global LSN). */
  readonly cleanEnd: number
  readonly clean: boolean
  /** One sentence per damage, each naming its segment (or the checkpoint). */
  readonly problems: ReadonlyArray<string>
  /** The same damage, structured. */
  readonly faults: ReadonlyArray<Fault>
}

const codeOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined

/**
 * The segment names in `path` sorted by base, or `undefined` when `path` is not a directory or
 * holds no segment (the caller then treats it as a file path and says what is wrong).
 */
export const listSegments = (path: string): Effect.Effect<ReadonlyArray<string> | undefined, Failure.CliFailure> =>
  Effect.tryPromise({
    try: async () => {
      const names = await readdir(path).catch((error: unknown) => {
        if (codeOf(error) === "ENOTDIR" || codeOf(error) === "ENOENT") return undefined
        throw error
      })
      if (names === undefined) return undefined
      const segments = names.filter((name) => SEGMENT_PATTERN.test(name)).sort()
      if (segments.length > SEGMENTS_MAX) throw Failure.usage(`${path}: more than ${SEGMENTS_MAX} segments`)
      return segments.length === 0 ? undefined : segments
    },
    catch: (error) => (error instanceof Failure.CliFailure ? error : Failure.fromError(error)),
  })

const baseOf = (name: string): number => Number(SEGMENT_PATTERN.exec(name)![1])

/** The checkpoint's LSN and size, or a sentence saying why the file is damaged (FORMAT.md layout). */
const decodeCheckpoint = (bytes: Uint8Array): { readonly lsn: number; readonly dataBytes: number } | string => {
  if (bytes.byteLength < CONTROL_HEADER_BYTES + CONTROL_TRAILER_BYTES) return `${bytes.byteLength} bytes is too short`
  for (let index = 0; index < CHECKPOINT_MAGIC.length; index++) {
    if (bytes[index] !== CHECKPOINT_MAGIC.charCodeAt(index)) return `bad magic (expected ${CHECKPOINT_MAGIC})`
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const lsn = view.getBigUint64(8, true)
  const dataBytes = view.getUint32(16, true)
  if (
    dataBytes > CHECKPOINT_DATA_BYTES_MAX ||
    CONTROL_HEADER_BYTES + dataBytes + CONTROL_TRAILER_BYTES !== bytes.byteLength
  ) {
    return `length field ${dataBytes} does not match the file's ${bytes.byteLength} bytes`
  }
  const crcAt = CONTROL_HEADER_BYTES + dataBytes
  if (view.getUint32(crcAt, true) !== Crc32c.compute(bytes.subarray(0, crcAt))) return "CRC mismatch"
  if (lsn > BigInt(Number.MAX_SAFE_INTEGER)) return `LSN ${lsn} is beyond 2^53`
  return { lsn: Number(lsn), dataBytes }
}

const readOptional = (path: string): Effect.Effect<Uint8Array | undefined, Failure.CliFailure> =>
  Effect.tryPromise({
    try: () =>
      readFile(path).then(
        (buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength),
        (error: unknown) => {
          if (codeOf(error) === "ENOENT") return undefined
          throw error
        },
      ),
    catch: Failure.fromError,
  })

const globalDamage = (damage: Damage.DamageReport, baseLsn: number): Damage.DamageReport => ({
  ...damage,
  firstBadLsn: baseLsn + damage.firstBadLsn,
  intactRuns: damage.intactRuns.map((run) => ({
    ...run,
    firstLsn: baseLsn + run.firstLsn,
    lastLsn: baseLsn + run.lastLsn,
  })),
})

/** A segment's base must be its predecessor's end; after a damaged segment its end is unknown. */
const linkFault = (name: string, baseLsn: number, previous: SegmentReport): Fault | undefined => {
  if (previous.tailState !== "CleanEnd" || baseLsn === previous.endLsn) return undefined
  return baseLsn > previous.endLsn
    ? {
        file: name,
        reason: "MissingSegment",
        message: `gap: starts at ${baseLsn} but ${previous.name} ends at ${previous.endLsn}`,
      }
    : {
        file: name,
        reason: "BaseMismatch",
        message: `base ${baseLsn} does not follow ${previous.name}, which ends at ${previous.endLsn}`,
      }
}

/** The checkpoint (or its damage) and whether a truncate intent is present. */
const readControls = Effect.fnUntraced(function* (path: string) {
  const checkpointBytes = yield* readOptional(NodePath.join(path, CHECKPOINT_NAME))
  const decoded = checkpointBytes === undefined ? undefined : decodeCheckpoint(checkpointBytes)
  const fault: Fault | undefined =
    typeof decoded === "string"
      ? { file: CHECKPOINT_NAME, reason: "CheckpointDamaged", message: `damaged (${decoded})` }
      : undefined
  const truncateIntent = (yield* readOptional(NodePath.join(path, INTENT_NAME))) !== undefined
  return { checkpoint: typeof decoded === "string" ? null : (decoded ?? null), fault, truncateIntent }
})

/** One segment's part of the report, its LSNs made global. */
const segmentReport = (
  name: string,
  baseLsn: number,
  sealed: boolean,
  scan: JournalReader.SurveyResult,
): SegmentReport => ({
  name,
  baseLsn,
  endLsn: baseLsn + scan.cleanEnd,
  bytes: scan.fileSize,
  sealed,
  records: scan.records,
  tailState: scan.tailState,
  ...(scan.damage === undefined ? {} : { damage: globalDamage(Damage.report(scan.damage), baseLsn) }),
})

/** The fault of a segment whose scan did not end clean: a damaged sealed segment or tail. */
const tailFault = (segment: SegmentReport): Fault => ({
  file: segment.name,
  reason: segment.sealed ? "SealedSegmentDamaged" : "DamagedTail",
  message: `${segment.sealed ? "damaged sealed segment" : "damaged tail"} (${segment.tailState} at ${segment.endLsn})`,
})

/**
 * Surveys every segment of `path` (names from `listSegments`). `onRecord` sees the records of
 * the valid prefix only, with global LSNs; segments after the first damage are still surveyed
 * for the report.
 */
export const survey = Effect.fn("fsys.segmented.survey")(function* (
  path: string,
  names: ReadonlyArray<string>,
  legacyGaps: boolean,
  onRecord: (lsn: number, payload: Uint8Array) => void = () => {},
) {
  const segments: Array<SegmentReport> = []
  const faults: Array<Fault> = []
  let inPrefix = true
  let records = 0
  let payloadBytes = 0
  let firstLsn: number | null = null
  let lastLsn: number | null = null
  let cleanEnd = baseOf(names[0]!)
  for (const [index, name] of names.entries()) {
    const baseLsn = baseOf(name)
    const sealed = index < names.length - 1
    const previous = segments.at(-1)
    const link = previous === undefined ? undefined : linkFault(name, baseLsn, previous)
    if (link !== undefined) {
      faults.push(link)
      inPrefix = false
    }
    const counting = inPrefix
    const scan = yield* JournalReader.survey(NodePath.join(path, name), {
      legacyGaps,
      onRecord: (lsn, payload) => {
        if (!counting) return
        records++
        payloadBytes += payload.length
        firstLsn ??= baseLsn + lsn
        lastLsn = baseLsn + lsn
        onRecord(baseLsn + lsn, payload)
      },
    })
    const segment = segmentReport(name, baseLsn, sealed, scan)
    segments.push(segment)
    if (counting) cleanEnd = segment.endLsn
    if (scan.tailState !== "CleanEnd") {
      faults.push(tailFault(segment))
      inPrefix = false
    }
  }
  const controls = yield* readControls(path)
  if (controls.fault !== undefined) faults.push(controls.fault)
  const report: DirectoryReport = {
    path,
    segments,
    checkpoint: controls.checkpoint,
    truncateIntent: controls.truncateIntent,
    records,
    payloadBytes,
    firstLsn,
    lastLsn,
    cleanEnd,
    clean: faults.length === 0,
    problems: faults.map((fault) => `${fault.file}: ${fault.message}`),
    faults,
  }
  return report
})

/** The segments whose records are the valid prefix: up to the first gap, through the first damage. */
const prefix = (report: DirectoryReport): ReadonlyArray<SegmentReport> => {
  const kept: Array<SegmentReport> = []
  for (const segment of report.segments) {
    const previous = kept.at(-1)
    if (previous !== undefined && (previous.tailState !== "CleanEnd" || segment.baseLsn !== previous.endLsn)) break
    kept.push(segment)
  }
  return kept
}

/**
 * The valid prefix's records from global LSN `from`, segment after segment (each segment's
 * chain is walked from its own offset 0, as `JournalReader.records` does).
 */
export const records = (path: string, report: DirectoryReport, legacyGaps: boolean, from: number) =>
  Stream.fromIterable(prefix(report).filter((segment) => segment.endLsn > from)).pipe(
    Stream.flatMap((segment) =>
      JournalReader.records(NodePath.join(path, segment.name), {
        legacyGaps,
        from: Math.max(0, from - segment.baseLsn),
      }).pipe(Stream.map((record) => ({ lsn: segment.baseLsn + record.lsn, payload: record.payload }))),
    ),
  )

/** The segment table and the directory's summary, as `inspect` and `verify` print them. */
export const renderSegments = (report: DirectoryReport): ReadonlyArray<string> => {
  const rows = [
    ["segment", "base LSN", "end LSN", "bytes", "sealed", "records", "tail"],
    ...report.segments.map((s) => [
      s.name,
      String(s.baseLsn),
      String(s.endLsn),
      String(s.bytes),
      s.sealed ? "yes" : "no",
      String(s.records),
      s.tailState,
    ]),
  ]
  const checkpoint =
    report.checkpoint === null ? "-" : `LSN ${report.checkpoint.lsn} (${report.checkpoint.dataBytes} B of data)`
  return [
    `journal      ${report.path} (segmented, ${report.segments.length} segments)`,
    `records      ${report.records} (payload ${report.payloadBytes} B)`,
    `first LSN    ${report.firstLsn ?? "-"}`,
    `last LSN     ${report.lastLsn ?? "-"}`,
    `clean end    ${report.cleanEnd}`,
    `checkpoint   ${checkpoint}`,
    ...(report.truncateIntent ? ["truncate     a truncateBack was in progress: the next open finishes it"] : []),
    ...report.problems.map((problem) => `DAMAGE       ${problem}`),
    ...report.segments.flatMap((s) => {
      const line = s.damage === undefined ? undefined : Damage.intactLine(s.damage)
      return line === undefined ? [] : [`after damage ${s.name}: ${line}`]
    }),
    Format.table(rows),
  ]
}
