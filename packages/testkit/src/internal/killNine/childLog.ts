/**
 * The child side of a kill -9 run: a log whose every line is on its way to the file (a
 * completed synchronous write(2)) before the caller goes on, echoed to stdout for the parent's
 * timing. See `process.ts` for why the file, not the pipe, is the evidence.
 *
 * @internal
 */
import * as NodeFs from "node:fs"
import { LOG_FLAG } from "./process.ts"

/** @internal */
export interface ChildLog {
  /** Writes one line (no newline in `text`) to the log, then echoes it. */
  readonly line: (text: string) => void
  /** Writes several lines with one write(2). */
  readonly lines: (texts: ReadonlyArray<string>) => void
}

/** The log path the parent appended to the child's arguments, if any. */
export const logPathFrom = (argv: ReadonlyArray<string>): string | undefined => {
  const index = argv.lastIndexOf(LOG_FLAG)
  return index < 0 ? undefined : argv[index + 1]
}

/**
 * Opens the log at `path` (append). Without a path (a child run by hand) it only echoes.
 */
export const open = (path: string | undefined): ChildLog => {
  const fd = path === undefined ? undefined : NodeFs.openSync(path, "a")
  const write = (text: string) => {
    // The file first, synchronously: the parent's evidence of what this process did.
    if (fd !== undefined) NodeFs.writeSync(fd, text)
    process.stdout.write(text)
  }
  return {
    line: (text) => write(`${text}\n`),
    lines: (texts) => {
      if (texts.length > 0) write(`${texts.join("\n")}\n`)
    },
  }
}
