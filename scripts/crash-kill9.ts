/**
 * Real process crashes: runs the writer child (scripts/crash-writer.ts) on a real file, SIGKILLs
 * it at a random moment, and checks what the file holds against what the child reported before
 * it died — then the next child reopens the same file, recovers and writes on, and so on.
 *
 *   node scripts/crash-kill9.ts --rounds 20 --mode both --seed 1
 *
 * Checked after every kill (CrashHarness.checkRecovery on an independent decode of the file):
 * every record below the last `D` (acknowledged durable) line is present and intact, in order;
 * what follows is a contiguous prefix of what the child submitted, nothing else; the next
 * child's open resumes exactly at the clean end with `syncedLsn` = clean end. A process crash
 * keeps the page cache, so this tests the journal's logic under concurrency and partial writes,
 * not power loss (that is the SimulatedDisk suites' job). Exit code 1 on any failure.
 */
import { spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { Frame, Journal } from "@fsys/core"
import { CrashHarness, Generators } from "@fsys/testkit"

/** The child script, run by the same Node binary that runs this one (Node 24). */
export const WRITER_SCRIPT = NodePath.join(NodePath.dirname(new URL(import.meta.url).pathname), "crash-writer.ts")
/** A child that has not opened its journal by then is broken. */
const READY_TIMEOUT_MILLIS = 30_000
/** A child that survives this long after SIGKILL (or after finishing) means a stuck test. */
const EXIT_TIMEOUT_MILLIS = 30_000

/**
 * What a writer child reported, rebuilt into the harness's model.
 */
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

/** Parses the complete lines of a writer's stdout (a partial last line is ignored). */
export const parseWriterLog = (text: string, epoch: number): WriterLog => {
  const lines = text.split("\n")
  lines.pop() // incomplete (or empty) after the last newline
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
        acked.set(number(4) - payload.length - Frame.OVERHEAD, payload)
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

/** Numbers each writer's log file within this process. */
let writerRuns = 0

/**
 * Runs the writer child. `killAfterMillis` (after its journal is open) SIGKILLs it; without it the
 * child runs to completion. `wrap` puts a command in front (strace). Resolves with its stdout.
 */
export const runWriter = (options: {
  readonly args: ReadonlyArray<string>
  readonly killAfterMillis?: number
  readonly wrap?: ReadonlyArray<string>
}): Promise<{
  readonly stdout: string
  readonly stderr: string
  readonly signal: string | null
  readonly code: number | null
}> =>
  new Promise((resolve, reject) => {
    const logPath = NodePath.join(NodeOs.tmpdir(), `fsys-crash-writer-${process.pid}-${++writerRuns}.log`)
    const command = [...(options.wrap ?? []), process.execPath, WRITER_SCRIPT, ...options.args, "--log", logPath]
    const child = spawn(command[0] as string, command.slice(1), { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let killTimer: NodeJS.Timeout | undefined
    const readyTimer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`writer not ready after ${READY_TIMEOUT_MILLIS} ms: ${stderr}`))
    }, READY_TIMEOUT_MILLIS)
    const exitTimer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`writer did not exit: ${stderr}`))
    }, READY_TIMEOUT_MILLIS + EXIT_TIMEOUT_MILLIS)
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      const wasReady = stdout.startsWith("R ") || stdout.includes("\nR ")
      stdout += chunk
      if (!wasReady && (stdout.startsWith("R ") || stdout.includes("\nR "))) {
        clearTimeout(readyTimer)
        if (options.killAfterMillis !== undefined) {
          killTimer = setTimeout(() => child.kill("SIGKILL"), options.killAfterMillis)
        }
      }
    })
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk
    })
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(readyTimer)
      clearTimeout(exitTimer)
      if (killTimer !== undefined) clearTimeout(killTimer)
      // The log file is the evidence; stdout only told us when the journal was open.
      let log = stdout
      try {
        log = NodeFs.readFileSync(logPath, "utf8")
        NodeFs.rmSync(logPath, { force: true })
      } catch {
        // The child died before opening its log: nothing was done, stdout is as empty.
      }
      resolve({ stdout: log, stderr, signal, code })
    })
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

export interface KillOptions {
  readonly mode: "direct" | "buffered"
  readonly rounds: number
  readonly seed: number
  readonly directory: string
  readonly writersMax?: number
  /** The kill lands uniformly in [10, killAfterMillisMax] ms after the journal opened. */
  readonly killAfterMillisMax?: number
}

export interface KillResult {
  readonly failures: ReadonlyArray<string>
  readonly summaries: ReadonlyArray<string>
}

/** Runs `rounds` writer children on one journal file, each killed; checks after each. */
export const runKillRounds = async (options: KillOptions): Promise<KillResult> => {
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
    const run = await runWriter({
      killAfterMillis,
      args: [
        ...["--path", path, "--mode", options.mode, "--backend", backend, "--epoch", String(round)],
        ...["--writers", String(writers), "--seed", String(options.seed * 1000 + round), "--records-max", "20000"],
      ],
    })
    const log = parseWriterLog(run.stdout, round)
    if (log.ready === undefined) {
      failures.push(`${context}: the writer never opened the journal: ${run.stderr.slice(0, 500)}`)
      break
    }
    if (log.ready.nextLsn !== cleanEnd || log.ready.syncedLsn !== cleanEnd) {
      failures.push(
        `${context}: reopened at next ${log.ready.nextLsn} synced ${log.ready.syncedLsn}, clean end ${cleanEnd}`,
      )
    }
    if (log.errors.length > 0) failures.push(`${context}: the writer saw errors: ${log.errors.slice(0, 3).join("; ")}`)
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
  // The last recovery, in this process, through the default (Node) FileIo.
  const resumed = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const journal = yield* Journal.open(path, { mode: options.mode })
        const next = yield* journal.nextLsn
        yield* journal.close
        return next
      }),
    ),
  ).catch((error: unknown) => `failed: ${String(error)}`)
  if (resumed !== cleanEnd)
    failures.push(`seed ${options.seed} ${options.mode}: final reopen at ${resumed}, clean end ${cleanEnd}`)
  return { failures, summaries }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "20" },
      mode: { type: "string", default: "both" },
      seed: { type: "string", default: "1" },
      verbose: { type: "boolean", default: false },
    },
  })
  const modes = values.mode === "both" ? (["buffered", "direct"] as const) : [values.mode as "direct" | "buffered"]
  const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-kill9-"))
  let failed = 0
  const started = performance.now()
  for (const mode of modes) {
    const result = await runKillRounds({ mode, rounds: Number(values.rounds), seed: Number(values.seed), directory })
    if (values.verbose) for (const summary of result.summaries) console.log(summary)
    for (const failure of result.failures) console.log(`FAIL ${failure}`)
    failed += result.failures.length
    console.log(`${mode}: ${result.summaries.length} kills, ${result.failures.length} failures`)
  }
  NodeFs.rmSync(directory, { recursive: true, force: true })
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  process.exit(failed === 0 ? 0 : 1)
}
