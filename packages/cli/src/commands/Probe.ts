/**
 * `fsys probe [path]` — what the disk under `path` can do for a journal, and what a journal
 * opened there would really use: device and alignment, O_DIRECT, io_uring, write cache and FUA,
 * then the backend and mode the journal picks, with its reason. The journal decision is not
 * guessed from the capabilities: probe opens a scratch journal in that directory (and removes
 * it), so what it prints is what `Journal.open` does there.
 *
 * @since 0.1.0
 */
import { rm, stat } from "node:fs/promises"
import { dirname, join, resolve } from "node:path"
import { Console, Effect } from "effect"
import { Argument, Command } from "effect/cli"
import { Capabilities, Journal } from "@fsys/core"
import * as CapabilitiesText from "../internal/capabilities.ts"
import * as Failure from "../internal/failure.ts"
import { jsonFlag } from "../internal/flags.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly directory: string
  readonly capabilities: Capabilities.Capabilities
  readonly journal: {
    readonly mode: string
    readonly directActive: boolean
    readonly backend: string
    readonly sectorBytes: number
    readonly logBufferBytes: number
    readonly reason: string
  }
}

const directoryOf = (path: string): Effect.Effect<string, Failure.CliFailure> =>
  Effect.tryPromise({
    try: async () => {
      const absolute = resolve(path)
      const stats = await stat(absolute)
      return stats.isDirectory() ? absolute : dirname(absolute)
    },
    catch: () => Failure.usage(`${path}: no such file or directory`),
  })

/**
 * Probes the directory holding `path`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const probe = Effect.fn("fsys.probe")(function* (path: string) {
  const directory = yield* directoryOf(path)
  const capabilities = yield* Capabilities.probe(directory)
  const scratch = join(directory, `.fsys-probe-${process.pid}.journal`)
  const info = yield* Effect.scoped(Effect.flatMap(Journal.open(scratch), (handle) => handle.info)).pipe(
    Effect.ensuring(Effect.promise(() => rm(scratch, { force: true }))),
  )
  const report: Report = {
    directory,
    capabilities,
    journal: {
      mode: info.mode,
      directActive: info.directActive,
      backend: info.backend,
      sectorBytes: info.sectorBytes,
      logBufferBytes: info.logBufferBytes,
      reason: info.reason,
    },
  }
  return report
})

const render = (report: Report): string => {
  const j = report.journal
  const width = 13
  return [
    `disk under ${report.directory}`,
    CapabilitiesText.render(report.capabilities),
    "",
    "a journal opened here would use",
    `  ${"mode".padEnd(width)}  ${j.mode}${j.directActive ? " (O_DIRECT active)" : ""}`,
    `  ${"backend".padEnd(width)}  ${j.backend}`,
    `  ${"sector size".padEnd(width)}  ${j.sectorBytes} B`,
    `  ${"log buffer".padEnd(width)}  ${j.logBufferBytes / 1024} KiB per slot (two slots)`,
    `  ${"why".padEnd(width)}  ${j.reason}`,
  ].join("\n")
}

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "probe",
  {
    path: Argument.String("path").pipe(
      Argument.withDescription("A directory (or a file in it) where a journal would live (default: .)"),
      Argument.withDefault("."),
    ),
    json: jsonFlag,
  },
  ({ path, json }) =>
    probe(path).pipe(
      Effect.flatMap((report) => Console.log(json ? JSON.stringify(report, null, 2) : render(report))),
      Effect.mapError(Failure.fromError),
    ),
).pipe(
  Command.withDescription(
    "Report what the disk can do (alignment, O_DIRECT, io_uring, write cache/FUA) and what a journal there would use, and why",
  ),
)
