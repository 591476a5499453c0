/**
 * The `FileIo` service of one boot of a simulated disk, assembled from the operations grouped by
 * kind: data IO (dataIo.ts), durability and size (durability.ts), directories (directory.ts),
 * handles, locks and memory (handles.ts). A crash starts a new boot, whose `FileIo` is a new
 * service; every call made through an older one fails EBADF.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { FileIo } from "@fsys/core"
import { makeBoot } from "./boot.ts"
import { readAt, writeAt } from "./dataIo.ts"
import { listDirectory, makeDirectory, remove, rename } from "./directory.ts"
import { allocate, startWriteback, syncDirectory, syncFile, truncate } from "./durability.ts"
import { allocateAligned, closeHandle, directAlignment, lock, open, registerBuffers, size } from "./handles.ts"
import type { DiskState } from "./state.ts"

export const makeFileIo = (state: DiskState, ownBoot: number): FileIo.FileIoService => {
  const boot = makeBoot(state, ownBoot)
  const write = writeAt(boot)
  const sync = syncFile(boot)
  return {
    backend: "simulated",
    reason: `simulated disk (seed ${state.seed}, boot ${ownBoot}, sector ${state.sectorBytes} B, direct alignment ${state.directAlignmentBytes} B)`,
    open: open(boot),
    close: (handle) => Effect.sync(() => closeHandle(state, handle)),
    writeAt: write,
    writeAtThenDatasync: (handle, bytes, offsetBytes) =>
      Effect.andThen(write(handle, bytes, offsetBytes), sync(handle, "datasync")),
    writeAtDsync: (handle, bytes, offsetBytes) => write(handle, bytes, offsetBytes, true),
    readAt: readAt(boot),
    datasync: (handle) => sync(handle, "datasync"),
    sync: (handle) => sync(handle, "sync"),
    syncDirectory: syncDirectory(boot),
    truncate: truncate(boot),
    allocate: allocate(boot),
    startWriteback: startWriteback(boot),
    size: size(boot),
    lock: lock(boot),
    remove: remove(boot),
    rename: rename(boot),
    listDirectory: listDirectory(boot),
    makeDirectory: makeDirectory(boot),
    allocateAligned: allocateAligned(boot),
    registerBuffers: registerBuffers(boot),
    directAlignment: directAlignment(boot),
  }
}
