/**
 * Saving a corrupt tail before recovery cuts it: `<path>.corrupt-<cleanEnd>`, made durable (file
 * and directory entry) before the journal is touched.
 *
 * Saved tails are evidence, so one is never overwritten: the file is created exclusively (the
 * layer's `created` says whether this open made it, O_CREAT|O_EXCL on Node), and when the name
 * is taken — an earlier recovery at the same clean end, or a partial copy a crash left — the
 * next free `<path>.corrupt-<cleanEnd>.<n>` is used. Bytes that cannot be read (EIO) are saved as
 * zeros, so an unreadable sector never stops the rest of the tail from being kept.
 *
 * @internal
 */
import * as NodePath from "node:path"
import { Effect, Exit, Scope } from "effect"
import { IoError } from "@fsys/native"
import type { FileIoService, Handle } from "../../FileIo.ts"

/** Bytes copied per step: bounds the memory recovery uses. */
const SIDECAR_CHUNK_BYTES = 1024 * 1024
/** Names tried per clean end before giving up (a directory full of them is a bug elsewhere). */
export const SIDECAR_NAMES_MAX = 1000
/** Granule an unreadable chunk is retried in, so only the bad part is saved as zeros. */
const UNREADABLE_GRANULE_BYTES = 512

/** The n-th name for a tail at `cleanEnd` (n = 0 is the plain one). */
export const sidecarName = (path: string, cleanEnd: number, n: number): string =>
  n === 0 ? `${path}.corrupt-${cleanEnd}` : `${path}.corrupt-${cleanEnd}.${n}`

/** Opens a sidecar name this call creates; an existing file is closed again and skipped. */
const createFresh = Effect.fnUntraced(function* (fileIo: FileIoService, path: string, cleanEnd: number) {
  for (let n = 0; n < SIDECAR_NAMES_MAX; n++) {
    const name = sidecarName(path, cleanEnd, n)
    const handle = yield* fileIo.open(name, { create: true })
    if (handle.created) return { name, handle }
    yield* fileIo.close(handle)
  }
  return yield* Effect.fail(
    IoError.fromErrno(
      "EEXIST",
      "open",
      `${path}.corrupt-${cleanEnd}`,
      `${SIDECAR_NAMES_MAX} sidecars for this clean end already exist`,
    ),
  )
})

/** Reads `into` at `offset`; unreadable granules become zeros. The count read (short at EOF). */
const readSalvaging = Effect.fnUntraced(function* (
  fileIo: FileIoService,
  source: Handle,
  into: Uint8Array,
  offsetBytes: number,
) {
  const whole = yield* Effect.result(fileIo.readAt(source, into, offsetBytes))
  if (whole._tag === "Success") return whole.success
  if (whole.failure.code !== "EIO") return yield* Effect.fail(whole.failure)
  for (let done = 0; done < into.length; done += UNREADABLE_GRANULE_BYTES) {
    const piece = into.subarray(done, Math.min(done + UNREADABLE_GRANULE_BYTES, into.length))
    const read = yield* Effect.result(fileIo.readAt(source, piece, offsetBytes + done))
    if (read._tag === "Failure") {
      if (read.failure.code !== "EIO") return yield* Effect.fail(read.failure)
      piece.fill(0)
      continue
    }
    if (read.success < piece.length) return done + read.success
  }
  return into.length
})

/**
 * Copies `[cleanEnd, fileSize)` of `source` to a fresh sidecar and makes the copy and its
 * directory entry durable; returns its path. On any failure the partial sidecar (which this call
 * created) is removed, best effort, and the error returned: the journal is untouched.
 */
export const saveTail = Effect.fnUntraced(function* (
  fileIo: FileIoService,
  source: Handle,
  path: string,
  cleanEnd: number,
  fileSize: number,
): Effect.fn.Return<string, IoError.IoError> {
  const scope = yield* Scope.make()
  let created: string | undefined
  const copied = yield* Effect.exit(
    Effect.gen(function* () {
      const { name, handle: target } = yield* createFresh(fileIo, path, cleanEnd)
      created = name
      const chunk = new Uint8Array(Math.max(1, Math.min(SIDECAR_CHUNK_BYTES, fileSize - cleanEnd)))
      for (let offset = cleanEnd; offset < fileSize; ) {
        const want = Math.min(chunk.byteLength, fileSize - offset)
        const read = yield* readSalvaging(fileIo, source, chunk.subarray(0, want), offset)
        if (read === 0) break
        yield* fileIo.writeAt(target, chunk.subarray(0, read), offset - cleanEnd)
        offset += read
      }
      yield* fileIo.sync(target)
      yield* fileIo.syncDirectory(NodePath.dirname(name))
      return name
    }).pipe(Scope.provide(scope)),
  )
  yield* Scope.close(scope, Exit.void)
  if (Exit.isFailure(copied)) {
    if (created !== undefined) yield* Effect.ignore(fileIo.remove(created))
    return yield* Effect.failCause(copied.cause)
  }
  return copied.value
})
