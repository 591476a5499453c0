/**
 * Checks the journal path a command was given before reading it, so that the common mistakes
 * (a typo, a directory, a file we may not read) get one precise line and exit code 2 instead of
 * an error from deep inside the reader.
 */
import { constants } from "node:fs"
import { access, stat } from "node:fs/promises"
import { Effect } from "effect"
import * as Failure from "./failure.ts"

const codeOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined

/**
 * Succeeds with the file's size when `path` is a regular file this process may read.
 */
export const checkReadable = (path: string): Effect.Effect<number, Failure.CliFailure> =>
  Effect.tryPromise({
    try: async () => {
      const stats = await stat(path)
      if (stats.isDirectory()) throw Failure.usage(`${path}: is a directory, expected a journal file`)
      if (!stats.isFile()) throw Failure.usage(`${path}: not a regular file`)
      await access(path, constants.R_OK)
      return stats.size
    },
    catch: (error) => {
      if (error instanceof Failure.CliFailure) return error
      switch (codeOf(error)) {
        case "ENOENT":
          return Failure.usage(`${path}: no such file`)
        case "EACCES":
        case "EPERM":
          return Failure.usage(`${path}: permission denied`)
        case "ENOTDIR":
          return Failure.usage(`${path}: a path component is not a directory`)
        default:
          return Failure.fromError(error)
      }
    },
  })

/** Tail states that mean the file does not start with a frame at all. */
const NOT_A_JOURNAL: ReadonlySet<string> = new Set(["BadMagic", "LengthOverflow"])

/**
 * A non-empty file with no valid frame at offset 0 whose first bytes are not even a frame header
 * is not a journal (as opposed to a journal whose first record was torn by a crash).
 */
export const isNotAJournal = (scan: { readonly cleanEnd: number; readonly fileSize: number; readonly tailState: string }): boolean =>
  scan.fileSize > 0 && scan.cleanEnd === 0 && NOT_A_JOURNAL.has(scan.tailState)

export const notAJournal = (path: string, tailState: string): Failure.CliFailure =>
  Failure.usage(`${path}: not an fsys journal (no frame at offset 0: ${tailState})`)
