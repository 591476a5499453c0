/**
 * What a crash keeps, and what a file occupies: `datasync`/`sync` (persist what completed before
 * the call, or lose part of it for good on a writeback error), `syncDirectory` (make a directory's
 * entry changes durable), `truncate` and `allocate` (size and footprint, ENOSPC at capacity).
 *
 * @since 0.1.0
 */
import { posix } from "node:path"
import { Effect } from "effect"
import type { FileIo } from "@fsys/core"
import { IoError } from "@fsys/native"
import { type Boot, injected } from "./boot.ts"
import { randomSubset } from "./crash.ts"
import { errorOf } from "./dispatch.ts"
import { freeBytesFor, normalizePath, unlinkRenames, verify } from "./state.ts"

/** fdatasync/fsync: persists what completed before the call started. */
export const syncFile = (boot: Boot) => (handle: FileIo.Handle, op: "datasync" | "sync") =>
  Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
    const state = boot.state
    const syscall = op === "datasync" ? "fdatasync" : "fsync"
    const open = boot.resolve(handle, syscall)
    if (open instanceof IoError.IoError) return Effect.fail(open)
    if (op === "datasync") state.stats.datasyncs++
    else state.stats.syncs++
    const inode = open.inode
    const seqEnd = inode.seqNext
    if (op === "datasync") {
      state.datasyncsInFlight++
      state.stats.datasyncsInFlightMax = Math.max(state.stats.datasyncsInFlightMax, state.datasyncsInFlight)
    }
    const persisted = boot.withFaults(op, syscall, handle.path, undefined, (fired) => {
      const stale = boot.resolve(handle, syscall)
      if (stale instanceof IoError.IoError) return Effect.fail(stale)
      const failure = errorOf(fired)
      if (failure !== undefined) {
        // Writeback failed part-way: some of it reached the disk, the rest is gone for good.
        inode.failWritebackThrough(seqEnd, (ops, _durableSize) =>
          randomSubset(state.faultRng, ops, inode.sizeHistory().slice(0, ops.length + 1)),
        )
        inode.writebackErrors++
        open.writebackErrorsSeen = inode.writebackErrors
        return Effect.fail(injected(failure, syscall, handle.path))
      }
      if (open.writebackErrorsSeen < inode.writebackErrors) {
        // A writeback failed since this open file last synced (seen by another open file's
        // fdatasync): Linux reports it once to every open file (errseq), so this call fails too.
        open.writebackErrorsSeen = inode.writebackErrors
        return Effect.fail(IoError.fromErrno("EIO", syscall, handle.path, "writeback failed since the last sync"))
      }
      inode.persistThrough(seqEnd)
      verify(state, inode)
      return Effect.void
    })
    return op === "datasync"
      ? Effect.ensuring(
          persisted,
          Effect.sync(() => state.datasyncsInFlight--),
        )
      : persisted
  })

export const syncDirectory = (boot: Boot) => (directoryInput: string) =>
  Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
    const state = boot.state
    const directory = normalizePath(directoryInput)
    if (state.boot !== boot.ownBoot) return Effect.fail(boot.powerIsGone("fsync", directory))
    state.stats.syncDirectories++
    return boot.withFaults("syncDirectory", "fsync", directory, undefined, (fired) => {
      const failure = errorOf(fired)
      if (failure !== undefined) return Effect.fail(injected(failure, "fsync", directory))
      const synced: Array<string> = []
      for (const path of new Set([...state.names.keys(), ...state.durableNames.keys()])) {
        if (posix.dirname(path) !== directory) continue
        const inode = state.names.get(path)
        if (inode === undefined) state.durableNames.delete(path)
        else state.durableNames.set(path, inode)
        synced.push(path)
      }
      unlinkRenames(state, synced)
      return Effect.void
    })
  })

