/**
 * TEMPORARY strict clean-end scan used until JournalReader's scanHandle lands (then deleted).
 */
import { Effect } from "effect"
import type { IoError } from "@fsys/native"
import type { FileIoService, Handle } from "../../FileIo.ts"
import * as Frame from "../../Frame.ts"

export type TailState = "CleanEnd" | "TruncatedHeader" | "TruncatedPayload" | "ChecksumMismatch" | "BadMagic" | "LengthOverflow"

export const scanHandle = (
  fileIo: FileIoService,
  handle: Handle,
  _options: { readonly legacyGaps: boolean },
): Effect.Effect<{ records: number; cleanEnd: number; tailState: TailState; fileSize: number }, IoError.IoError> =>
  Effect.gen(function* () {
    const fileSize = yield* fileIo.size(handle)
    const bytes = new Uint8Array(fileSize)
    yield* fileIo.readAt(handle, bytes, 0)
    let offset = 0
    let records = 0
    while (offset < fileSize) {
      if (bytes[offset] === 0) {
        let end = offset
        while (end < fileSize && bytes[end] === 0) end++
        return { records, cleanEnd: offset, tailState: end === fileSize ? "CleanEnd" : "TruncatedHeader", fileSize }
      }
      const decoded = Frame.decode(bytes, offset)
      if (decoded._tag !== "Ok") {
        const tailState: TailState =
          decoded._tag === "Truncated" ? (fileSize - offset < 8 ? "TruncatedHeader" : "TruncatedPayload") : decoded._tag
        return { records, cleanEnd: offset, tailState, fileSize }
      }
      offset += decoded.consumed
      records++
    }
    return { records, cleanEnd: offset, tailState: "CleanEnd", fileSize }
  })
