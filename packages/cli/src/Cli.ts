/**
 * The `fsys` command: the root command and its subcommands, and the one place where every
 * outcome becomes an exit code. A failure prints one line on stderr (`fsys <command>: <what went
 * wrong>`), never a stack trace:
 *
 * | exit | meaning |
 * |---|---|
 * | 0 | success (`verify`: the journal is clean) |
 * | 1 | the journal is damaged (`verify`), or a run failed (`demo`, `bench`, an IO error) |
 * | 2 | bad usage (bare `fsys` included: it prints the help), or a path that is not a readable journal (missing, directory, no permission, not a journal) |
 * | 130 | interrupted |
 *
 * @since 0.1.0
 */
import { Cause, Console, Effect, Exit, References } from "effect"
import { CliError, CliOutput, Command } from "effect/cli"
import * as Bench from "./commands/Bench.ts"
import * as Demo from "./commands/Demo.ts"
import * as Inspect from "./commands/Inspect.ts"
import * as Probe from "./commands/Probe.ts"
import * as Tail from "./commands/Tail.ts"
import * as Verify from "./commands/Verify.ts"
import * as Failure from "./internal/failure.ts"

/**
 * @since 0.1.0
 * @category constants
 */
export const VERSION = "0.1.0"

/**
 * The root command with every subcommand.
 *
 * @since 0.1.0
 * @category commands
 */
export const root = Command.make("fsys").pipe(
  Command.withDescription(
    "Durable, hardware-aware file IO and a write-ahead journal: inspect, verify, benchmark. " +
      "Exit codes: 0 success; 1 damaged journal or failed run; 2 bad usage or not a readable journal; 130 interrupted",
  ),
  Command.withSubcommands([Probe.command, Inspect.command, Verify.command, Tail.command, Demo.command, Bench.command]),
)

/** The failure of a bare `fsys` (help printed, exit 2). */
const BARE = Symbol.for("@fsys/cli/bare")

/**
 * Bad invocations print one line, not the whole help text: the user asked for something
 * specific, and `--help` is one flag away.
 */
const presenter = CliOutput.layerPresenter({
  present: (event) => {
    if (event._tag !== "InvalidInvocation") return CliOutput.defaultPresenter.present(event)
    const command = event.commandPath.join(" ")
    const first = event.errors[0]
    const message = first === undefined ? "invalid invocation" : first.message.split("\n")[0]
    return Console.error(`${command}: ${message} (see '${command} --help')`)
  },
})

const render = (failure: Failure.CliFailure, args: ReadonlyArray<string>) => {
  const command = args.find((arg) => !arg.startsWith("-"))
  return Console.error(`fsys${command === undefined ? "" : ` ${command}`}: ${failure.message}`)
}

/**
 * Runs the command line `args` (without the node and script paths) and returns the exit code.
 * Never fails: every failure is rendered as one line first.
 *
 * @since 0.1.0
 * @category running
 */
export const main = (args: ReadonlyArray<string>) =>
  // Bare `fsys` did nothing and exited 0: a script that forgot its subcommand must fail. The
  // help goes to stdout as for `--help`; the exit code says it was not a run.
  (args.length === 0
    ? Effect.andThen(Command.runWith(root, { version: VERSION })(["--help"]), Effect.fail(BARE))
    : Command.runWith(root, { version: VERSION })(args)
  ).pipe(
    Effect.provide(presenter),
    // Library log lines (e.g. which backend was chosen) are not command output; `--log-level`
    // lowers this for a run.
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    Effect.as(Failure.ExitCode.Ok as number),
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.succeed(130)
      const error = Cause.squash(cause)
      if (error === BARE) return Effect.succeed(Failure.ExitCode.Usage)
      // Parse errors were already presented (one line) by the presenter.
      if (CliError.isCliError(error)) {
        const parseErrors = error._tag === "ShowHelp" ? error.errors.length : 1
        return Effect.succeed(parseErrors === 0 ? Failure.ExitCode.Ok : Failure.ExitCode.Usage)
      }
      const failure = Failure.fromError(error)
      return Effect.as(render(failure, args), failure.exitCode)
    }),
  )

/**
 * The `NodeRuntime.runMain` teardown: exit with the code `main` returned.
 *
 * @since 0.1.0
 * @category running
 */
export const teardown = <E, A>(exit: Exit.Exit<A, E>, onExit: (code: number) => void): void => {
  if (Exit.isSuccess(exit)) onExit(typeof exit.value === "number" ? exit.value : 0)
  else onExit(Cause.hasInterruptsOnly(exit.cause) ? 130 : 1)
}
