/**
 * The simulated disk's state, shared by every boot's `FileIo`, and the small queries on it.
 *
 * State lives in three places, each with its own invariant:
 * - `names` (what the running system sees) and `durableNames` (what survives a crash) map normalised
 *   paths to inodes; they differ exactly by the directory changes not yet made durable by
 *   `syncDirectory` of the parent directory.
 * - each `Inode` keeps its visible bytes, durable bytes and pending writes (see inode.ts).
 * - `handles` maps handle ids (never reused) to open files of the current boot; a handle of an
 *   older boot is not in the map, so every call on it fails with EBADF.
 *
 * One mutable record rather than closure variables, so the FileIo operations can live in their
 * own files (grouped by kind) and still see one disk.
 *
 * @since 0.1.0
 */
import { posix } from "node:path"
import type { Deferred } from "effect"
import type { FileIo } from "@fsys/core"
import type * as SimulatedDisk from "../../SimulatedDisk.ts"
import * as Prng from "../prng.ts"
import { BufferRegistry } from "./buffers.ts"
import { keepsDirectoryChange } from "./crash.ts"
import { FaultTable } from "./faults.ts"
import type { Inode } from "./inode.ts"

/** PRNG stream labels, so adding a consumer never shifts another's draws. */
export const STREAM_FAULTS = 1
export const STREAM_CRASH = 2

interface RenameGroup {
  readonly paths: Set<string>
  keep: boolean | undefined
}

/** A handle of the current boot and the inode it reaches. */
export interface OpenFile {
  readonly handle: FileIo.Handle
  readonly inode: Inode
  readonly boot: number
  /**
   * The inode's `writebackErrors` this open file has reported (Linux's per-open-file errseq
   * cursor, `f_wb_err`): a writeback error is reported once to every open file, by its next
   * fdatasync. Two fdatasyncs on ONE open file share the cursor, so only one of them reports it.
   */
  writebackErrorsSeen: number
}

export type MutableStats = { -readonly [K in keyof SimulatedDisk.Stats]: number }

/** The disk's geometry and switches, fixed when it is made. */
export interface Geometry {
  readonly seed: number
  readonly sectorBytes: number
  readonly directAlignmentBytes: number
  readonly physicalSectorBytes: number
  readonly sectorsPerPhysical: number
  readonly capacityBytes: number
  readonly directIo: boolean
  readonly checkInvariants: boolean
}

export interface DiskState extends Geometry {
  readonly faultRng: Prng.Prng
  readonly faults: FaultTable
  readonly buffers: BufferRegistry
  readonly violations: Array<string>
  stats: MutableStats
  /** fdatasyncs in progress now (`stats.datasyncsInFlightMax` is the most at once). */
  datasyncsInFlight: number
  /** preads in progress now (`stats.readsInFlightMax` is the most at once). */
  readsInFlight: number
  names: Map<string, Inode>
  durableNames: Map<string, Inode>
  handles: Map<number, OpenFile>
  nextHandleId: number
  boot: number
  crashIndex: number
  crashWaiters: Array<Deferred.Deferred<SimulatedDisk.CrashReport>>
  /**
   * Paths whose unsynced entry changes a crash must keep or drop together: a rename is one
   * atomic directory operation (the old name and the new one), so a power cut leaves the file
   * under exactly one of them, never both and never neither.
   */
  renameGroups: Map<string, RenameGroup>
  /**
   * Directories that exist. They are not modelled as entries of their own: a directory, once
   * made, survives every crash (the journal's own directory is made once, before any file in it).
   */
  readonly directories: Set<string>
}

export const isPowerOfTwo = (value: number): boolean =>
  Number.isSafeInteger(value) && value > 0 && (value & (value - 1)) === 0

export const normalizePath = (path: string): string => {
  const normalized = posix.normalize(path)
  return normalized.length > 1 && normalized.endsWith("/") ? normalized.slice(0, -1) : normalized
}

export const emptyStats = (): MutableStats => ({
  opens: 0,
  writes: 0,
  bytesWritten: 0,
  reads: 0,
  datasyncs: 0,
  dsyncWrites: 0,
  syncs: 0,
  syncDirectories: 0,
  truncates: 0,
  allocates: 0,
  writebacks: 0,
  crashes: 0,
  processCrashes: 0,
  faultsFired: 0,
  datasyncsInFlightMax: 0,
  readsInFlightMax: 0,
})

