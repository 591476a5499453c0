/**
 * Which FileIo layer a journal writes through, and why.
 *
 * The ambient `FileIo` (a `Context.Reference` whose default is the Node layer) decides unless the
 * journal's `backend` option asks for something else: an explicitly provided layer (the simulated
 * disk, a forced io_uring layer) is always respected; with the default Node layer and
 * `backend: "auto"` the journal builds its own io_uring ring when the kernel allows it. The
 * environment variable `FSYS_BACKEND=io_uring|pwrite` overrides "auto" (for tests and ops).
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import type { IoError } from "@fsys/native"
import * as FileIo from "../../FileIo.ts"
import { InvalidOptions } from "../../JournalError.ts"

export type BackendChoice = "auto" | "io_uring" | "pwrite"

export interface Selected {
  readonly fileIo: FileIo.FileIoService
  readonly reason: string
}

export const isBackendChoice = (value: unknown): value is BackendChoice =>
  value === "auto" || value === "io_uring" || value === "pwrite"

export const selectFileIo = Effect.fnUntraced(function* (
  choice: BackendChoice,
): Effect.fn.Return<Selected, IoError.IoError | InvalidOptions, FileIo.FileIo | Scope.Scope> {
  const ambient = yield* FileIo.FileIo
  if (ambient.backend === "simulated") return { fileIo: ambient, reason: ambient.reason }
  const fromEnvironment = process.env.FSYS_BACKEND
  const wanted = choice === "auto" && isBackendChoice(fromEnvironment) ? fromEnvironment : choice
  if (wanted === "auto" || wanted === ambient.backend) return { fileIo: ambient, reason: ambient.reason }
  if (wanted === "pwrite") return { fileIo: FileIo.nodeDefault(), reason: "pwrite forced by the backend option" }
  return yield* Effect.fail(new InvalidOptions({ option: "backend", reason: "io_uring is not available in this build" }))
})
