/**
 * Kill -9 rounds of the journal writer child (`journalWriter.ts`) on one real file: each child
 * reopens the file (recovering what the previous one left), writes, and is SIGKILLed at a random
 * moment; after each kill the file is decoded independently and checked against what the child
 * logged (`CrashHarness.checkRecovery`).
 *
 * A process crash keeps the page cache, so this tests the journal's logic under concurrency and
 * partial writes, not power loss (that is the SimulatedDisk suites' job).
 *
 * @internal
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { Frame, Journal } from "@fsys/core"
import * as CrashHarness from "../../CrashHarness.ts"
import * as Generators from "../../Generators.ts"
import * as Process from "./process.ts"

/** The writer child, next to this module (`.ts` in the sources, `.js` once built). */
export const JOURNAL_WRITER_SCRIPT = fileURLToPath(
  new URL(`./journalWriter${NodePath.extname(fileURLToPath(import.meta.url))}`, import.meta.url),
)

/** The segmented journal's writer child, next to this module too. */
export const SEGMENTED_WRITER_SCRIPT = fileURLToPath(
  new URL(`./segmentedWriter${NodePath.extname(fileURLToPath(import.meta.url))}`, import.meta.url),
)

/** What a writer child logged, rebuilt into the harness's model. */
export interface WriterLog {
  readonly ready: { readonly nextLsn: number; readonly syncedLsn: number; readonly description: string } | undefined
  readonly acked: Map<number, Uint8Array>
  readonly submitted: Map<string, Uint8Array>
  readonly durableLsn: number
  readonly errors: ReadonlyArray<string>
  readonly finished: boolean
  readonly closed: string | undefined
  readonly appended: number
}

/** Parses the writer's log lines (protocol in `journalWriter.ts`). */
export const parseWriterLog = (lines: ReadonlyArray<string>, epoch: number): WriterLog => {
  let ready: WriterLog["ready"]
  const acked = new Map<number, Uint8Array>()
  const submitted = new Map<string, Uint8Array>()
  const errors: Array<string> = []
  let durableLsn = 0
  let finished = false
  let closed: string | undefined
  let appended = 0
  for (const entry of lines) {
    const fields = entry.split(" ")
    const number = (index: number) => Number(fields[index])
    switch (fields[0]) {
      case "R":
        ready = { nextLsn: number(1), syncedLsn: number(2), description: fields.slice(3).join(" ") }
        break
      case "S": {
        const id = { epoch, writer: number(1), sequence: number(2) }
        submitted.set(Generators.recordKey(id), Generators.record(id, number(3)))
        break
      }
      case "A": {
        const payload = Generators.record({ epoch, writer: number(1), sequence: number(2) }, number(3))
        acked.set(number(4) - payload.length - Frame.OVERHEAD_BYTES, payload)
        appended++
        break
      }
      case "D":
        durableLsn = Math.max(durableLsn, number(1))
        break
      case "E":
        errors.push(fields.slice(1).join(" "))
        break
      case "Z":
        finished = true
        break
      case "C":
        closed = fields.slice(1).join(" ")
        break
      default:
        errors.push(`unparsable line: ${entry}`)
    }
  }
  return { ready, acked, submitted, durableLsn, errors, finished, closed, appended }
}

/** Runs the journal writer child with `args` (see `journalWriter.ts`). */
export const runWriter = (options: {
  readonly args: ReadonlyArray<string>
  readonly killAfterMillis?: number | undefined
  readonly wrap?: ReadonlyArray<string> | undefined
}): Effect.Effect<Process.Outcome, Process.ChildError> =>
  Process.run({
    script: JOURNAL_WRITER_SCRIPT,
    args: options.args,
    wrap: options.wrap,
    killAfterMillis: options.killAfterMillis,
  })

/**
 * The expectation for the file after a writer ran on top of `base` (the records checked before
 * it started, all durable since the writer's open synced them).
 */
