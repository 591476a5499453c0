/**
 * Handles and memory of one boot: `open` (a scoped handle; ENOENT, O_DIRECT refusal), `close`,
 * `lock` (flock, released when the holder closes or its process dies), `size`, `directAlignment`,
 * and the aligned memory the O_DIRECT checks accept (`allocateAligned`, `registerBuffers`).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { FileIo } from "@fsys/core"
import type { AlignedBuffer } from "@fsys/native"
import { IoError } from "@fsys/native"
import { type Boot, injected } from "./boot.ts"
import { errorOf } from "./dispatch.ts"
import { Inode } from "./inode.ts"
import { type DiskState, isPowerOfTwo, normalizePath, violation } from "./state.ts"

/** Largest single aligned allocation (1 GiB): bigger is a bug in the caller, as with posix_memalign. */
const ALIGNED_ALLOCATION_BYTES_MAX = 1 << 30

export const closeHandle = (state: DiskState, handle: FileIo.Handle): void => {
  const open = state.handles.get(handle.id)
  if (open === undefined || open.handle !== handle) return
  state.handles.delete(handle.id)
  if (open.inode.lockHolder === handle.id) open.inode.lockHolder = undefined
}

export const open = (boot: Boot) => (pathInput: string, openOptions?: FileIo.OpenOptions) => {
  const state = boot.state
  const path = normalizePath(pathInput)
  const acquire = Effect.suspend((): Effect.Effect<FileIo.Handle, IoError.IoError> => {
    if (state.boot !== boot.ownBoot) return Effect.fail(boot.powerIsGone("open", path))
    state.stats.opens++
    return boot.withFaults("open", "open", path, undefined, (fired) => {
      const failure = errorOf(fired)
      if (failure !== undefined) return Effect.fail(injected(failure, "open", path))
      const direct = openOptions?.direct ?? false
      if (direct && !state.directIo) return Effect.fail(boot.invalid("open", path, "filesystem refuses O_DIRECT"))
      let inode = state.names.get(path)
      let created = false
      if (inode === undefined) {
        if (openOptions?.create !== true) return Effect.fail(IoError.fromErrno("ENOENT", "open", path))
        if (openOptions.readOnly === true)
          return Effect.fail(IoError.fromErrno("EINVAL", "open", path, "create read-only"))
        inode = new Inode(state.sectorBytes)
        state.names.set(path, inode)
        created = true
      }
      const handle: FileIo.Handle = {
        id: state.nextHandleId++,
        path,
        direct,
        readOnly: openOptions?.readOnly ?? false,
        created,
      }
      state.handles.set(handle.id, { handle, inode, boot: boot.ownBoot, writebackErrorsSeen: inode.writebackErrors })
      return Effect.succeed(handle)
    })
  })
  return Effect.acquireRelease(acquire, (handle) => Effect.sync(() => closeHandle(state, handle)))
}

export const size = (boot: Boot) => (handle: FileIo.Handle) =>
  Effect.suspend((): Effect.Effect<number, IoError.IoError> => {
    const open = boot.resolve(handle, "fstat")
    if (open instanceof IoError.IoError) return Effect.fail(open)
    return boot.withFaults("size", "fstat", handle.path, undefined, (fired) => {
      const failure = errorOf(fired)
      if (failure !== undefined) return Effect.fail(injected(failure, "fstat", handle.path))
      return Effect.succeed(open.inode.visible.size)
    })
  })

export const lock = (boot: Boot) => (handle: FileIo.Handle) =>
  Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
    const open = boot.resolve(handle, "flock")
    if (open instanceof IoError.IoError) return Effect.fail(open)
    return boot.withFaults("lock", "flock", handle.path, undefined, (fired) => {
      const failure = errorOf(fired)
      if (failure !== undefined) return Effect.fail(injected(failure, "flock", handle.path))
      const holder = open.inode.lockHolder
      if (holder !== undefined && holder !== handle.id && boot.state.handles.has(holder)) {
        return Effect.fail(IoError.fromErrno("EWOULDBLOCK", "flock", handle.path, `locked by handle ${holder}`))
      }
      open.inode.lockHolder = handle.id
      return Effect.void
    })
  })

export const directAlignment = (boot: Boot) => (handle: FileIo.Handle) =>
  Effect.suspend((): Effect.Effect<FileIo.DirectAlignment, IoError.IoError> => {
    const open = boot.resolve(handle, "statx")
    if (open instanceof IoError.IoError) return Effect.fail(open)
    return Effect.succeed({
      offsetBytes: boot.state.directAlignmentBytes,
      memoryBytes: boot.state.directAlignmentBytes,
      physicalSectorBytes: boot.state.physicalSectorBytes,
    })
  })

export const allocateAligned = (boot: Boot) => (byteLength: number, alignmentBytes: number) =>
  Effect.acquireRelease(
    Effect.suspend((): Effect.Effect<AlignedBuffer, IoError.IoError> => {
      if (!isPowerOfTwo(alignmentBytes)) {
        return Effect.fail(boot.invalid("posix_memalign", "<memory>", `alignment ${alignmentBytes}`))
      }
      if (!Number.isSafeInteger(byteLength) || byteLength <= 0 || byteLength > ALIGNED_ALLOCATION_BYTES_MAX) {
        return Effect.fail(IoError.fromErrno("ENOMEM", "posix_memalign", "<memory>", `length ${byteLength}`))
      }
      const { bytes, record } = boot.state.buffers.allocate(byteLength, alignmentBytes)
      return Effect.succeed({ bytes, address: record.address, byteLength, alignmentBytes })
    }),
    (buffer) =>
      Effect.sync(() => {
        const record = boot.state.buffers.recordOf(buffer.bytes)
        if (record === undefined) return
        if (record.inflight > 0) {
          violation(boot.state, `aligned buffer at ${record.address} freed with ${record.inflight} IO(s) in flight`)
        }
        record.freed = true
      }),
  )

export const registerBuffers = (boot: Boot) => (registered: ReadonlyArray<AlignedBuffer>) =>
  Effect.sync(() => {
    for (const buffer of registered) {
      const record = boot.state.buffers.recordOf(buffer.bytes)
      if (record === undefined) violation(boot.state, "registerBuffers got memory this disk did not allocate")
      else if (record.freed) violation(boot.state, `registerBuffers got the freed buffer at ${record.address}`)
    }
    // A simulated disk has no fixed buffers: nothing to report.
    return { fixed: false, reason: "" }
  })