export const truncate = (boot: Boot) => (handle: FileIo.Handle, sizeBytes: number) =>
  Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
    const state = boot.state
    const open = boot.resolveWritable(handle, "ftruncate")
    if (open instanceof IoError.IoError) return Effect.fail(open)
    const error = boot.checkRange("ftruncate", handle.path, sizeBytes, 0)
    if (error !== undefined) return Effect.fail(error)
    state.stats.truncates++
    return boot.withFaults("truncate", "ftruncate", handle.path, undefined, (fired) => {
      const stale = boot.resolve(handle, "ftruncate")
      if (stale instanceof IoError.IoError) return Effect.fail(stale)
      const failure = errorOf(fired)
      if (failure !== undefined) return Effect.fail(injected(failure, "ftruncate", handle.path))
      if (sizeBytes - open.inode.footprintBytes > freeBytesFor(state, open.inode)) {
        return Effect.fail(IoError.fromErrno("ENOSPC", "ftruncate", handle.path))
      }
      open.inode.truncate(sizeBytes)
      verify(state, open.inode)
      return Effect.void
    })
  })

/**
 * sync_file_range(WRITE): a hint to start writeback. A crash keeps what it kept before: the
 * kernel may write the pages or not, and nothing says which, so the simulation persists nothing
 * (a datasync still does all of it). It checks what the real call would: an open handle and a
 * valid range; faults can fail it.
 */
export const startWriteback = (boot: Boot) => (handle: FileIo.Handle, offsetBytes: number, lengthBytes: number) =>
  Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
    const open = boot.resolve(handle, "sync_file_range")
    if (open instanceof IoError.IoError) return Effect.fail(open)
    if (!Number.isSafeInteger(lengthBytes) || lengthBytes < 0) {
      return Effect.fail(boot.invalid("sync_file_range", handle.path, `length ${lengthBytes}`))
    }
    const error = boot.checkRange("sync_file_range", handle.path, offsetBytes, lengthBytes)
    if (error !== undefined) return Effect.fail(error)
    boot.state.stats.writebacks++
    return boot.withFaults("writeback", "sync_file_range", handle.path, undefined, (fired) => {
      const stale = boot.resolve(handle, "sync_file_range")
      if (stale instanceof IoError.IoError) return Effect.fail(stale)
      const failure = errorOf(fired)
      return failure !== undefined ? Effect.fail(injected(failure, "sync_file_range", handle.path)) : Effect.void
    })
  })

export const allocate =
  (boot: Boot) =>
  (handle: FileIo.Handle, offsetBytes: number, lengthBytes: number, mode: FileIo.AllocateMode = "keepSize") =>
    Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
      const state = boot.state
      const open = boot.resolveWritable(handle, "fallocate")
      if (open instanceof IoError.IoError) return Effect.fail(open)
      if (!Number.isSafeInteger(lengthBytes) || lengthBytes <= 0) {
        return Effect.fail(boot.invalid("fallocate", handle.path, `length ${lengthBytes}`))
      }
      const error = boot.checkRange("fallocate", handle.path, offsetBytes, lengthBytes)
      if (error !== undefined) return Effect.fail(error)
      state.stats.allocates++
      return boot.withFaults("allocate", "fallocate", handle.path, undefined, (fired) => {
        const stale = boot.resolve(handle, "fallocate")
        if (stale instanceof IoError.IoError) return Effect.fail(stale)
        const failure = errorOf(fired)
        if (failure !== undefined) return Effect.fail(injected(failure, "fallocate", handle.path))
        const inode = open.inode
        const end = offsetBytes + lengthBytes
        if (end - inode.footprintBytes > freeBytesFor(state, inode)) {
          return Effect.fail(IoError.fromErrno("ENOSPC", "fallocate", handle.path))
        }
        inode.allocatedBytes = Math.max(inode.allocatedBytes, end)
        // Mode 0 grows the file like an extending truncate: the size is volatile until a sync.
        if (mode === "extend" && end > inode.visible.size) inode.truncate(end)
        verify(state, inode)
        return Effect.void
      })
    })