/** Validates the options (RangeError on a bad one) and fills in the defaults. */
export const geometryOf = (options: SimulatedDisk.Options): Geometry => {
  const seed = Prng.normalizeSeed(options.seed)
  const sectorBytes = options.sectorBytes ?? 512
  const directAlignmentBytes = options.directAlignmentBytes ?? 512
  const physicalSectorBytes = options.physicalSectorBytes ?? sectorBytes
  const capacityBytes = options.capacityBytes ?? Number.POSITIVE_INFINITY
  if (!isPowerOfTwo(sectorBytes) || sectorBytes < 512 || sectorBytes > 65536) {
    throw new RangeError(`SimulatedDisk: sectorBytes must be a power of two in [512, 65536], got ${sectorBytes}`)
  }
  if (!isPowerOfTwo(physicalSectorBytes) || physicalSectorBytes < sectorBytes || physicalSectorBytes > 65536) {
    throw new RangeError(
      `SimulatedDisk: physicalSectorBytes must be a power of two in [sectorBytes, 65536], got ${physicalSectorBytes}`,
    )
  }
  if (!isPowerOfTwo(directAlignmentBytes)) {
    throw new RangeError(`SimulatedDisk: directAlignmentBytes must be a power of two, got ${directAlignmentBytes}`)
  }
  if (!(capacityBytes > 0)) throw new RangeError(`SimulatedDisk: capacityBytes must be positive, got ${capacityBytes}`)
  return {
    seed,
    sectorBytes,
    directAlignmentBytes,
    physicalSectorBytes,
    sectorsPerPhysical: physicalSectorBytes / sectorBytes,
    capacityBytes,
    directIo: options.directIo ?? true,
    checkInvariants: options.checkInvariants ?? false,
  }
}

export const makeState = (options: SimulatedDisk.Options): DiskState => {
  const geometry = geometryOf(options)
  return {
    ...geometry,
    faultRng: Prng.make(Prng.derive(geometry.seed, STREAM_FAULTS)),
    faults: new FaultTable(),
    buffers: new BufferRegistry(),
    violations: [],
    stats: emptyStats(),
    datasyncsInFlight: 0,
    readsInFlight: 0,
    names: new Map(),
    durableNames: new Map(),
    handles: new Map(),
    nextHandleId: 1,
    boot: 1,
    crashIndex: 0,
    crashWaiters: [],
    renameGroups: new Map(),
    directories: new Set(["/"]),
  }
}

/** Whether an unsynced change of `path`'s entry survives: one coin per rename group. */
export const keepsEntry = (state: DiskState, path: string, mode: SimulatedDisk.CrashMode, rng: Prng.Prng): boolean => {
  const group = state.renameGroups.get(path)
  if (group === undefined) return keepsDirectoryChange(mode, rng)
  if (group.keep === undefined) group.keep = keepsDirectoryChange(mode, rng)
  return group.keep
}

/** Links `paths` into one rename group (merging groups they already belong to). */
export const linkRename = (state: DiskState, paths: ReadonlyArray<string>): void => {
  const merged: RenameGroup = { paths: new Set(), keep: undefined }
  for (const path of paths) {
    const existing = state.renameGroups.get(path)
    if (existing === undefined) merged.paths.add(path)
    else for (const member of existing.paths) merged.paths.add(member)
  }
  for (const member of merged.paths) state.renameGroups.set(member, merged)
}

/** `syncDirectory` made these paths' entries durable: they leave their rename groups. */
export const unlinkRenames = (state: DiskState, paths: ReadonlyArray<string>): void => {
  for (const path of paths) {
    state.renameGroups.get(path)?.paths.delete(path)
    state.renameGroups.delete(path)
  }
}

/** Files may be created without a `makeDirectory` (as in the older tests): their parents exist. */
export const directoryExists = (state: DiskState, directory: string): boolean => {
  if (state.directories.has(directory)) return true
  const prefix = directory === "/" ? "/" : `${directory}/`
  for (const path of state.names.keys()) if (path.startsWith(prefix)) return true
  return false
}

export const violation = (state: DiskState, message: string): void => {
  state.violations.push(`seed ${state.seed}: ${message}`)
}

export const verify = (state: DiskState, inode: Inode): void => {
  if (state.checkInvariants) inode.assertInvariants()
}

/** Every inode the disk still holds: named ones and unlinked ones kept alive by open handles. */
const liveInodes = (state: DiskState): Set<Inode> => {
  const live = new Set<Inode>(state.names.values())
  for (const open of state.handles.values()) live.add(open.inode)
  return live
}

/** Bytes still free on the disk (Infinity without a capacity); `inode` is counted as live. */
export const freeBytesFor = (state: DiskState, inode: Inode): number => {
  if (state.capacityBytes === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY
  const live = liveInodes(state)
  live.add(inode)
  let used = 0
  for (const file of live) used += file.footprintBytes
  return state.capacityBytes - used
}
