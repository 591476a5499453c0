/**
 * The data IO of one boot: `writeAt` (pwrite, continued after short writes, partial at ENOSPC;
 * with `dsync`, each syscall's range durable when it returns: `writeAtDsync`) and `readAt` (pread, with bad sectors, misdirected reads and bit flips).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { FileIo } from "@fsys/core"
import { IoError } from "@fsys/native"
import type * as SimulatedDisk from "../../SimulatedDisk.ts"
import { type Boot, injected } from "./boot.ts"
import type { BufferRecord } from "./buffers.ts"
import { errorOf } from "./dispatch.ts"
import { freeBytesFor, type OpenFile, verify, violation } from "./state.ts"

/** A write continued after this many short writes is a livelock: fail it instead. */
const WRITE_SYSCALLS_MAX = 4096

/** How many bytes of `bytes[doneBytes..]` this syscall writes: short-write faults, then free space. */
const writeLengthOf = (
  boot: Boot,
  open: OpenFile,
  fired: ReadonlyArray<SimulatedDisk.Fault>,
  start: number,
  wantedBytes: number,
): number | "noSpace" => {
  const state = boot.state
  // A short Direct write stops at a physical sector (a device writes whole physical sectors).
  const granule = open.handle.direct ? Math.max(state.directAlignmentBytes, state.physicalSectorBytes) : 1
  let lengthBytes = wantedBytes
  for (const fault of fired) {
    if (fault._tag === "ShortWrite") {
      lengthBytes = Math.min(lengthBytes, Math.floor(Math.max(0, fault.bytes) / granule) * granule)
    }
  }
  const inode = open.inode
  const growthBytes = Math.max(0, start + lengthBytes - inode.footprintBytes)
  const freeBytes = freeBytesFor(state, inode)
  if (growthBytes > freeBytes) {
    // The disk fills up inside this write: write what fits (whole granules), then ENOSPC.
    const fits = Math.max(0, inode.footprintBytes + freeBytes - start)
    lengthBytes = Math.min(lengthBytes, Math.floor(fits / granule) * granule)
    if (lengthBytes === 0) return "noSpace"
  }
  return lengthBytes
}

/** One pwrite syscall for `bytes[doneBytes..]`; continues itself after a short write. */
const writeSyscall = (
  boot: Boot,
  open: OpenFile,
  bytes: Uint8Array,
  offsetBytes: number,
  doneBytes: number,
  syscalls: number,
  record: BufferRecord | undefined,
  dsync: boolean,
): Effect.Effect<void, IoError.IoError> => {
  const state = boot.state
  const path = open.handle.path
  state.stats.writes++
  return boot.withFaults("write", "pwrite", path, record, (fired) => {
    const stale = boot.resolve(open.handle, "pwrite")
    if (stale instanceof IoError.IoError) return Effect.fail(stale)
    if (record?.freed === true) {
      violation(state, `pwrite on ${path} completed on an aligned buffer freed while the write was in flight`)
    }
    const failure = errorOf(fired)
    if (failure !== undefined) return Effect.fail(injected(failure, "pwrite", path))
    const start = offsetBytes + doneBytes
    const lengthBytes = writeLengthOf(boot, open, fired, start, bytes.length - doneBytes)
    if (lengthBytes === "noSpace") return Effect.fail(IoError.fromErrno("ENOSPC", "pwrite", path))
    if (lengthBytes === 0) return Effect.fail(IoError.fromErrno("ESHORT", "pwrite", path, "write made no progress"))
    // Copied now, at completion: a caller that reuses the buffer while the write is in flight
    // gets the bytes it scribbled, as with a real kernel.
    open.inode.write(start, bytes.slice(doneBytes, doneBytes + lengthBytes), open.handle.direct)
    // RWF_DSYNC: each syscall's bytes are durable when it returns, nothing written before them.
    if (dsync) {
      open.inode.persistWrite(open.inode.seqNext - 1)
      state.stats.dsyncWrites++
    }
    state.stats.bytesWritten += lengthBytes
    verify(state, open.inode)
    const done = doneBytes + lengthBytes
    if (done === bytes.length) return Effect.void
    if (syscalls + 1 >= WRITE_SYSCALLS_MAX) {
      return Effect.fail(
        IoError.fromErrno("ESHORT", "pwrite", path, `no completion after ${WRITE_SYSCALLS_MAX} writes`),
      )
    }
    return writeSyscall(boot, open, bytes, offsetBytes, done, syscalls + 1, record, dsync)
  })
}

