/**
 * `fsys bench` — the same workloads, side by side, in one run: our journal (Direct over
 * io_uring, Direct over pwrite, Buffered) against node:fs done right and the libraries users pick
 * instead (node:sqlite, better-sqlite3, lmdb, classic-level), with the disk's ceiling measured in
 * the same run (`limit` for durable workloads, O_DIRECT bandwidth for 1 MiB records). Each
 * (workload, subject) pass runs in a fresh child process and reads every record back to verify it;
 * passes are interleaved (the subject order alternates) and each row is their median. Prints a
 * table per workload with ratios and the targets, and writes `results.json`, `results.svg` (the
 * chart) and `results.md` (tables) to `--out`.
 *
 * A peer that cannot be installed or loaded is reported as skipped with the reason.
 *
 * @since 0.1.0
 */
import { existsSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import type { Outcome, SubjectName, Workload } from "@fsys/bench/Protocol"
import { SUBJECTS_DEFAULT, runsIn, SUBJECTS } from "@fsys/bench/Protocol"
import * as Chart from "../internal/bench/chart.ts"
import * as Render from "../internal/bench/render.ts"
import * as Report from "../internal/bench/report.ts"
import * as Runner from "../internal/bench/runner.ts"
import * as Workloads from "../internal/bench/workloads.ts"
import * as Failure from "../internal/failure.ts"
import * as Format from "../internal/format.ts"
import * as Progress from "../internal/progress.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly quick: boolean
  /** Passes per (workload, subject) in a full run; each row is their median. */
  readonly repeat: number
  readonly only: ReadonlyArray<SubjectName>
  readonly workloads: ReadonlyArray<string> | undefined
  readonly outDirectory: string
  /** Where the (non-tmpfs) workloads' directories are created. */
  readonly root: string
  /** Overrides the timed phase of each workload (1 MiB records keep their multiple). */
  readonly durationMillis: number | undefined
  /** The command line, recorded in the results. */
  readonly command: string
}

const parseList = <A extends string>(
  text: string,
  known: ReadonlyArray<A>,
  what: string,
): Effect.Effect<Array<A>, Failure.CliFailure> => {
  const items = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
  const unknown = items.filter((s) => !known.includes(s as A))
  return unknown.length > 0
    ? Effect.fail(Failure.usage(`unknown ${what} ${unknown.join(", ")} (known: ${known.join(", ")})`))
    : Effect.succeed(items as Array<A>)
}

type Passes = Map<string, Array<Outcome>>
const key = (workload: Workload, subject: SubjectName): string => `${workload.name}\u0000${subject}`

/** Why tmpfs workloads cannot run here, or undefined when they can. */
const tmpfsUnavailable = (): string | undefined => {
  if (!existsSync(Runner.TMPFS_ROOT)) return `no ${Runner.TMPFS_ROOT}`
  const fs = Report.filesystemOf(Runner.TMPFS_ROOT)
  return fs === "tmpfs" ? undefined : `${Runner.TMPFS_ROOT} is ${fs}, not tmpfs`
}

/** What one bench run accumulates while its passes run, and its progress line. */
interface PassState {
  readonly options: Options
  readonly passes: Passes
  /** The O_DIRECT reference runs once per pass of the 1 MiB workload, interleaved with it. */
  readonly oDirect: Array<Outcome>
  readonly progress: Progress.Progress
  readonly startMillis: number
  readonly total: number
  done: number
}

const record = (state: PassState, workload: Workload, subject: SubjectName, outcome: Outcome): void => {
  state.passes.set(key(workload, subject), [...(state.passes.get(key(workload, subject)) ?? []), outcome])
}

const step = (state: PassState, what: string) =>
  Effect.sync(() => {
    state.progress.update(
      `bench ${Progress.bar(state.done / state.total)} ${state.done}/${state.total}  ${what}  (${Format.millis(performance.now() - state.startMillis)})`,
      true,
    )
  })

const reference = (state: PassState, workload: Workload) =>
  workload.name !== Report.LARGE_RECORDS_WORKLOAD
    ? Effect.void
    : Effect.map(
        Runner.runODirectReference(workload.maxRecords * workload.recordBytes, state.options.root),
        (outcome) => {
          state.oDirect.push(outcome)
        },
      )

/** A quick run: one process per subject for all its workloads (a smoke test, not a measurement). */
const runQuick = Effect.fnUntraced(function* (
  state: PassState,
  runnable: ReadonlyArray<Workload>,
  subjects: ReadonlyArray<SubjectName>,
) {
  for (const subject of subjects) {
    yield* step(state, `all workloads × ${subject}`)
    const group = runnable.filter((w) => runsIn(subject, w))
    const results = group.length === 0 ? [] : yield* Runner.runTask(subject, group, state.options.root)
    for (const [i, workload] of group.entries()) record(state, workload, subject, results[i]!)
    state.done++
  }
  for (const workload of runnable) yield* reference(state, workload)
})

