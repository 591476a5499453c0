/**
 * The Direct handle a journal writes (and recovery reads) through, and the alignment it uses —
 * asked of the `FileIo` port on the open file (fsys bug FS-J7: probing before the file existed
 * read the wrong device, and 4Kn disks then refused the writes).
 *
 * The journal aligns to the device's physical sector when it is larger than the logical one
 * (`FileIo.journalAlignmentBytes`): every sync rewrites the partial last sector, which holds
 * acknowledged records, and on a 512e disk a 512-byte write there is a read-modify-write of the
 * 4 KiB physical sector inside the device, which a power cut can tear (docs/CRASH-SAFETY.md).
 * Whole physical sectors are sent by the host every time, so the device never rewrites bytes it
 * was not given.
 *
 * @since 0.1.0
 */
import { Effect, Exit, type Scope } from "effect"
import type { IoError } from "@fsys/native"
import * as FileIo from "../../FileIo.ts"

/** What to assume when the layer cannot say: 4096, which every device we support accepts. */
const FALLBACK_ALIGNMENT: FileIo.DirectAlignment = { offsetBytes: 4096, memoryBytes: 4096, physicalSectorBytes: 4096 }

export interface DirectHandle {
  readonly handle: FileIo.Handle
  /** What the journal's writes align to: the override, else the physical sector (≥ the DIO rules). */
  readonly sectorBytes: number
  /** What reads must align to (offset, length, memory): the DIO rules alone. */
  readonly readAlignmentBytes: number
}

export type DirectOpen =
  | { readonly _tag: "Opened"; readonly direct: DirectHandle }
  | { readonly _tag: "Refused"; readonly cause: IoError.IoError }

/** The Direct alignment the port reports for `handle`, or the fallback when it cannot tell. */
export const alignmentOf = (
  fileIo: FileIo.FileIoService,
  handle: FileIo.Handle,
): Effect.Effect<FileIo.DirectAlignment> =>
  Effect.orElseSucceed(fileIo.directAlignment(handle), () => FALLBACK_ALIGNMENT)

/**
 * Opens `path` with O_DIRECT in the caller's Scope. A filesystem that refuses O_DIRECT (EINVAL)
 * gives `Refused`; other failures fail.
 */
export const openDirect = Effect.fnUntraced(function* (
  fileIo: FileIo.FileIoService,
  path: string,
  sectorBytesOverride: number | undefined,
): Effect.fn.Return<DirectOpen, IoError.IoError, Scope.Scope> {
  const opened = yield* Effect.exit(fileIo.open(path, { direct: true }))
  if (Exit.isFailure(opened)) {
    const reason = opened.cause.reasons.find((r) => r._tag === "Fail")
    if (reason?._tag === "Fail" && reason.error.reason === "InvalidArgument") {
      return { _tag: "Refused", cause: reason.error }
    }
    return yield* Effect.failCause(opened.cause)
  }
  const alignment = yield* alignmentOf(fileIo, opened.value)
  const readAlignmentBytes = FileIo.journalAlignmentBytes({ ...alignment, physicalSectorBytes: 0 })
  return {
    _tag: "Opened",
    direct: {
      handle: opened.value,
      sectorBytes: sectorBytesOverride ?? FileIo.journalAlignmentBytes(alignment),
      readAlignmentBytes,
    },
  }
})
