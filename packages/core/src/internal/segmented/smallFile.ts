/**
 * Small control files (the checkpoint and the truncate intent): one record each, replaced
 * atomically, checked by CRC when read.
 *
 * Layout (little-endian):
 *
 * ```
 * offset  size  field
 * 0       8     magic: "FSYSCKP1" (checkpoint) or "FSYSTRB1" (truncate intent)
 * 8       8     LSN (an integer ≤ 2^53 − 1)
 * 16      4     data length N (≤ DATA_BYTES_MAX)
 * 20      N     data
 * 20+N    4     CRC-32C of bytes [0, 20+N)
 * ```
 *
 * Replacement is the classic sequence: write `<name>.tmp`, fsync it, rename it over `<name>`,
 * fsync the directory. After a power cut at any point the name holds the old record or the new
 * one, never a mix, and the record is durable once the directory fsync returned.
 *
 * @internal
 */
import * as NodePath from "node:path"
import { Effect } from "effect"
import type { IoError } from "@fsys/native"
import * as Crc32c from "../../Crc32c.ts"
import type * as FileIo from "../../FileIo.ts"

export const CHECKPOINT_MAGIC = "FSYSCKP1"
export const INTENT_MAGIC = "FSYSTRB1"
const HEADER_BYTES = 20
const TRAILER_BYTES = 4
/** A checkpoint's data is a small blob (a state-machine position, a snapshot id), not a snapshot. */
export const DATA_BYTES_MAX = 1024 * 1024
const FILE_BYTES_MAX = HEADER_BYTES + DATA_BYTES_MAX + TRAILER_BYTES

export interface Control {
  readonly lsn: number
  readonly data: Uint8Array
}

export const encode = (magic: string, control: Control): Uint8Array => {
  const bytes = new Uint8Array(HEADER_BYTES + control.data.byteLength + TRAILER_BYTES)
  const view = new DataView(bytes.buffer)
  for (let index = 0; index < 8; index++) bytes[index] = magic.charCodeAt(index)
  view.setBigUint64(8, BigInt(control.lsn), true)
  view.setUint32(16, control.data.byteLength, true)
  bytes.set(control.data, HEADER_BYTES)
  const crcAt = HEADER_BYTES + control.data.byteLength
  view.setUint32(crcAt, Crc32c.compute(bytes.subarray(0, crcAt)), true)
  return bytes
}

/** The record, or a sentence saying why the bytes are not one. */
export const decode = (magic: string, bytes: Uint8Array): Control | string => {
  if (bytes.byteLength < HEADER_BYTES + TRAILER_BYTES) return `${bytes.byteLength} bytes is too short`
  for (let index = 0; index < 8; index++) {
    if (bytes[index] !== magic.charCodeAt(index)) return `bad magic (expected ${magic})`
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const lsn = view.getBigUint64(8, true)
  const length = view.getUint32(16, true)
  if (length > DATA_BYTES_MAX || HEADER_BYTES + length + TRAILER_BYTES !== bytes.byteLength) {
    return `length field ${length} does not match the file's ${bytes.byteLength} bytes`
  }
  const crcAt = HEADER_BYTES + length
  if (view.getUint32(crcAt, true) !== Crc32c.compute(bytes.subarray(0, crcAt))) return "CRC mismatch"
  if (lsn > BigInt(Number.MAX_SAFE_INTEGER)) return `LSN ${lsn} is beyond 2^53`
  return { lsn: Number(lsn), data: bytes.slice(HEADER_BYTES, crcAt) }
}

/** The whole file, or undefined when it does not exist. Files above the bound are read as damaged. */
export const readIfExists = (
  io: FileIo.FileIoService,
  path: string,
): Effect.Effect<Uint8Array | undefined, IoError.IoError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const opened = yield* Effect.exit(io.open(path, { readOnly: true }))
      if (opened._tag === "Failure") {
        const failure = opened.cause.reasons.find((reason) => reason._tag === "Fail")
        if (failure?._tag === "Fail" && failure.error.reason === "NotFound") return undefined
        return yield* Effect.failCause(opened.cause)
      }
      const size = Math.min(yield* io.size(opened.value), FILE_BYTES_MAX + 1)
      const bytes = new Uint8Array(size)
      const read = yield* io.readAt(opened.value, bytes, 0)
      return bytes.subarray(0, read)
    }),
  )

/**
 * Replaces `directory/name` by `bytes` atomically and durably (temp file, fsync, rename,
 * directory fsync). A failure leaves the old file in place (the temp file is removed, best effort).
 */
export const replaceAtomically = (
  io: FileIo.FileIoService,
  directory: string,
  name: string,
  tempName: string,
  bytes: Uint8Array,
): Effect.Effect<void, IoError.IoError> =>
  Effect.gen(function* () {
    const tempPath = NodePath.join(directory, tempName)
    const written = yield* Effect.exit(
      Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* io.open(tempPath, { create: true })
          yield* io.truncate(handle, 0)
          yield* io.writeAt(handle, bytes, 0)
          yield* io.sync(handle)
          yield* io.close(handle)
        }),
      ),
    )
    if (written._tag === "Failure") {
      yield* Effect.ignore(io.remove(tempPath))
      return yield* Effect.failCause(written.cause)
    }
    yield* io.rename(tempPath, NodePath.join(directory, name))
    yield* io.syncDirectory(directory)
  })

/** Removes `directory/name` if it exists and makes the removal durable. */
export const removeDurably = (
  io: FileIo.FileIoService,
  directory: string,
  name: string,
): Effect.Effect<void, IoError.IoError> =>
  Effect.gen(function* () {
    const removed = yield* Effect.exit(io.remove(NodePath.join(directory, name)))
    if (removed._tag === "Failure") {
      const failure = removed.cause.reasons.find((reason) => reason._tag === "Fail")
      if (!(failure?._tag === "Fail" && failure.error.reason === "NotFound"))
        return yield* Effect.failCause(removed.cause)
    }
    yield* io.syncDirectory(directory)
  })
