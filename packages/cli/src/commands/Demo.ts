/**
 * `fsys demo` — the README's main job, in under a minute:
 *
 * 1. probe the disk under the temp directory;
 * 2. open a journal with the auto-selected backend (Direct where possible) and run many
 *    concurrent producers, each awaiting its own durability, with group commit and live progress;
 * 3. start a child writer on the same journal and SIGKILL it mid-stream;
 * 4. reopen (recovery), read every record back and check that every record acknowledged as
 *    durable — by the producers and by the killed child — is there, intact;
 * 5. print a summary: records/s, fdatasyncs, records per sync, backend, mode and why.
 *
 * Exit 0 when every acknowledged record verified, 1 otherwise.
 *
 * @since 0.1.0
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Console, Effect, Fiber, Option, Schedule } from "effect"
import { Command, Flag } from "effect/cli"
import { Capabilities, Journal, JournalReader } from "@fsys/core"
import * as CapabilitiesText from "../internal/capabilities.ts"
import * as CrashTest from "../internal/demo/crashTest.ts"
import * as Records from "../internal/demo/records.ts"
import * as Failure from "../internal/failure.ts"
import * as Format from "../internal/format.ts"
import * as Progress from "../internal/progress.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly producers: number
  readonly recordsPerProducer: number
  /** Keep the journal in this directory instead of a temp directory removed at the end. */
  readonly directory: string | undefined
}

/** Bounds that keep the demo a demo (seconds, not minutes). */
const PRODUCERS_MAX = 1024
const RECORDS_PER_PRODUCER_MAX = 100_000
/** The child is killed after this many acknowledged records… */
const KILL_AFTER_ACKS = 5_000
/** …or this long after it opened the journal. */
const KILL_AFTER_MILLIS = 1_500
const PROGRESS_PERIOD_MILLIS = 100

/**
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly journal: string
  readonly mode: string
  readonly directActive: boolean
  readonly backend: string
  readonly reason: string
  readonly producers: number
  readonly records: number
  readonly elapsedMillis: number
  readonly recordsPerSecond: number
  readonly fdatasyncs: number
  readonly recordsPerSync: number
  readonly childAcknowledged: number
  readonly childRecordsFound: number
  readonly recoveredRecords: number
  readonly verified: boolean
}

const workDirectory = (directory: string | undefined) =>
  directory !== undefined
    ? Effect.succeed(directory)
    : Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "fsys-demo-"))),
        (path) => Effect.promise(() => rm(path, { recursive: true, force: true })),
      )

const phaseGroupCommit = Effect.fnUntraced(function* (path: string, options: Options, progress: Progress.Progress) {
  const handle = yield* Journal.open(path)
  const info = yield* handle.info
  yield* Console.log(
    `2. journal ${path}\n   ${info.mode}${info.directActive ? " (O_DIRECT)" : ""} over ${info.backend}: ${info.reason}`,
  )
  const total = options.producers * options.recordsPerProducer
  let done = 0
  const startMillis = performance.now()
  const reporter = yield* Effect.forkChild(
    Effect.sync(() => {
      const seconds = (performance.now() - startMillis) / 1000
      progress.update(
        `   ${Progress.bar(done / total)} ${done}/${total} durable, ${Format.count(done / Math.max(seconds, 1e-3))} records/s`,
        true,
      )
    }).pipe(Effect.repeat(Schedule.spaced(PROGRESS_PERIOD_MILLIS))),
  )
  yield* Effect.forEach(
    Array.from({ length: options.producers }, (_, p) => p),
    (producer) =>
      Effect.gen(function* () {
        for (let seq = 0; seq < options.recordsPerProducer; seq++) {
          yield* handle.syncThrough(yield* handle.append(Records.order(producer, seq)))
          done++
        }
      }),
    { concurrency: "unbounded", discard: true },
  )
  const elapsedMillis = performance.now() - startMillis
  yield* Fiber.interrupt(reporter)
  progress.done()
  const stats = yield* handle.stats
  yield* handle.close
  const recordsPerSecond = (total * 1000) / elapsedMillis
  yield* Console.log(
    `   ${options.producers} producers × ${options.recordsPerProducer} records, each awaiting its own durability: ` +
      `${total} records in ${Format.millis(elapsedMillis)} = ${Format.count(recordsPerSecond)} records/s, ` +
      `${stats.fdatasyncs} fdatasyncs (${(total / Math.max(1, stats.fdatasyncs)).toFixed(1)} records per sync)`,
  )
  return { info, total, elapsedMillis, recordsPerSecond, fdatasyncs: stats.fdatasyncs }
})

/** Refuses sizes that would not make a demo (a usage error, exit 2). */
const checkOptions = (options: Options): Effect.Effect<void, Failure.CliFailure> => {
  if (!(Number.isInteger(options.producers) && options.producers >= 1 && options.producers <= PRODUCERS_MAX)) {
    return Effect.fail(Failure.usage(`--producers must be an integer in [1, ${PRODUCERS_MAX}]`))
  }
  if (
    !(
      Number.isInteger(options.recordsPerProducer) &&
      options.recordsPerProducer >= 1 &&
      options.recordsPerProducer <= RECORDS_PER_PRODUCER_MAX
    )
  ) {
    return Effect.fail(Failure.usage(`--records must be an integer in [1, ${RECORDS_PER_PRODUCER_MAX}]`))
  }
  return Effect.void
}

