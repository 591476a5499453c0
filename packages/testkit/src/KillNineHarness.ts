/**
 * Real process crashes: run a child process that writes a journal, SIGKILL it mid-stream, and
 * check what survived against what the child said it had done — one implementation for the
 * test suites, `scripts/crash-kill9.ts`, `scripts/crash-strace.ts` and `fsys demo`; and the
 * strace run that injects an fdatasync EIO into that child (`runStraceEio`).
 *
 * The protocol, in two halves:
 * - **child** (`childLog`): every step is logged with a synchronous write(2) to a log file
 *   *before* the child goes on (for an acknowledgement: after `syncThrough` returned), and echoed
 *   to stdout. A completed write(2) survives SIGKILL in the page cache, so a line in the file was
 *   written before the step it describes — what a checker needs.
 * - **parent** (`run`): spawns the child with this Node binary (`--log <file>` appended to its
 *   arguments), waits for its ready line, SIGKILLs it after a time or when an echoed line says so,
 *   and only after the child is gone reads the log *file*. The stdout echo is used for timing and
 *   progress only, never as evidence: a pipe write can sit in Node's user-space buffer when the
 *   pipe is full and die with the process (seen under CI load, fixed in a4e9a43 for the scripts;
 *   the demo read its acknowledgements from the pipe until this module).
 *
 * For the journal itself, `runKillRounds` runs the packaged writer child (`runWriter`: concurrent
 * writers appending `Generators.record`s and syncing some) round after round on one file and
 * checks each kill with `CrashHarness.checkRecovery`.
 *
 * @since 0.1.0
 */
import * as ChildLogImpl from "./internal/killNine/childLog.ts"
import * as Process from "./internal/killNine/process.ts"
import * as Rounds from "./internal/killNine/rounds.ts"
import * as Strace from "./internal/killNine/strace.ts"

/**
 * What to run and when to kill it.
 *
 * @since 0.1.0
 * @category models
 */
export type RunOptions = Process.RunOptions

/**
 * How a child run ended, with the complete lines of its log file.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = Process.Outcome

/**
 * The child could not be started, never printed its ready line, or did not exit in time (it was
 * SIGKILLed in each case).
 *
 * @since 0.1.0
 * @category errors
 */
export const ChildError = Process.ChildError

/**
 * @since 0.1.0
 * @category errors
 */
export type ChildError = Process.ChildError

/**
 * The child side's log.
 *
 * @since 0.1.0
 * @category models
 */
export type ChildLog = ChildLogImpl.ChildLog

/**
 * The journal writer child's log, parsed.
 *
 * @since 0.1.0
 * @category models
 */
export type WriterLog = Rounds.WriterLog

/**
 * @since 0.1.0
 * @category models
 */
export type KillOptions = Rounds.KillOptions

/**
 * Failures (empty when every kill checked out) and one summary line per round.
 *
 * @since 0.1.0
 * @category models
 */
export type KillResult = Rounds.KillResult

/**
 * Runs a child script (see the module comment). Interrupting the effect SIGKILLs the child.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KillNineHarness } from "@fsys/testkit"
 * const outcome = Effect.runPromise(
 *   KillNineHarness.run({ script: "writer.ts", args: ["/tmp/j.log"], readyPrefix: "ready", killAfterMillis: 200 }),
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = Process.run

/**
 * The child side: opens the log the parent named (`logPathFrom(process.argv)`); without one it
 * only echoes to stdout.
 *
 * @since 0.1.0
 * @category constructors
 */
export const childLog: (path: string | undefined) => ChildLog = ChildLogImpl.open

/**
 * The log path `run` appended to the child's arguments.
 *
 * @since 0.1.0
 * @category utils
 */
export const logPathFrom: (argv: ReadonlyArray<string>) => string | undefined = ChildLogImpl.logPathFrom

/**
 * The packaged journal writer child (its arguments: see its header; run it with `runWriter`).
 *
 * @since 0.1.0
 * @category constants
 */
export const JOURNAL_WRITER_SCRIPT: string = Rounds.JOURNAL_WRITER_SCRIPT

/**
 * Runs the journal writer child once (`wrap` puts a command such as strace in front).
 *
 * @since 0.1.0
 * @category constructors
 */
export const runWriter = Rounds.runWriter

/**
 * Parses the journal writer child's log lines for `epoch`.
 *
 * @since 0.1.0
 * @category utils
 */
export const parseWriterLog = Rounds.parseWriterLog

/**
 * What the file must hold after a writer ran on top of `base`, for `CrashHarness.checkRecovery`.
 *
 * @since 0.1.0
 * @category utils
 */
export const expectationFor = Rounds.expectationFor

/**
 * `rounds` writer children on one file, each SIGKILLed at a random moment, each kill checked.
 *
 * @since 0.1.0
 * @category constructors
 */
export const runKillRounds = Rounds.runKillRounds

/**
 * Why strace cannot be used here (not installed, or ptrace refused), or undefined when it can.
 *
 * @since 0.1.0
 * @category utils
 */
export const straceUnavailable: () => string | undefined = Strace.straceUnavailable

/**
 * @since 0.1.0
 * @category models
 */
export type StraceOptions = Strace.StraceOptions

/**
 * @since 0.1.0
 * @category models
 */
export type StraceResult = Strace.StraceResult

/**
 * The fdatasync calls strace's log shows on the failed call's descriptor after the injected EIO
 * (a journal must never retry one).
 *
 * @since 0.1.0
 * @category utils
 */
export const retriesAfterInjection = Strace.retriesAfterInjection

/**
 * Runs the journal writer child under strace with its nth fdatasync failing with EIO, then checks
 * that the journal poisoned itself, never retried the fdatasync, and recovers every record
 * acknowledged durable before the failure.
 *
 * @since 0.1.0
 * @category constructors
 */
export const runStraceEio: (options: StraceOptions) => Promise<StraceResult> = Strace.runStraceEio
