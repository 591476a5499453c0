/**
 * A stand-alone Direct-IO log buffer over its own file (what `LogBufferLive` serves): recover the
 * file's tail through the recovery module, validate the slot size against the alignment found,
 * then build the engine over the recovered handle. Everything is released with the Scope.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import * as FileIo from "../../FileIo.ts"
import type * as JournalError from "../../JournalError.ts"
import type { BackendChoice } from "../backend.ts"
import { openForAppend } from "../recovery/resume.ts"
import type { LogBufferCore } from "./core.ts"
import { make, validateCapacity } from "./make.ts"

export interface LiveOptions {
  readonly path: string
  readonly capacityBytes: number
  /** Defaults to the Direct-IO alignment of the open file. */
  readonly sectorBytes?: number
  readonly backend: BackendChoice
}

/** Opens (creating) `path` with O_DIRECT, resumes at its clean end and builds the engine there. */
export const openLive = Effect.fnUntraced(function* (
  options: LiveOptions,
): Effect.fn.Return<LogBufferCore, JournalError.JournalError, Scope.Scope> {
  const opened = yield* openForAppend(options.path, {
    mode: "direct",
    requireDirect: true,
    backend: options.backend,
    legacyGaps: false,
    ...(options.sectorBytes === undefined ? {} : { sectorBytes: options.sectorBytes }),
  })
  const invalid = validateCapacity(options.capacityBytes, opened.sectorBytes)
  if (invalid !== undefined) return yield* Effect.fail(invalid)
  return yield* make({
    handle: opened.handle,
    capacityBytes: options.capacityBytes,
    sectorBytes: opened.sectorBytes,
    startLsn: opened.cleanEnd,
    carry: opened.carry,
  }).pipe(Effect.provideService(FileIo.FileIo, opened.fileIo))
})