export const expectationFor = (
  epoch: number,
  base: ReadonlyArray<CrashHarness.JournalRecord>,
  startLsn: number,
  log: WriterLog,
): CrashHarness.Expectation => ({
  epoch,
  base,
  startLsn,
  acked: log.acked,
  submitted: log.submitted,
  durableLsn: Math.max(log.durableLsn, log.ready?.syncedLsn ?? 0),
})

/** @internal */
export interface KillOptions {
  readonly mode: "direct" | "buffered"
  readonly rounds: number
  readonly seed: number
  readonly directory: string
  readonly writersMax?: number | undefined
  /** The kill lands uniformly in [10, killAfterMillisMax] ms after the journal opened. */
  readonly killAfterMillisMax?: number | undefined
}

/** @internal */
export interface KillResult {
  readonly failures: ReadonlyArray<string>
  readonly summaries: ReadonlyArray<string>
}

/** The journal as the next open sees it, reopened in this process through the default FileIo. */
const reopenedAt = (path: string, mode: "direct" | "buffered") =>
  Effect.scoped(
    Effect.gen(function* () {
      const journal = yield* Journal.open(path, { mode })
      const next = yield* journal.nextLsn
      yield* journal.close
      return next
    }),
  ).pipe(Effect.catchCause((cause) => Effect.succeed(`failed: ${String(cause)}`)))

/** Runs `rounds` writer children on one journal file, each killed; checks after each. */
export const runKillRounds = (options: KillOptions): Effect.Effect<KillResult, Process.ChildError> =>
  Effect.gen(function* () {
    const random = Generators.random(options.seed)
    const path = NodePath.join(options.directory, `kill9-${options.mode}-${options.seed}.log`)
    const failures: Array<string> = []
    const summaries: Array<string> = []
    let base: ReadonlyArray<CrashHarness.JournalRecord> = []
    let cleanEnd = 0
    for (let round = 1; round <= options.rounds; round++) {
      const writers = random.range(1, options.writersMax ?? 8)
      const killAfterMillis = random.range(10, options.killAfterMillisMax ?? 400)
      // Alternate the backends: io_uring (when "auto" gets it) and positional writes.
      const backend = round % 2 === 1 ? "auto" : "pwrite"
      const context = `seed ${options.seed} ${options.mode} round ${round} (${backend}, ${writers} writers, kill after ${killAfterMillis} ms)`
      const run = yield* runWriter({
        killAfterMillis,
        args: [
          ...["--path", path, "--mode", options.mode, "--backend", backend, "--epoch", String(round)],
          ...["--writers", String(writers), "--seed", String(options.seed * 1000 + round), "--records-max", "20000"],
        ],
      })
      const log = parseWriterLog(run.lines, round)
      if (log.ready === undefined) {
        failures.push(`${context}: the writer never opened the journal: ${run.stderr.slice(0, 500)}`)
        break
      }
      if (log.ready.nextLsn !== cleanEnd || log.ready.syncedLsn !== cleanEnd) {
        failures.push(
          `${context}: reopened at next ${log.ready.nextLsn} synced ${log.ready.syncedLsn}, clean end ${cleanEnd}`,
        )
      }
      if (log.errors.length > 0)
        failures.push(`${context}: the writer saw errors: ${log.errors.slice(0, 3).join("; ")}`)
      const decoded = CrashHarness.decodeJournal(new Uint8Array(NodeFs.readFileSync(path)))
      for (const violation of CrashHarness.checkRecovery(expectationFor(round, base, cleanEnd, log), decoded.records)) {
        failures.push(`${context}: ${violation}`)
      }
      summaries.push(
        `${context}: ${log.appended} appended, durable ${log.durableLsn}, file ${decoded.fileSize} B, ` +
          `clean end ${decoded.cleanEnd} (${decoded.tail} tail), ${run.signal ?? `exit ${run.code}`}, ${log.ready.description}`,
      )
      base = decoded.records
      cleanEnd = decoded.cleanEnd
    }
    const resumed = yield* reopenedAt(path, options.mode)
    if (resumed !== cleanEnd) {
      failures.push(`seed ${options.seed} ${options.mode}: final reopen at ${resumed}, clean end ${cleanEnd}`)
    }
    return { failures, summaries }
  })