/**
 * A full run: one process per pass of each pair. The subject order alternates on every pass, so
 * no subject always follows the same heavy writer (this VM's disk has a burst budget and
 * background writeback).
 */
const runFull = Effect.fnUntraced(function* (
  state: PassState,
  runnable: ReadonlyArray<Workload>,
  subjects: ReadonlyArray<SubjectName>,
) {
  const { repeat, root } = state.options
  for (const workload of runnable) {
    const here = subjects.filter((s) => runsIn(s, workload))
    for (let pass = 0; pass < repeat; pass++) {
      for (const subject of pass % 2 === 0 ? here : [...here].reverse()) {
        yield* step(state, `${workload.name} × ${subject} (pass ${pass + 1}/${repeat})`)
        const [outcome] = yield* Runner.runTask(subject, [workload], root)
        record(state, workload, subject, outcome!)
        state.done++
        if (!Progress.enabled())
          yield* Console.error(
            `[${state.done}/${state.total}] ${workload.name} × ${subject}: ${shown(workload, outcome!)}`,
          )
      }
      yield* reference(state, workload)
    }
  }
})

/**
 * Runs every pass (quick: `runQuick`, else `runFull`); tmpfs workloads are recorded as skipped
 * where /dev/shm is not tmpfs.
 */
const runPasses = Effect.fnUntraced(function* (
  options: Options,
  workloads: ReadonlyArray<Workload>,
  subjects: ReadonlyArray<SubjectName>,
) {
  const noTmpfs = tmpfsUnavailable()
  const runnable = workloads.filter((w) => !(w.onTmpfs && noTmpfs !== undefined))
  const state: PassState = {
    options,
    passes: new Map(),
    oDirect: [],
    progress: Progress.make(),
    startMillis: performance.now(),
    total: options.quick
      ? subjects.length
      : runnable.reduce((n, w) => n + subjects.filter((s) => runsIn(s, w)).length, 0) * options.repeat,
    done: 0,
  }
  for (const w of workloads) {
    if (w.onTmpfs && noTmpfs !== undefined) {
      for (const s of subjects.filter((s) => runsIn(s, w))) record(state, w, s, { _tag: "Skipped", reason: noTmpfs })
    }
  }
  if (options.quick) yield* runQuick(state, runnable, subjects)
  else yield* runFull(state, runnable, subjects)
  state.progress.done()
  const large = runnable.find((w) => w.name === Report.LARGE_RECORDS_WORKLOAD)
  const oDirectReference: Outcome =
    large === undefined
      ? { _tag: "Skipped", reason: "no large-record workload in this run" }
      : Report.summarize(large, state.oDirect)
  return { passes: state.passes, oDirectReference, oDirectPasses: state.oDirect }
})

const shown = (workload: Workload, outcome: Outcome): string =>
  outcome._tag === "Measured"
    ? `${Report.rate(workload, Report.throughput(workload, outcome.measurement))}, loop p99 ${outcome.measurement.eventLoopDelayP99Millis.toFixed(2)} ms`
    : `${outcome._tag.toLowerCase()}: ${outcome.reason}`

