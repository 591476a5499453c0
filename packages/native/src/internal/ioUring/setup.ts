/**
 * Setting up a ring: io_uring_setup (SUBMIT_ALL where the kernel has it), the mmaps of the SQ/CQ
 * rings and the SQE array, and typed views over them. Either everything is returned or nothing
 * is left behind (mappings unmapped, fd closed) and the `IoError` is thrown. `tearDown` undoes it.
 *
 * @internal
 */
import * as IoError from "../../IoError.ts"
import type { Native } from "../libc/bindings.ts"
import { MAP_POPULATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "../libc/constants.ts"
import * as Abi from "./abi.ts"

export interface Views {
  readonly sq: Uint32Array
  readonly cq: Uint32Array
  readonly cqRes: Int32Array
  readonly sqes: Uint32Array
}

export interface Mapping {
  readonly address: number
  readonly lengthBytes: number
}

/** What `setUp` hands to the ring. */
export interface SetUp {
  readonly fd: number
  readonly setupFlags: number
  readonly features: number
  readonly sqEntries: number
  readonly cqEntries: number
  readonly sqOff: (field: number) => number
  readonly cqOff: (field: number) => number
  readonly views: Views
  readonly mappings: ReadonlyArray<Mapping>
}

/** io_uring_setup + mmaps for `entries` SQEs; throws an `IoError` after releasing what it made. */
export const setUp = (lib: Native, entries: number): SetUp => {
  const params = new Uint8Array(Abi.PARAMS_BYTES)
  const paramsView = new DataView(params.buffer)
  const trySetup = (flags: number): number => {
    params.fill(0)
    paramsView.setUint32(Abi.PARAMS_FLAGS, flags, true)
    const fd = lib.ioUringSetup(entries, params)
    return fd < 0 ? -lib.errno() : fd
  }
  let setupFlags = Abi.IORING_SETUP_CLAMP | Abi.IORING_SETUP_SUBMIT_ALL
  let fd = trySetup(setupFlags)
  if (fd === -Abi.EINVAL) {
    // SUBMIT_ALL is 5.18+; older kernels refuse unknown flags with EINVAL.
    setupFlags = Abi.IORING_SETUP_CLAMP
    fd = trySetup(setupFlags)
  }
  if (fd < 0) throw IoError.fromErrno(-fd, "io_uring_setup", "", `${entries} entries`)
  const mappings: Array<Mapping> = []
  try {
    const u32 = (offset: number) => paramsView.getUint32(offset, true)
    const features = u32(Abi.PARAMS_FEATURES)
    const sqEntries = u32(Abi.PARAMS_SQ_ENTRIES)
    const cqEntries = u32(Abi.PARAMS_CQ_ENTRIES)
    const sqOff = (field: number) => u32(Abi.PARAMS_SQ_OFF + field)
    const cqOff = (field: number) => u32(Abi.PARAMS_CQ_OFF + field)
    const sqRingBytes = sqOff(Abi.SQ_OFF_ARRAY) + sqEntries * 4
    const cqRingBytes = cqOff(Abi.CQ_OFF_CQES) + cqEntries * Abi.CQE_BYTES
    const map = (lengthBytes: number, offset: number): number => {
      const address = lib.mmap(0, lengthBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset)
      if (address === -1 || address === 0) throw IoError.fromErrno(lib.errno(), "mmap", "", "io_uring ring")
      mappings.push({ address, lengthBytes })
      return address
    }
    let sqAddress: number
    let cqAddress: number
    let sqView: ArrayBuffer
    let cqView: ArrayBuffer
    if ((features & Abi.IORING_FEAT_SINGLE_MMAP) !== 0) {
      const bytes = Math.max(sqRingBytes, cqRingBytes)
      sqAddress = map(bytes, Abi.IORING_OFF_SQ_RING)
      cqAddress = sqAddress
      sqView = lib.koffi.view(sqAddress, bytes)
      cqView = sqView
    } else {
      sqAddress = map(sqRingBytes, Abi.IORING_OFF_SQ_RING)
      cqAddress = map(cqRingBytes, Abi.IORING_OFF_CQ_RING)
      sqView = lib.koffi.view(sqAddress, sqRingBytes)
      cqView = lib.koffi.view(cqAddress, cqRingBytes)
    }
    const sqesAddress = map(sqEntries * Abi.SQE_BYTES, Abi.IORING_OFF_SQES)
    const views: Views = {
      sq: new Uint32Array(sqView),
      cq: new Uint32Array(cqView),
      cqRes: new Int32Array(cqView),
      sqes: new Uint32Array(lib.koffi.view(sqesAddress, sqEntries * Abi.SQE_BYTES)),
    }
    return { fd, setupFlags, features, sqEntries, cqEntries, sqOff, cqOff, views, mappings }
  } catch (error) {
    for (const mapping of mappings) lib.munmap(mapping.address, mapping.lengthBytes)
    lib.closeNonBlocking(fd)
    throw error
  }
}

/**
 * Undoes `setUp` once nothing is in flight: detaches every view before unmapping, so a stray
 * access reads nothing instead of faulting, then unmaps and closes the ring fd.
 */
export const tearDown = (lib: Native, fd: number, views: Views, mappings: ReadonlyArray<Mapping>): void => {
  const buffers = new Set<ArrayBuffer>([
    views.sq.buffer as ArrayBuffer,
    views.cq.buffer as ArrayBuffer,
    views.sqes.buffer as ArrayBuffer,
  ])
  for (const buffer of buffers) if (!buffer.detached) buffer.transfer(0)
  for (const mapping of mappings) lib.munmap(mapping.address, mapping.lengthBytes)
  lib.closeNonBlocking(fd)
}
