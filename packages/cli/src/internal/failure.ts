/**
 * How the fsys command fails: one clear line on stderr and an exit code by result, never a stack
 * trace. Every command turns what went wrong into a `CliFailure`; `Cli.main` renders it.
 *
 * Exit codes (documented in `fsys --help` and docs/ARCHITECTURE.md):
 * - 0: success (`verify`: the journal is clean to its end)
 * - 1: the journal is damaged (`verify`: a corrupt or torn tail), or the run failed
 *   (`demo`/`bench`: an IO failure or a record that did not verify)
 * - 2: bad usage or input that is not a readable journal (missing, a directory, no permission,
 *   not a journal at all)
 * - 130: interrupted (Ctrl-C)
 */
import { Data } from "effect"
import type { IoError } from "@fsys/native"

/**
 * @category models
 */
export const ExitCode = {
  Ok: 0,
  Damaged: 1,
  Failed: 1,
  Usage: 2,
} as const

/**
 * A failure the user sees as one line.
 *
 * @category errors
 */
export class CliFailure extends Data.TaggedError("CliFailure")<{
  readonly message: string
  readonly exitCode: number
}> {}

/** A usage or input problem: exit 2. */
export const usage = (message: string): CliFailure => new CliFailure({ message, exitCode: ExitCode.Usage })

/** A run that failed: exit 1. */
export const failed = (message: string): CliFailure => new CliFailure({ message, exitCode: ExitCode.Failed })

const ioReasonText: Partial<Record<IoError.Reason, string>> = {
  NotFound: "no such file or directory",
  PermissionDenied: "permission denied",
  IsDirectory: "is a directory, expected a journal file",
  NotDirectory: "a path component is not a directory",
  NoSpace: "no space left on device",
  Busy: "busy",
  TooManyOpenFiles: "too many open files",
}

/** Input problems: the user pointed us at the wrong thing. */
const usageReasons: ReadonlySet<string> = new Set(["NotFound", "PermissionDenied", "IsDirectory", "NotDirectory"])

interface TaggedLike {
  readonly _tag: string
  readonly message?: string
  readonly reason?: string
  readonly path?: string
  readonly syscall?: string
  readonly code?: string
}

/**
 * Turns any failure of a command into a `CliFailure`: `IoError` by its reason (input problems
 * exit 2), other tagged errors (JournalError) by their own message, anything else by its message.
 */
export const fromError = (error: unknown): CliFailure => {
  if (error instanceof CliFailure) return error
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const tagged = error as TaggedLike
    if (tagged._tag === "IoError" && tagged.reason !== undefined) {
      const text = ioReasonText[tagged.reason as IoError.Reason]
      const message =
        text === undefined
          ? `${tagged.path}: ${tagged.syscall} failed: ${tagged.code} (${tagged.reason})`
          : `${tagged.path}: ${text}`
      return new CliFailure({
        message,
        exitCode: usageReasons.has(tagged.reason) ? ExitCode.Usage : ExitCode.Failed,
      })
    }
    if (tagged._tag === "JournalLocked") {
      return new CliFailure({ message: tagged.message ?? "journal is locked", exitCode: ExitCode.Usage })
    }
    return failed(tagged.message !== undefined && tagged.message !== "" ? tagged.message : tagged._tag)
  }
  if (error instanceof Error) return failed(error.message.split("\n")[0] ?? error.name)
  return failed(String(error))
}