/**
 * Runs the bench and writes its results.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = Effect.fn("fsys.bench")(function* (options: Options) {
  const all = options.quick ? Workloads.quick : Workloads.full
  const chosen = options.workloads === undefined ? all : all.filter((w) => options.workloads!.includes(w.name))
  const workloads =
    options.durationMillis === undefined ? chosen : Workloads.withDuration(chosen, options.durationMillis)
  const subjects = SUBJECTS.filter((s) => options.only.includes(s))
  const startedAt = new Date().toISOString()
  const { passes, oDirectReference, oDirectPasses } = yield* runPasses(options, workloads, subjects)
  const summarized = workloads.flatMap((workload) =>
    subjects.flatMap((subject) => {
      const outcomes = passes.get(key(workload, subject))
      if (outcomes === undefined) return []
      const measuredPasses = outcomes.filter((o) => o._tag === "Measured").length
      return [
        {
          workload: workload.name,
          subject,
          outcome: Report.summarize(workload, outcomes),
          passes: measuredPasses,
          passOutcomes: outcomes,
        },
      ]
    }),
  )
  const rows = Report.rows(workloads, summarized, oDirectReference, oDirectPasses)
  const roots = [options.root, ...(workloads.some((w) => w.onTmpfs) ? [Runner.TMPFS_ROOT] : [])]
  const results: Report.Results = {
    tool: "fsys bench",
    startedAt,
    quick: options.quick,
    repeat: options.quick ? 1 : options.repeat,
    command: options.command,
    machine: Report.machine(roots.filter((r) => existsSync(r))),
    workloads,
    rows,
    passes: summarized.map((s) => ({ workload: s.workload, subject: s.subject, outcomes: s.passOutcomes })),
    oDirectReference,
    oDirectPasses,
    targets: Report.targets(workloads, rows),
  }
  const outDirectory = resolve(options.outDirectory)
  yield* Effect.tryPromise({
    try: async () => {
      await mkdir(outDirectory, { recursive: true })
      await writeFile(join(outDirectory, "results.json"), `${JSON.stringify(results, null, 2)}\n`)
      await writeFile(join(outDirectory, "results.svg"), Chart.svg(results))
      await writeFile(join(outDirectory, "results.md"), Render.markdown(results))
    },
    catch: (error) => Failure.failed(`cannot write results to ${outDirectory}: ${String(error)}`),
  })
  yield* Console.log(Render.text(results))
  yield* Console.log(`\nwrote results.json, results.svg and results.md to ${outDirectory}`)
  const failures = rows.filter((r) => r.outcome._tag === "Failed")
  if (failures.length > 0) {
    return yield* Failure.failed(
      `${failures.length} task(s) failed, first: ${failures[0]!.workload} × ${failures[0]!.subject}`,
    )
  }
  return results
})

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "bench",
  {
    quick: Flag.Boolean("quick").pipe(
      Flag.withDescription("Small counts and short durations (a smoke test, seconds)"),
      Flag.withDefault(false),
    ),
    only: Flag.String("only").pipe(
      Flag.withDescription(
        `Comma-separated subjects to run, of ${SUBJECTS.join(", ")} (default: all but better-sqlite3, which needs a native build, and fsys-buffered-overlap, an A/B subject)`,
      ),
      Flag.optional,
    ),
    workloads: Flag.String("workloads").pipe(
      Flag.withDescription("Comma-separated workload names to run (default all)"),
      Flag.optional,
    ),
    repeat: Flag.Int("repeat").pipe(
      Flag.withDescription(
        "Passes per workload and subject in a full run, order alternated each pass; rows show the median",
      ),
      Flag.withDefault(3),
    ),
    dir: Flag.String("dir").pipe(
      Flag.withDescription(
        "Directory under which the workloads write (default the OS temp dir; tmpfs workloads use /dev/shm)",
      ),
      Flag.optional,
    ),
    duration: Flag.Int("duration-ms").pipe(
      Flag.withDescription("Timed phase per workload pass in ms (default 2000; 1 MiB records get 4×)"),
      Flag.optional,
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription("Directory for results.json, results.svg and results.md"),
      Flag.withDefault("bench-results"),
    ),
  },
  ({ quick, only, workloads, out, repeat, dir, duration }) =>
    Effect.gen(function* () {
      const subjects = Option.isSome(only) ? yield* parseList(only.value, SUBJECTS, "subject") : [...SUBJECTS_DEFAULT]
      const names = Workloads.full.map((w) => w.name)
      const chosen = Option.isSome(workloads) ? yield* parseList(workloads.value, names, "workload") : undefined
      if (!Number.isInteger(repeat) || repeat < 1 || repeat > 10) {
        return yield* Failure.usage(`--repeat must be an integer from 1 to 10, got ${repeat}`)
      }
      if (
        Option.isSome(duration) &&
        !(Number.isInteger(duration.value) && duration.value >= 10 && duration.value <= 600_000)
      ) {
        return yield* Failure.usage(`--duration-ms must be an integer from 10 to 600000, got ${duration.value}`)
      }
      const root = Option.isSome(dir) ? resolve(dir.value) : Runner.defaultRoot()
      if (!existsSync(root)) return yield* Failure.usage(`--dir ${root} does not exist`)
      yield* run({
        quick,
        repeat,
        only: subjects,
        workloads: chosen,
        outDirectory: out,
        root,
        durationMillis: Option.getOrUndefined(duration),
        command: `fsys ${process.argv.slice(2).join(" ")}`,
      })
    }).pipe(Effect.mapError(Failure.fromError)),
).pipe(
  Command.withDescription(
    "Benchmark our journal against node:fs, node:sqlite, better-sqlite3, lmdb and classic-level, with the disk's ceiling in the same run; writes results.json, results.svg and results.md",
  ),
)