/** 1. What the disk can do (the probe is best effort: some hosts cannot answer). */
const phaseDisk = Effect.fnUntraced(function* (directory: string) {
  const capabilities = yield* Effect.option(Capabilities.probe(directory))
  yield* Console.log(`1. disk under ${directory}`)
  yield* Console.log(
    Option.match(capabilities, {
      onNone: () => "   (capability probe unavailable here)",
      onSome: (c) => CapabilitiesText.render(c, "   "),
    }),
  )
})

/** 3. A writer killed mid-stream: the records it acknowledged as durable before SIGKILL. */
const phaseCrash = Effect.fnUntraced(function* (path: string, progress: Progress.Progress) {
  yield* Console.log(`3. crash: a child process appends to the same journal; SIGKILL mid-stream`)
  const crash = yield* CrashTest.run(path, {
    killAfterAcks: KILL_AFTER_ACKS,
    killAfterMillis: KILL_AFTER_MILLIS,
    onAck: (count) => progress.update(`   child: ${count} records acknowledged durable`),
  })
  progress.done()
  yield* Console.log(
    `   killed (${crash.signal}) after ${Format.millis(crash.ranMillis)}, having acknowledged ${crash.acknowledged.length} durable records`,
  )
  return crash
})

/** What reading the recovered journal back found. */
interface Verification {
  readonly recoveredRecords: number
  readonly malformed: number
  readonly missingOrders: number
  readonly missingChild: ReadonlyArray<number>
  readonly childRecordsFound: number
  readonly verified: boolean
}

/** 4. Recover (reopen), read every record back and count what is missing or out of order. */
const phaseRecover = Effect.fnUntraced(function* (
  path: string,
  options: Options,
  producerRecords: number,
  crash: CrashTest.CrashResult,
) {
  const reopened = yield* Effect.scoped(Effect.flatMap(Journal.open(path), (handle) => handle.info))
  const orders = new Uint32Array(options.producers)
  const childFound = new Set<number>()
  let malformed = 0
  yield* JournalReader.scan(path, {
    onRecord: (_lsn, payload) => {
      const parsed = Records.parse(payload)
      if (parsed === undefined) malformed++
      else if (parsed.type === "child") childFound.add(parsed.id)
      else if (parsed.id === orders[parsed.producer])
        orders[parsed.producer]!++ // each producer's seqs in order
      else malformed++
    },
  })
  const missingOrders = orders.reduce((missing, count) => missing + (options.recordsPerProducer - count), 0)
  const missingChild = crash.acknowledged.filter((id) => !childFound.has(id))
  yield* Console.log(
    `4. recover: reopen scanned ${reopened.recoveredRecords} records` +
      (reopened.sidecarPath === undefined ? ", clean tail" : `, torn tail saved to ${reopened.sidecarPath}`),
  )
  yield* Console.log(
    `   ${producerRecords - missingOrders}/${producerRecords} producer records and ${crash.acknowledged.length - missingChild.length}/${crash.acknowledged.length} acknowledged child records found intact` +
      ` (${childFound.size} child records survived in all)`,
  )
  const verification: Verification = {
    recoveredRecords: reopened.recoveredRecords,
    malformed,
    missingOrders,
    missingChild,
    childRecordsFound: childFound.size,
    verified: malformed === 0 && missingOrders === 0 && missingChild.length === 0,
  }
  return verification
})

