/**
 * Checks the journal path a command was given before reading it, so that the common mistakes
 * (a typo, a directory, a file we may not read) get one precise line and exit code 2 instead of
 * an error from deep inside the reader.
 */
import { constants } from "node:fs"
import { access, open, stat } from "node:fs/promises"
import { Effect } from "effect"
import * as Failure from "./failure.ts"

const codeOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined

/** The bytes every frame starts with: "FSY" + version 1. */
const MAGIC_BYTES = [0x46, 0x53, 0x59, 0x01] as const

/**
 * What `checkReadable` learned: the size, and whether the file's first bytes could begin a frame.
 */
export interface Readable {
  readonly sizeBytes: number
  /** False when the file starts with a non-zero byte that no frame starts with. */
  readonly startsLikeJournal: boolean
}

/**
 * Succeeds when `path` is a regular file this process may read.
 */
export const checkReadable = (path: string): Effect.Effect<Readable, Failure.CliFailure> =>
  Effect.tryPromise({
    try: async () => {
      const stats = await stat(path)
      if (stats.isDirectory()) {
        throw Failure.usage(
          `${path}: is a directory without segments (<20-digit base LSN>.journal), expected a journal file or a segmented journal's directory`,
        )
      }
      if (!stats.isFile()) throw Failure.usage(`${path}: not a regular file`)
      await access(path, constants.R_OK)
      const file = await open(path, "r")
      const head = new Uint8Array(MAGIC_BYTES.length)
      try {
        const { bytesRead } = await file.read(head, 0, head.length, 0)
        // A zero first byte is a hole (a lost first sector), which is damage, not a foreign file.
        const startsLikeJournal =
          bytesRead === 0 || head[0] === 0 || head.subarray(0, bytesRead).every((byte, i) => byte === MAGIC_BYTES[i])
        return { sizeBytes: stats.size, startsLikeJournal }
      } finally {
        await file.close()
      }
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

/**
 * A non-empty file with no valid frame at offset 0, whose first bytes are not even the start of
 * a frame header, is not a journal (as opposed to a journal whose first record was torn by a
 * crash, which starts with the magic, or lost its first sector, which starts with zeros).
 */
export const isNotAJournal = (
  readable: Readable,
  scan: { readonly cleanEnd: number; readonly fileSize: number; readonly tailState: string },
): boolean => scan.fileSize > 0 && scan.cleanEnd === 0 && scan.tailState !== "CleanEnd" && !readable.startsLikeJournal

export const notAJournal = (path: string, tailState: string): Failure.CliFailure =>
  Failure.usage(`${path}: not an fsys journal (no frame at offset 0: ${tailState})`)
