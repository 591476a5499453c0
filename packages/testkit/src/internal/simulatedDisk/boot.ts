/**
 * What every simulated syscall of one boot goes through: handle resolution, argument checks (the
 * kernel's EINVAL/EFBIG/EBADF rules, O_DIRECT alignment, use-after-free of aligned memory) and
 * fault dispatch bound to that boot.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import type { FileIo } from "@fsys/core"
import { IoError } from "@fsys/native"
import type * as SimulatedDisk from "../../SimulatedDisk.ts"
import type { BufferRecord } from "./buffers.ts"
import { powerIsGone, withFaults } from "./dispatch.ts"
import { type DiskState, type OpenFile, violation } from "./state.ts"

/** Largest offset or size accepted, like a 2^53-byte file system limit for JS numbers. */
const FILE_BYTES_MAX = Number.MAX_SAFE_INTEGER

/** The syscall context of one boot, shared by the FileIo operations of that boot. */
export interface Boot {
  readonly state: DiskState
  readonly ownBoot: number
  /** EBADF when this boot lost power. */
  readonly powerIsGone: (syscall: string, path: string) => IoError.IoError
  /** The open file behind a handle, or the EBADF the kernel would give. */
  readonly resolve: (handle: FileIo.Handle, syscall: string) => OpenFile | IoError.IoError
  /** As `resolve`, and EBADF on a read-only handle. */
  readonly resolveWritable: (handle: FileIo.Handle, syscall: string) => OpenFile | IoError.IoError
  readonly invalid: (syscall: string, path: string, why: string) => IoError.IoError
  readonly checkRange: (
    syscall: string,
    path: string,
    offsetBytes: number,
    lengthBytes: number,
  ) => IoError.IoError | undefined
  /** O_DIRECT's rules: aligned buffer address, length and file offset, memory from this disk. */
  readonly checkDirect: (
    syscall: string,
    open: OpenFile,
    bytes: Uint8Array,
    offsetBytes: number,
  ) => IoError.IoError | undefined
  /** Refuses IO on memory the disk already freed: a use-after-free on a real kernel. */
  readonly checkLive: (syscall: string, path: string, bytes: Uint8Array) => BufferRecord | undefined | IoError.IoError
  /** `withFaults` bound to this boot. */
  readonly withFaults: <A>(
    op: SimulatedDisk.FaultOp,
    syscall: string,
    path: string,
    record: BufferRecord | undefined,
    body: (fired: ReadonlyArray<SimulatedDisk.Fault>) => Effect.Effect<A, IoError.IoError>,
  ) => Effect.Effect<A, IoError.IoError>
}

/** The error an injected `Error` fault makes the call fail with. */
export const injected = (failure: { readonly code: SimulatedDisk.ErrorCode }, syscall: string, path: string) =>
  IoError.fromErrno(failure.code, syscall, path, "injected")

export const makeBoot = (state: DiskState, ownBoot: number): Boot => {
  const gone = (syscall: string, path: string) => powerIsGone(state, ownBoot, syscall, path)
  const invalid = (syscall: string, path: string, why: string): IoError.IoError =>
    IoError.fromErrno("EINVAL", syscall, path, why)

  const resolve = (handle: FileIo.Handle, syscall: string): OpenFile | IoError.IoError => {
    if (state.boot !== ownBoot) return gone(syscall, handle.path)
    const open = state.handles.get(handle.id)
    if (open === undefined || open.handle !== handle) return IoError.fromErrno("EBADF", syscall, handle.path)
    return open
  }

  const resolveWritable = (handle: FileIo.Handle, syscall: string): OpenFile | IoError.IoError => {
    const open = resolve(handle, syscall)
    if (open instanceof IoError.IoError) return open
    if (open.handle.readOnly) return IoError.fromErrno("EBADF", syscall, handle.path, "read-only handle")
    return open
  }

  const checkRange = (syscall: string, path: string, offsetBytes: number, lengthBytes: number) => {
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) return invalid(syscall, path, `offset ${offsetBytes}`)
    if (offsetBytes + lengthBytes > FILE_BYTES_MAX) return IoError.fromErrno("EFBIG", syscall, path)
    return undefined
  }

  const checkDirect = (syscall: string, open: OpenFile, bytes: Uint8Array, offsetBytes: number) => {
    if (!open.handle.direct) return undefined
    const alignmentBytes = state.directAlignmentBytes
    const address = state.buffers.addressOf(bytes)
    if (address === undefined) return invalid(syscall, open.handle.path, "O_DIRECT buffer not from allocateAligned")
    if (address % BigInt(alignmentBytes) !== 0n) {
      return invalid(syscall, open.handle.path, `O_DIRECT buffer address ${address}`)
    }
    if (bytes.length % alignmentBytes !== 0)
      return invalid(syscall, open.handle.path, `O_DIRECT length ${bytes.length}`)
    if (offsetBytes % alignmentBytes !== 0) return invalid(syscall, open.handle.path, `O_DIRECT offset ${offsetBytes}`)
    return undefined
  }

  const checkLive = (syscall: string, path: string, bytes: Uint8Array): BufferRecord | undefined | IoError.IoError => {
    const record = state.buffers.recordOf(bytes)
    if (record?.freed === true) {
      violation(state, `${syscall} on ${path} used an aligned buffer after its Scope freed it`)
      return IoError.fromErrno("EFAULT", syscall, path, "buffer used after free")
    }
    return record
  }

  return {
    state,
    ownBoot,
    powerIsGone: gone,
    resolve,
    resolveWritable,
    invalid,
    checkRange,
    checkDirect,
    checkLive,
    withFaults: (op, syscall, path, record, body) => withFaults(state, ownBoot, { op, syscall, path, record }, body),
  }
}
