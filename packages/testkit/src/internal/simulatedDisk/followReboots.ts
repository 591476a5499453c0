/**
 * The `FileIo` that follows a simulated disk across reboots, and the context a layer provides:
 * the disk under its service tag and that following `FileIo` as `FileIo.FileIo`.
 *
 * @since 0.1.0
 */
import { Context, Effect } from "effect"
import { FileIo } from "@fsys/core"
import type * as SimulatedDisk from "../../SimulatedDisk.ts"

/** Every call re-reads `disk.fileIo`, so calls after a crash go to the new boot. */
export const followReboots = (disk: SimulatedDisk.Disk): FileIo.FileIoService => ({
  backend: "simulated",
  get reason() {
    return disk.fileIo.reason
  },
  open: (path, options) => Effect.suspend(() => disk.fileIo.open(path, options)),
  close: (handle) => Effect.suspend(() => disk.fileIo.close(handle)),
  writeAt: (handle, bytes, offsetBytes) => Effect.suspend(() => disk.fileIo.writeAt(handle, bytes, offsetBytes)),
  writeAtThenDatasync: (handle, bytes, offsetBytes) =>
    Effect.suspend(() => disk.fileIo.writeAtThenDatasync(handle, bytes, offsetBytes)),
  writeAtDsync: (handle, bytes, offsetBytes) =>
    Effect.suspend(() => disk.fileIo.writeAtDsync?.(handle, bytes, offsetBytes) ?? Effect.die("no writeAtDsync")),
  readAt: (handle, into, offsetBytes) => Effect.suspend(() => disk.fileIo.readAt(handle, into, offsetBytes)),
  datasync: (handle) => Effect.suspend(() => disk.fileIo.datasync(handle)),
  sync: (handle) => Effect.suspend(() => disk.fileIo.sync(handle)),
  syncDirectory: (path) => Effect.suspend(() => disk.fileIo.syncDirectory(path)),
  truncate: (handle, sizeBytes) => Effect.suspend(() => disk.fileIo.truncate(handle, sizeBytes)),
  allocate: (handle, offsetBytes, lengthBytes, mode) =>
    Effect.suspend(() => disk.fileIo.allocate(handle, offsetBytes, lengthBytes, mode)),
  startWriteback: (handle, offsetBytes, lengthBytes) =>
    Effect.suspend(() => disk.fileIo.startWriteback?.(handle, offsetBytes, lengthBytes) ?? Effect.void),
  size: (handle) => Effect.suspend(() => disk.fileIo.size(handle)),
  lock: (handle) => Effect.suspend(() => disk.fileIo.lock(handle)),
  remove: (path) => Effect.suspend(() => disk.fileIo.remove(path)),
  rename: (fromPath, toPath) => Effect.suspend(() => disk.fileIo.rename(fromPath, toPath)),
  listDirectory: (path) => Effect.suspend(() => disk.fileIo.listDirectory(path)),
  makeDirectory: (path) => Effect.suspend(() => disk.fileIo.makeDirectory(path)),
  allocateAligned: (byteLength, alignmentBytes) =>
    Effect.suspend(() => disk.fileIo.allocateAligned(byteLength, alignmentBytes)),
  registerBuffers: (buffers) => Effect.suspend(() => disk.fileIo.registerBuffers(buffers)),
  directAlignment: (handle) => Effect.suspend(() => disk.fileIo.directAlignment(handle)),
})

/** The disk as `tag` and its reboot-following `FileIo`, for `SimulatedDisk.layer`/`layerFrom`. */
export const contextOf = <Self>(tag: Context.Service<Self, SimulatedDisk.Disk>, disk: SimulatedDisk.Disk) =>
  Context.make(tag, disk).pipe(Context.add(FileIo.FileIo, followReboots(disk)))