/** 5. The summary table, indented under its title. */
const renderSummary = (summary: Summary, childRecovered: number): string =>
  [
    "",
    "summary",
    Format.table([
      ["backend", `${summary.backend}, ${summary.mode}${summary.directActive ? " (O_DIRECT)" : ""}`],
      ["why", summary.reason],
      ["durable appends", `${Format.count(summary.recordsPerSecond)} records/s (${summary.producers} producers)`],
      ["fdatasyncs", `${summary.fdatasyncs} (${summary.recordsPerSync.toFixed(1)} records per sync)`],
      ["crash", `${summary.childAcknowledged} acknowledged before SIGKILL, ${childRecovered} recovered`],
      ["result", summary.verified ? "every acknowledged record recovered intact" : "RECORDS MISSING OR DAMAGED"],
    ])
      .split("\n")
      .map((line) => `  ${line}`)
      .join("\n"),
  ].join("\n")

/**
 * Runs the demo and returns its summary; fails when a durable record is missing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = Effect.fn("fsys.demo")(function* (options: Options) {
  yield* checkOptions(options)
  const directory = yield* workDirectory(options.directory)
  const path = join(directory, "demo.journal")
  const progress = Progress.make()
  yield* phaseDisk(directory)
  const phase = yield* Effect.scoped(phaseGroupCommit(path, options, progress))
  const crash = yield* phaseCrash(path, progress)
  const check = yield* phaseRecover(path, options, phase.total, crash)
  const summary: Summary = {
    journal: path,
    mode: phase.info.mode,
    directActive: phase.info.directActive,
    backend: phase.info.backend,
    reason: phase.info.reason,
    producers: options.producers,
    records: phase.total,
    elapsedMillis: phase.elapsedMillis,
    recordsPerSecond: phase.recordsPerSecond,
    fdatasyncs: phase.fdatasyncs,
    recordsPerSync: phase.total / Math.max(1, phase.fdatasyncs),
    childAcknowledged: crash.acknowledged.length,
    childRecordsFound: check.childRecordsFound,
    recoveredRecords: check.recoveredRecords,
    verified: check.verified,
  }
  yield* Console.log(renderSummary(summary, summary.childAcknowledged - check.missingChild.length))
  if (!check.verified) {
    return yield* Failure.failed(
      `verification failed: ${check.missingOrders} producer records missing, ${check.missingChild.length} acknowledged child records missing, ${check.malformed} malformed`,
    )
  }
  return summary
}, Effect.scoped)

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "demo",
  {
    producers: Flag.Int("producers").pipe(
      Flag.withDescription("Concurrent producers, each awaiting its own durability (default: 64)"),
      Flag.withDefault(64),
    ),
    records: Flag.Int("records").pipe(
      Flag.withDescription("Records per producer (default: 2000)"),
      Flag.withDefault(2000),
    ),
    dir: Flag.String("dir").pipe(
      Flag.withDescription("Keep the demo journal in this existing directory (default: a temp directory, removed)"),
      Flag.optional,
    ),
  },
  ({ producers, records, dir }) =>
    run({ producers, recordsPerProducer: records, directory: Option.getOrUndefined(dir) }).pipe(
      Effect.asVoid,
      Effect.mapError(Failure.fromError),
    ),
).pipe(
  Command.withDescription(
    "Probe the disk, run 64 producers with group commit, kill a writer mid-stream, recover and verify every acknowledged record",
  ),
)
