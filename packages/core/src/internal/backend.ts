/**
 * Which FileIo layer a journal writes through, and why.
 *
 * An explicitly provided layer (the simulated disk, `FileIoAuto.layer`, a forced io_uring or
 * Node layer) is always respected when it matches the `backend` option. With the default Node
 * service and `backend: "auto"`, the journal builds its own io_uring ring (one per journal, held
 * by its Scope) when the kernel allows it, else stays on pwrite — `FileIoAuto` decides, honouring
 * `FSYS_BACKEND=io_uring|pwrite`, and says why.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import type { IoError } from "@fsys/native"
import * as FileIo from "../FileIo.ts"
import * as FileIoAuto from "../FileIoAuto.ts"
import type { InvalidOptions } from "../JournalError.ts"

/** Defined once, in `FileIoAuto` (the layer that resolves it). */
export type BackendChoice = FileIoAuto.BackendChoice

export interface Selected {
  readonly fileIo: FileIo.FileIoService
  readonly reason: string
}

export const isBackendChoice = FileIoAuto.isBackendChoice

export const selectFileIo = Effect.fnUntraced(function* (
  choice: BackendChoice,
): Effect.fn.Return<Selected, IoError.IoError | InvalidOptions, Scope.Scope> {
  const ambient = yield* FileIo.FileIo
  const provided = ambient !== FileIo.nodeDefault()
  if (ambient.backend === "simulated") return { fileIo: ambient, reason: ambient.reason }
  if (provided && (choice === "auto" || choice === ambient.backend)) return { fileIo: ambient, reason: ambient.reason }
  const fileIo = yield* FileIoAuto.make({ backend: choice })
  return { fileIo, reason: fileIo.reason }
})