/** pwrite, or with `dsync` pwritev2(RWF_DSYNC): each syscall's range made durable as it returns. */
export const writeAt =
  (boot: Boot) =>
  (handle: FileIo.Handle, bytes: Uint8Array, offsetBytes: number, dsync = false) =>
    Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
      const open = boot.resolveWritable(handle, "pwrite")
      if (open instanceof IoError.IoError) return Effect.fail(open)
      const error =
        boot.checkRange("pwrite", handle.path, offsetBytes, bytes.length) ??
        boot.checkDirect("pwrite", open, bytes, offsetBytes)
      if (error !== undefined) return Effect.fail(error)
      const record = boot.checkLive("pwrite", handle.path, bytes)
      if (record instanceof IoError.IoError) return Effect.fail(record)
      if (bytes.length === 0) return Effect.void
      const range = [offsetBytes, offsetBytes + bytes.length] as const
      const inFlight = open.inode.writesInFlight
      const other = inFlight.find(([from, to]) => from < range[1] && range[0] < to)
      if (other !== undefined) {
        violation(
          boot.state,
          `overlapping writes in flight on ${handle.path}: [${range[0]}, ${range[1]}) beside [${other[0]}, ${other[1]}) (no defined order)`,
        )
      }
      inFlight.push(range)
      return Effect.ensuring(
        writeSyscall(boot, open, bytes, offsetBytes, 0, 0, record, dsync),
        Effect.sync(() => {
          inFlight.splice(inFlight.indexOf(range), 1)
        }),
      )
    })

/** Copies `count` bytes of the file into `into`, from where the (maybe misdirected) read points. */
const copyOut = (
  open: OpenFile,
  fired: ReadonlyArray<SimulatedDisk.Fault>,
  into: Uint8Array,
  offsetBytes: number,
  count: number,
): void => {
  const file = open.inode.visible
  let source = offsetBytes
  for (const fault of fired) if (fault._tag === "MisdirectedRead") source += fault.offsetBytes
  if (source === offsetBytes) {
    // O_DIRECT reads the device (stale cached pages bypassed); buffered reads the cache.
    if (open.handle.direct) open.inode.readDevice(into, offsetBytes)
    else into.set(file.bytes.subarray(offsetBytes, offsetBytes + count))
  } else {
    // A misdirected read may point outside the file: those bytes read as zeros.
    for (let index = 0; index < count; index++) {
      const at = source + index
      into[index] = at >= 0 && at < file.size ? (file.bytes[at] as number) : 0
    }
  }
}

export const readAt = (boot: Boot) => (handle: FileIo.Handle, into: Uint8Array, offsetBytes: number) =>
  Effect.suspend((): Effect.Effect<number, IoError.IoError> => {
    const state = boot.state
    const open = boot.resolve(handle, "pread")
    if (open instanceof IoError.IoError) return Effect.fail(open)
    const error =
      boot.checkRange("pread", handle.path, offsetBytes, into.length) ??
      boot.checkDirect("pread", open, into, offsetBytes)
    if (error !== undefined) return Effect.fail(error)
    const record = boot.checkLive("pread", handle.path, into)
    if (record instanceof IoError.IoError) return Effect.fail(record)
    state.stats.reads++
    const read = boot.withFaults("read", "pread", handle.path, record, (fired) => {
      const stale = boot.resolve(handle, "pread")
      if (stale instanceof IoError.IoError) return Effect.fail(stale)
      const failure = errorOf(fired)
      if (failure !== undefined) return Effect.fail(injected(failure, "pread", handle.path))
      const count = Math.max(0, Math.min(into.length, open.inode.visible.size - offsetBytes))
      const bad = open.inode.badSectorIn(offsetBytes, count)
      if (bad !== undefined) {
        return Effect.fail(
          IoError.fromErrno("EIO", "pread", handle.path, `unreadable sector at byte ${bad * state.sectorBytes}`),
        )
      }
      copyOut(open, fired, into, offsetBytes, count)
      if (count > 0 && fired.some((fault) => fault._tag === "BitFlip")) {
        const bit = state.faultRng.int(count * 8)
        into[bit >> 3] = (into[bit >> 3] as number) ^ (1 << (bit & 7))
      }
      return Effect.succeed(count)
    })
    // Counted in an uninterruptible acquire, uncounted on every exit of the call.
    return Effect.acquireUseRelease(
      Effect.sync(() => {
        state.readsInFlight++
        state.stats.readsInFlightMax = Math.max(state.stats.readsInFlightMax, state.readsInFlight)
      }),
      () => read,
      () =>
        Effect.sync(() => {
          state.readsInFlight--
        }),
    )
  })
