/**
 * The simulated disk's engine: files, directory entries, handles, boots, faults and crashes.
 *
 * State lives in three places, each with its own invariant:
 * - `names` (what the running system sees) and `durableNames` (what survives a crash) map normalised
 *   paths to inodes; they differ exactly by the directory changes not yet made durable by
 *   `syncDirectory` of the parent directory.
 * - each `Inode` keeps its visible bytes, durable bytes and pending writes (see inode.ts).
 * - `handles` maps handle ids (never reused) to open files of the current boot; a handle of an
 *   older boot is not in the map, so every call on it fails with EBADF.
 *
 * All mutation is synchronous JavaScript, so every simulated syscall is atomic with respect to
 * other fibers; a fault's delay runs before the call takes effect, and the call re-checks its
 * handle afterwards (the power may have gone, or the handle closed, while it waited).
 *
 * @since 0.1.0
 */
import { posix } from "node:path"
import { Deferred, Effect, Fiber, Option } from "effect"
import type { FileIo } from "@fsys/core"
import type { AlignedBuffer } from "@fsys/native"
import { IoError } from "@fsys/native"
import type * as SimulatedDisk from "../../SimulatedDisk.ts"
import * as Prng from "../prng.ts"
import { type BufferRecord, BufferRegistry } from "./buffers.ts"
import { keepsDirectoryChange, pickMode, randomSubset, survivalFor } from "./crash.ts"
import { FaultTable } from "./faults.ts"
import { Inode } from "./inode.ts"

/** A write continued after this many short writes is a livelock: fail it instead. */
const MAX_WRITE_SYSCALLS = 4096
/** Largest single aligned allocation (1 GiB): bigger is a bug in the caller, as with posix_memalign. */
const MAX_ALIGNED_ALLOCATION_BYTES = 1 << 30
/** Largest offset or size accepted, like a 2^53-byte file system limit for JS numbers. */
const MAX_FILE_BYTES = Number.MAX_SAFE_INTEGER
/** PRNG stream labels, so adding a consumer never shifts another's draws. */
const STREAM_FAULTS = 1
const STREAM_CRASH = 2

interface RenameGroup {
  readonly paths: Set<string>
  keep: boolean | undefined
}

interface OpenFile {
  readonly handle: FileIo.Handle
  readonly inode: Inode
  readonly boot: number
}

/** A `Yield` fault waits at most this many scheduler turns (a bound on every loop). */
const MAX_YIELDS = 100_000

/** Gives way to other fibers `times` times: a delay measured in scheduler turns, not in time. */
const yieldTimes = (times: number): Effect.Effect<void> => {
  const remaining = Math.min(MAX_YIELDS, Math.max(0, Math.trunc(times)))
  return remaining === 0
    ? Effect.void
    : Effect.andThen(
        Effect.yieldNow,
        Effect.suspend(() => yieldTimes(remaining - 1)),
      )
}

const isPowerOfTwo = (value: number): boolean => Number.isSafeInteger(value) && value > 0 && (value & (value - 1)) === 0

const normalizePath = (path: string): string => {
  const normalized = posix.normalize(path)
  return normalized.length > 1 && normalized.endsWith("/") ? normalized.slice(0, -1) : normalized
}

const emptyStats = (): { -readonly [K in keyof SimulatedDisk.Stats]: number } => ({
  opens: 0,
  writes: 0,
  bytesWritten: 0,
  reads: 0,
  datasyncs: 0,
  syncs: 0,
  syncDirectories: 0,
  truncates: 0,
  allocates: 0,
  crashes: 0,
  faultsFired: 0,
})

export const makeDisk = (options: SimulatedDisk.Options): SimulatedDisk.Disk => {
  const seed = Prng.normalizeSeed(options.seed)
  const sectorBytes = options.sectorBytes ?? 512
  const directAlignmentBytes = options.directAlignmentBytes ?? 512
  const capacityBytes = options.capacityBytes ?? Number.POSITIVE_INFINITY
  const directIo = options.directIo ?? true
  const checkInvariants = options.checkInvariants ?? false
  if (!isPowerOfTwo(sectorBytes) || sectorBytes < 512 || sectorBytes > 65536) {
    throw new RangeError(`SimulatedDisk: sectorBytes must be a power of two in [512, 65536], got ${sectorBytes}`)
  }
  if (!isPowerOfTwo(directAlignmentBytes)) {
    throw new RangeError(`SimulatedDisk: directAlignmentBytes must be a power of two, got ${directAlignmentBytes}`)
  }
  if (!(capacityBytes > 0)) throw new RangeError(`SimulatedDisk: capacityBytes must be positive, got ${capacityBytes}`)

  const faultRng = Prng.make(Prng.derive(seed, STREAM_FAULTS))
  const faults = new FaultTable()
  const buffers = new BufferRegistry()
  const violations: Array<string> = []
  let stats = emptyStats()

  let names = new Map<string, Inode>()
  let durableNames = new Map<string, Inode>()
  let handles = new Map<number, OpenFile>()
  let nextHandleId = 1
  let boot = 1
  let crashIndex = 0
  let crashWaiters: Array<Deferred.Deferred<SimulatedDisk.CrashReport>> = []
  let currentFileIo: FileIo.FileIoService
  /**
   * Paths whose unsynced entry changes a crash must keep or drop together: a rename is one
   * atomic directory operation (the old name and the new one), so a power cut leaves the file
   * under exactly one of them, never both and never neither.
   */
  let renameGroups = new Map<string, RenameGroup>()

  /** Whether an unsynced change of `path`'s entry survives: one coin per rename group. */
  const keepsEntry = (path: string, mode: SimulatedDisk.CrashMode, rng: Prng.Prng): boolean => {
    const group = renameGroups.get(path)
    if (group === undefined) return keepsDirectoryChange(mode, rng)
    if (group.keep === undefined) group.keep = keepsDirectoryChange(mode, rng)
    return group.keep
  }

  /** Links `paths` into one rename group (merging groups they already belong to). */
  const linkRename = (paths: ReadonlyArray<string>): void => {
    const merged: RenameGroup = { paths: new Set(), keep: undefined }
    for (const path of paths) {
      const existing = renameGroups.get(path)
      if (existing === undefined) merged.paths.add(path)
      else for (const member of existing.paths) merged.paths.add(member)
    }
    for (const member of merged.paths) renameGroups.set(member, merged)
  }

  /** `syncDirectory` made these paths' entries durable: they leave their rename groups. */
  const unlinkRenames = (paths: ReadonlyArray<string>): void => {
    for (const path of paths) {
      renameGroups.get(path)?.paths.delete(path)
      renameGroups.delete(path)
    }
  }

  /**
   * Directories that exist. They are not modelled as entries of their own: a directory, once
   * made, survives every crash (the journal's own directory is made once, before any file in it).
   */
  const directories = new Set<string>(["/"])

  /** Files may be created without a `makeDirectory` (as in the older tests): their parents exist. */
  const directoryExists = (directory: string): boolean => {
    if (directories.has(directory)) return true
    const prefix = directory === "/" ? "/" : `${directory}/`
    for (const path of names.keys()) if (path.startsWith(prefix)) return true
    return false
  }

  const violation = (message: string): void => {
    violations.push(`seed ${seed}: ${message}`)
  }

  const verify = (inode: Inode): void => {
    if (checkInvariants) inode.assertInvariants()
  }

  /** Every inode the disk still holds: named ones and unlinked ones kept alive by open handles. */
  const liveInodes = (): Set<Inode> => {
    const live = new Set<Inode>(names.values())
    for (const open of handles.values()) live.add(open.inode)
    return live
  }

  /** Bytes still free on the disk (Infinity without a capacity); `inode` is counted as live. */
  const freeBytesFor = (inode: Inode): number => {
    if (capacityBytes === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY
    const live = liveInodes()
    live.add(inode)
    let used = 0
    for (const file of live) used += file.footprintBytes
    return capacityBytes - used
  }

  // ---------------------------------------------------------------------------------------------
  // Crash
  // ---------------------------------------------------------------------------------------------

  const crashNow = (crashOptions?: SimulatedDisk.CrashOptions): SimulatedDisk.CrashReport => {
    crashIndex++
    const rng = Prng.make(Prng.derive(seed, STREAM_CRASH * 0x10000 + crashIndex))
    const mode = crashOptions?.mode ?? pickMode(rng)
    const paths = [...new Set([...names.keys(), ...durableNames.keys()])].sort()
    const nextNames = new Map<string, Inode>()
    const images = new Map<Inode, Inode>()
    const files: Array<SimulatedDisk.CrashedFile> = []
    for (const path of paths) {
      const visible = names.get(path)
      const durable = durableNames.get(path)
      let survivor: Inode | undefined
      let entry: SimulatedDisk.CrashedFile["entry"]
      if (visible === durable) {
        survivor = durable
        entry = "durable"
      } else {
        const keep = keepsEntry(path, mode, rng)
        survivor = keep ? visible : durable
        entry = keep ? (visible === undefined ? "lost" : "kept") : durable === undefined ? "lost" : "durable"
      }
      const reported = visible ?? durable
      if (survivor !== undefined) {
        let rebooted = images.get(survivor)
        if (rebooted === undefined) {
          rebooted = new Inode(sectorBytes, survivor.crashImage(survivalFor(mode, survivor, rng)))
          images.set(survivor, rebooted)
        }
        nextNames.set(path, rebooted)
      }
      if (reported !== undefined) {
        files.push({
          path,
          entry,
          visibleBytes: visible?.visible.size ?? 0,
          durableBytes: durable?.durable.size ?? 0,
          survivedBytes: survivor === undefined ? 0 : (nextNames.get(path)?.visible.size ?? 0),
          pendingOps: reported.pending.length,
        })
      }
    }
    names = nextNames
    durableNames = new Map(nextNames)
    renameGroups = new Map()
    handles = new Map()
    boot++
    stats.crashes++
    currentFileIo = makeFileIo(boot)
    const describedFiles = files
      .map((file) => `${file.path}[${file.entry} ${file.durableBytes}/${file.visibleBytes}→${file.survivedBytes}]`)
      .join(" ")
    const report: SimulatedDisk.CrashReport = {
      seed,
      crashIndex,
      boot,
      mode,
      files,
      summary: `seed ${seed} crash #${crashIndex} mode ${mode}: ${describedFiles || "no files"}`,
    }
    const waiters = crashWaiters
    crashWaiters = []
    for (const waiter of waiters) Deferred.doneUnsafe(waiter, Effect.succeed(report))
    return report
  }

  // ---------------------------------------------------------------------------------------------
  // FileIo of one boot
  // ---------------------------------------------------------------------------------------------

  function makeFileIo(ownBoot: number): FileIo.FileIoService {
    const powerIsGone = (syscall: string, path: string): IoError.IoError =>
      IoError.fromErrno("EBADF", syscall, path, `seed ${seed}: boot ${ownBoot} lost power`)

    /** The open file behind a handle, or the EBADF the kernel would give. */
    const resolve = (handle: FileIo.Handle, syscall: string): OpenFile | IoError.IoError => {
      if (boot !== ownBoot) return powerIsGone(syscall, handle.path)
      const open = handles.get(handle.id)
      if (open === undefined || open.handle !== handle) return IoError.fromErrno("EBADF", syscall, handle.path)
      return open
    }

    const resolveWritable = (handle: FileIo.Handle, syscall: string): OpenFile | IoError.IoError => {
      const open = resolve(handle, syscall)
      if (open instanceof IoError.IoError) return open
      if (open.handle.readOnly) return IoError.fromErrno("EBADF", syscall, handle.path, "read-only handle")
      return open
    }

    const invalid = (syscall: string, path: string, why: string): IoError.IoError =>
      IoError.fromErrno("EINVAL", syscall, path, why)

    const checkRange = (syscall: string, path: string, offsetBytes: number, lengthBytes: number) => {
      if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) return invalid(syscall, path, `offset ${offsetBytes}`)
      if (offsetBytes + lengthBytes > MAX_FILE_BYTES) return IoError.fromErrno("EFBIG", syscall, path)
      return undefined
    }

    /** O_DIRECT's rules: aligned buffer address, length and file offset, memory from this disk. */
    const checkDirect = (syscall: string, open: OpenFile, bytes: Uint8Array, offsetBytes: number) => {
      if (!open.handle.direct) return undefined
      const address = buffers.addressOf(bytes)
      const align = BigInt(directAlignmentBytes)
      if (address === undefined) return invalid(syscall, open.handle.path, "O_DIRECT buffer not from allocateAligned")
      if (address % align !== 0n) return invalid(syscall, open.handle.path, `O_DIRECT buffer address ${address}`)
      if (bytes.length % directAlignmentBytes !== 0) {
        return invalid(syscall, open.handle.path, `O_DIRECT length ${bytes.length}`)
      }
      if (offsetBytes % directAlignmentBytes !== 0)
        return invalid(syscall, open.handle.path, `O_DIRECT offset ${offsetBytes}`)
      return undefined
    }

    /** Refuses IO on memory the disk already freed: a use-after-free on a real kernel. */
    const checkLive = (
      syscall: string,
      path: string,
      bytes: Uint8Array,
    ): BufferRecord | undefined | IoError.IoError => {
      const record = buffers.recordOf(bytes)
      if (record?.freed === true) {
        violation(`${syscall} on ${path} used an aligned buffer after its Scope freed it`)
        return IoError.fromErrno("EFAULT", syscall, path, "buffer used after free")
      }
      return record
    }

    /**
     * Runs the delays of the fired faults, then `body` with the faults that act on the call itself.
     * The buffer (if any) counts as in flight while the call waits, like a submitted IO.
     */
    const withFaults = <A>(
      op: SimulatedDisk.FaultOp,
      syscall: string,
      path: string,
      record: BufferRecord | undefined,
      body: (fired: ReadonlyArray<SimulatedDisk.Fault>) => Effect.Effect<A, IoError.IoError>,
    ): Effect.Effect<A, IoError.IoError> => {
      const fired = faults.match(op, path, faultRng)
      if (fired.length === 0) return body(fired)
      stats.faultsFired += fired.length
      const act = Effect.suspend(() => {
        for (const fault of fired) {
          if (fault._tag === "PowerLoss") {
            if (boot === ownBoot) crashNow(fault.mode === undefined ? undefined : { mode: fault.mode })
            return Effect.fail(powerIsGone(syscall, path))
          }
        }
        if (boot !== ownBoot) return Effect.fail(powerIsGone(syscall, path))
        return body(fired)
      })
      let delay: Effect.Effect<void> | undefined
      for (const fault of fired) {
        const step =
          fault._tag === "Latency"
            ? Effect.sleep(fault.duration)
            : fault._tag === "Yield"
              ? yieldTimes(fault.times)
              : undefined
        if (step !== undefined) delay = delay === undefined ? step : Effect.andThen(delay, step)
      }
      if (delay === undefined) return act
      // A submitted IO runs to completion even if the caller is interrupted (the kernel does not
      // cancel a pwrite on the threadpool or an io_uring SQE): it runs detached and the caller
      // only waits for it. A caller that frees the buffer on interruption is then caught.
      return Effect.suspend(() => {
        if (record !== undefined) record.inflight++
        const submitted = Effect.andThen(delay, act).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              if (record !== undefined) record.inflight--
            }),
          ),
        )
        return Effect.flatMap(Effect.forkDetach(submitted, { startImmediately: true }), Fiber.join)
      })
    }

    const errorOf = (
      fired: ReadonlyArray<SimulatedDisk.Fault>,
    ): (SimulatedDisk.Fault & { readonly _tag: "Error" }) | undefined => {
      for (const fault of fired) if (fault._tag === "Error") return fault
      return undefined
    }

    /** One pwrite syscall for `bytes[doneBytes..]`; continues itself after a short write. */
    const writeSyscall = (
      open: OpenFile,
      bytes: Uint8Array,
      offsetBytes: number,
      doneBytes: number,
      syscalls: number,
      record: BufferRecord | undefined,
    ): Effect.Effect<void, IoError.IoError> => {
      const path = open.handle.path
      stats.writes++
      return withFaults("write", "pwrite", path, record, (fired) => {
        const stale = resolve(open.handle, "pwrite")
        if (stale instanceof IoError.IoError) return Effect.fail(stale)
        if (record?.freed === true) {
          violation(`pwrite on ${path} completed on an aligned buffer freed while the write was in flight`)
        }
        const failure = errorOf(fired)
        if (failure !== undefined) return Effect.fail(IoError.fromErrno(failure.code, "pwrite", path, "injected"))
        const granule = open.handle.direct ? directAlignmentBytes : 1
        let lengthBytes = bytes.length - doneBytes
        for (const fault of fired) {
          if (fault._tag === "ShortWrite") {
            lengthBytes = Math.min(lengthBytes, Math.floor(Math.max(0, fault.bytes) / granule) * granule)
          }
        }
        const start = offsetBytes + doneBytes
        const inode = open.inode
        const growthBytes = Math.max(0, start + lengthBytes - inode.footprintBytes)
        const freeBytes = freeBytesFor(inode)
        let noSpace = false
        if (growthBytes > freeBytes) {
          // The disk fills up inside this write: write what fits (whole granules), then ENOSPC.
          const fits = Math.max(0, inode.footprintBytes + freeBytes - start)
          lengthBytes = Math.min(lengthBytes, Math.floor(fits / granule) * granule)
          noSpace = lengthBytes === 0
        }
        if (noSpace) return Effect.fail(IoError.fromErrno("ENOSPC", "pwrite", path))
        if (lengthBytes === 0) return Effect.fail(IoError.fromErrno("ESHORT", "pwrite", path, "write made no progress"))
        // Copied now, at completion: a caller that reuses the buffer while the write is in flight
        // gets the bytes it scribbled, as with a real kernel.
        inode.write(start, bytes.slice(doneBytes, doneBytes + lengthBytes))
        stats.bytesWritten += lengthBytes
        verify(inode)
        const done = doneBytes + lengthBytes
        if (done === bytes.length) return Effect.void
        if (syscalls + 1 >= MAX_WRITE_SYSCALLS) {
          return Effect.fail(
            IoError.fromErrno("ESHORT", "pwrite", path, `no completion after ${MAX_WRITE_SYSCALLS} writes`),
          )
        }
        return writeSyscall(open, bytes, offsetBytes, done, syscalls + 1, record)
      })
    }

    const writeAt = (handle: FileIo.Handle, bytes: Uint8Array, offsetBytes: number) =>
      Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
        const open = resolveWritable(handle, "pwrite")
        if (open instanceof IoError.IoError) return Effect.fail(open)
        const error =
          checkRange("pwrite", handle.path, offsetBytes, bytes.length) ??
          checkDirect("pwrite", open, bytes, offsetBytes)
        if (error !== undefined) return Effect.fail(error)
        const record = checkLive("pwrite", handle.path, bytes)
        if (record instanceof IoError.IoError) return Effect.fail(record)
        if (bytes.length === 0) return Effect.void
        return writeSyscall(open, bytes, offsetBytes, 0, 0, record)
      })

    /** fdatasync/fsync: persists what completed before the call started. */
    const syncFile = (handle: FileIo.Handle, op: "datasync" | "sync") =>
      Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
        const syscall = op === "datasync" ? "fdatasync" : "fsync"
        const open = resolve(handle, syscall)
        if (open instanceof IoError.IoError) return Effect.fail(open)
        if (op === "datasync") stats.datasyncs++
        else stats.syncs++
        const inode = open.inode
        const seqEnd = inode.seqNext
        return withFaults(op, syscall, handle.path, undefined, (fired) => {
          const stale = resolve(handle, syscall)
          if (stale instanceof IoError.IoError) return Effect.fail(stale)
          const failure = errorOf(fired)
          if (failure !== undefined) {
            // Writeback failed part-way: some of it reached the disk, the rest is gone for good.
            inode.failWritebackThrough(seqEnd, (ops, _durableSize) =>
              randomSubset(faultRng, ops, inode.sizeHistory().slice(0, ops.length + 1)),
            )
            return Effect.fail(IoError.fromErrno(failure.code, syscall, handle.path, "injected"))
          }
          inode.persistThrough(seqEnd)
          verify(inode)
          return Effect.void
        })
      })

    const readAt = (handle: FileIo.Handle, into: Uint8Array, offsetBytes: number) =>
      Effect.suspend((): Effect.Effect<number, IoError.IoError> => {
        const open = resolve(handle, "pread")
        if (open instanceof IoError.IoError) return Effect.fail(open)
        const error =
          checkRange("pread", handle.path, offsetBytes, into.length) ?? checkDirect("pread", open, into, offsetBytes)
        if (error !== undefined) return Effect.fail(error)
        const record = checkLive("pread", handle.path, into)
        if (record instanceof IoError.IoError) return Effect.fail(record)
        stats.reads++
        return withFaults("read", "pread", handle.path, record, (fired) => {
          const stale = resolve(handle, "pread")
          if (stale instanceof IoError.IoError) return Effect.fail(stale)
          const failure = errorOf(fired)
          if (failure !== undefined)
            return Effect.fail(IoError.fromErrno(failure.code, "pread", handle.path, "injected"))
          const file = open.inode.visible
          const count = Math.max(0, Math.min(into.length, file.size - offsetBytes))
          let source = offsetBytes
          for (const fault of fired) if (fault._tag === "MisdirectedRead") source += fault.offsetBytes
          if (source === offsetBytes) {
            into.set(file.bytes.subarray(offsetBytes, offsetBytes + count))
          } else {
            // A misdirected read may point outside the file: those bytes read as zeros.
            for (let index = 0; index < count; index++) {
              const at = source + index
              into[index] = at >= 0 && at < file.size ? (file.bytes[at] as number) : 0
            }
          }
          if (count > 0 && fired.some((fault) => fault._tag === "BitFlip")) {
            const bit = faultRng.int(count * 8)
            into[bit >> 3] = (into[bit >> 3] as number) ^ (1 << (bit & 7))
          }
          return Effect.succeed(count)
        })
      })

    const closeHandle = (handle: FileIo.Handle): void => {
      const open = handles.get(handle.id)
      if (open === undefined || open.handle !== handle) return
      handles.delete(handle.id)
      if (open.inode.lockHolder === handle.id) open.inode.lockHolder = undefined
    }

    const open = (pathInput: string, openOptions?: FileIo.OpenOptions) => {
      const path = normalizePath(pathInput)
      const acquire = Effect.suspend((): Effect.Effect<FileIo.Handle, IoError.IoError> => {
        if (boot !== ownBoot) return Effect.fail(powerIsGone("open", path))
        stats.opens++
        return withFaults("open", "open", path, undefined, (fired) => {
          const failure = errorOf(fired)
          if (failure !== undefined) return Effect.fail(IoError.fromErrno(failure.code, "open", path, "injected"))
          const direct = openOptions?.direct ?? false
          if (direct && !directIo) return Effect.fail(invalid("open", path, "filesystem refuses O_DIRECT"))
          let inode = names.get(path)
          let created = false
          if (inode === undefined) {
            if (openOptions?.create !== true) return Effect.fail(IoError.fromErrno("ENOENT", "open", path))
            if (openOptions.readOnly === true)
              return Effect.fail(IoError.fromErrno("EINVAL", "open", path, "create read-only"))
            inode = new Inode(sectorBytes)
            names.set(path, inode)
            created = true
          }
          const handle: FileIo.Handle = {
            id: nextHandleId++,
            path,
            direct,
            readOnly: openOptions?.readOnly ?? false,
            created,
          }
          handles.set(handle.id, { handle, inode, boot: ownBoot })
          return Effect.succeed(handle)
        })
      })
      return Effect.acquireRelease(acquire, (handle) => Effect.sync(() => closeHandle(handle)))
    }

    const syncDirectory = (directoryInput: string) =>
      Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
        const directory = normalizePath(directoryInput)
        if (boot !== ownBoot) return Effect.fail(powerIsGone("fsync", directory))
        stats.syncDirectories++
        return withFaults("syncDirectory", "fsync", directory, undefined, (fired) => {
          const failure = errorOf(fired)
          if (failure !== undefined) return Effect.fail(IoError.fromErrno(failure.code, "fsync", directory, "injected"))
          const synced: Array<string> = []
          for (const path of new Set([...names.keys(), ...durableNames.keys()])) {
            if (posix.dirname(path) !== directory) continue
            const inode = names.get(path)
            if (inode === undefined) durableNames.delete(path)
            else durableNames.set(path, inode)
            synced.push(path)
          }
          unlinkRenames(synced)
          return Effect.void
        })
      })

    const truncate = (handle: FileIo.Handle, sizeBytes: number) =>
      Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
        const open = resolveWritable(handle, "ftruncate")
        if (open instanceof IoError.IoError) return Effect.fail(open)
        const error = checkRange("ftruncate", handle.path, sizeBytes, 0)
        if (error !== undefined) return Effect.fail(error)
        stats.truncates++
        return withFaults("truncate", "ftruncate", handle.path, undefined, (fired) => {
          const stale = resolve(handle, "ftruncate")
          if (stale instanceof IoError.IoError) return Effect.fail(stale)
          const failure = errorOf(fired)
          if (failure !== undefined)
            return Effect.fail(IoError.fromErrno(failure.code, "ftruncate", handle.path, "injected"))
          if (sizeBytes - open.inode.footprintBytes > freeBytesFor(open.inode)) {
            return Effect.fail(IoError.fromErrno("ENOSPC", "ftruncate", handle.path))
          }
          open.inode.truncate(sizeBytes)
          verify(open.inode)
          return Effect.void
        })
      })

    const allocate = (
      handle: FileIo.Handle,
      offsetBytes: number,
      lengthBytes: number,
      mode: FileIo.AllocateMode = "keepSize",
    ) =>
      Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
        const open = resolveWritable(handle, "fallocate")
        if (open instanceof IoError.IoError) return Effect.fail(open)
        if (!Number.isSafeInteger(lengthBytes) || lengthBytes <= 0) {
          return Effect.fail(invalid("fallocate", handle.path, `length ${lengthBytes}`))
        }
        const error = checkRange("fallocate", handle.path, offsetBytes, lengthBytes)
        if (error !== undefined) return Effect.fail(error)
        stats.allocates++
        return withFaults("allocate", "fallocate", handle.path, undefined, (fired) => {
          const stale = resolve(handle, "fallocate")
          if (stale instanceof IoError.IoError) return Effect.fail(stale)
          const failure = errorOf(fired)
          if (failure !== undefined)
            return Effect.fail(IoError.fromErrno(failure.code, "fallocate", handle.path, "injected"))
          const inode = open.inode
          const end = offsetBytes + lengthBytes
          if (end - inode.footprintBytes > freeBytesFor(inode)) {
            return Effect.fail(IoError.fromErrno("ENOSPC", "fallocate", handle.path))
          }
          inode.allocatedBytes = Math.max(inode.allocatedBytes, end)
          // Mode 0 grows the file like an extending truncate: the size is volatile until a sync.
          if (mode === "extend" && end > inode.visible.size) inode.truncate(end)
          verify(inode)
          return Effect.void
        })
      })

    const size = (handle: FileIo.Handle) =>
      Effect.suspend((): Effect.Effect<number, IoError.IoError> => {
        const open = resolve(handle, "fstat")
        if (open instanceof IoError.IoError) return Effect.fail(open)
        return withFaults("size", "fstat", handle.path, undefined, (fired) => {
          const failure = errorOf(fired)
          if (failure !== undefined)
            return Effect.fail(IoError.fromErrno(failure.code, "fstat", handle.path, "injected"))
          return Effect.succeed(open.inode.visible.size)
        })
      })

    const lock = (handle: FileIo.Handle) =>
      Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
        const open = resolve(handle, "flock")
        if (open instanceof IoError.IoError) return Effect.fail(open)
        return withFaults("lock", "flock", handle.path, undefined, (fired) => {
          const failure = errorOf(fired)
          if (failure !== undefined)
            return Effect.fail(IoError.fromErrno(failure.code, "flock", handle.path, "injected"))
          const holder = open.inode.lockHolder
          if (holder !== undefined && holder !== handle.id && handles.has(holder)) {
            return Effect.fail(IoError.fromErrno("EWOULDBLOCK", "flock", handle.path, `locked by handle ${holder}`))
          }
          open.inode.lockHolder = handle.id
          return Effect.void
        })
      })

    const remove = (pathInput: string) =>
      Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
        const path = normalizePath(pathInput)
        if (boot !== ownBoot) return Effect.fail(powerIsGone("unlink", path))
        return withFaults("remove", "unlink", path, undefined, (fired) => {
          const failure = errorOf(fired)
          if (failure !== undefined) return Effect.fail(IoError.fromErrno(failure.code, "unlink", path, "injected"))
          if (!names.delete(path)) return Effect.fail(IoError.fromErrno("ENOENT", "unlink", path))
          return Effect.void
        })
      })

    const rename = (fromInput: string, toInput: string) =>
      Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
        const from = normalizePath(fromInput)
        const to = normalizePath(toInput)
        if (boot !== ownBoot) return Effect.fail(powerIsGone("rename", from))
        return withFaults("rename", "rename", from, undefined, (fired) => {
          const failure = errorOf(fired)
          if (failure !== undefined) return Effect.fail(IoError.fromErrno(failure.code, "rename", from, "injected"))
          const inode = names.get(from)
          if (inode === undefined) return Effect.fail(IoError.fromErrno("ENOENT", "rename", from))
          if (!directoryExists(posix.dirname(to))) return Effect.fail(IoError.fromErrno("ENOENT", "rename", to))
          if (directories.has(to)) return Effect.fail(IoError.fromErrno("EISDIR", "rename", to))
          if (from === to) return Effect.void
          names.set(to, inode)
          names.delete(from)
          linkRename([from, to])
          return Effect.void
        })
      })

    const listDirectory = (directoryInput: string) =>
      Effect.suspend((): Effect.Effect<ReadonlyArray<string>, IoError.IoError> => {
        const directory = normalizePath(directoryInput)
        if (boot !== ownBoot) return Effect.fail(powerIsGone("readdir", directory))
        return withFaults("list", "readdir", directory, undefined, (fired) => {
          const failure = errorOf(fired)
          if (failure !== undefined)
            return Effect.fail(IoError.fromErrno(failure.code, "readdir", directory, "injected"))
          if (!directoryExists(directory)) {
            if (names.has(directory)) return Effect.fail(IoError.fromErrno("ENOTDIR", "readdir", directory))
            return Effect.fail(IoError.fromErrno("ENOENT", "readdir", directory))
          }
          const entries = new Set<string>()
          for (const path of [...names.keys(), ...directories]) {
            if (path !== directory && posix.dirname(path) === directory) entries.add(posix.basename(path))
          }
          return Effect.succeed([...entries].sort())
        })
      })

    const makeDirectory = (directoryInput: string) =>
      Effect.suspend((): Effect.Effect<boolean, IoError.IoError> => {
        const directory = normalizePath(directoryInput)
        if (boot !== ownBoot) return Effect.fail(powerIsGone("mkdir", directory))
        return withFaults("mkdir", "mkdir", directory, undefined, (fired) => {
          const failure = errorOf(fired)
          if (failure !== undefined) return Effect.fail(IoError.fromErrno(failure.code, "mkdir", directory, "injected"))
          if (directoryExists(directory)) {
            directories.add(directory)
            return Effect.succeed(false)
          }
          if (names.has(directory)) return Effect.fail(IoError.fromErrno("EEXIST", "mkdir", directory))
          if (!directoryExists(posix.dirname(directory))) {
            return Effect.fail(IoError.fromErrno("ENOENT", "mkdir", directory))
          }
          directories.add(directory)
          return Effect.succeed(true)
        })
      })

    const allocateAligned = (byteLength: number, alignmentBytes: number) =>
      Effect.acquireRelease(
        Effect.suspend((): Effect.Effect<AlignedBuffer, IoError.IoError> => {
          if (!isPowerOfTwo(alignmentBytes)) {
            return Effect.fail(invalid("posix_memalign", "<memory>", `alignment ${alignmentBytes}`))
          }
          if (!Number.isSafeInteger(byteLength) || byteLength <= 0 || byteLength > MAX_ALIGNED_ALLOCATION_BYTES) {
            return Effect.fail(IoError.fromErrno("ENOMEM", "posix_memalign", "<memory>", `length ${byteLength}`))
          }
          const { bytes, record } = buffers.allocate(byteLength, alignmentBytes)
          return Effect.succeed({ bytes, address: record.address, byteLength, alignmentBytes })
        }),
        (buffer) =>
          Effect.sync(() => {
            const record = buffers.recordOf(buffer.bytes)
            if (record === undefined) return
            if (record.inflight > 0) {
              violation(`aligned buffer at ${record.address} freed with ${record.inflight} IO(s) in flight`)
            }
            record.freed = true
          }),
      )

    const registerBuffers = (registered: ReadonlyArray<AlignedBuffer>) =>
      Effect.sync(() => {
        for (const buffer of registered) {
          const record = buffers.recordOf(buffer.bytes)
          if (record === undefined) violation("registerBuffers got memory this disk did not allocate")
          else if (record.freed) violation(`registerBuffers got the freed buffer at ${record.address}`)
        }
        // A simulated disk has no fixed buffers: nothing to report.
        return { fixed: false, reason: "" }
      })

    const service: FileIo.FileIoService = {
      backend: "simulated",
      reason: `simulated disk (seed ${seed}, boot ${ownBoot}, sector ${sectorBytes} B, direct alignment ${directAlignmentBytes} B)`,
      open,
      close: (handle) => Effect.sync(() => closeHandle(handle)),
      writeAt,
      writeAtThenDatasync: (handle, bytes, offsetBytes) =>
        Effect.andThen(writeAt(handle, bytes, offsetBytes), syncFile(handle, "datasync")),
      readAt,
      datasync: (handle) => syncFile(handle, "datasync"),
      sync: (handle) => syncFile(handle, "sync"),
      syncDirectory,
      truncate,
      allocate,
      size,
      lock,
      remove,
      rename,
      listDirectory,
      makeDirectory,
      allocateAligned,
      registerBuffers,
    }
    return service
  }

  currentFileIo = makeFileIo(boot)

  const lookup = (path: string, table: "visible" | "durable"): Option.Option<Uint8Array> => {
    const normalized = normalizePath(path)
    const inode = (table === "visible" ? names : durableNames).get(normalized)
    if (inode === undefined) return Option.none()
    return Option.some(table === "visible" ? inode.visible.contents() : inode.durable.contents())
  }

  return {
    seed,
    sectorBytes,
    directAlignmentBytes,
    get fileIo() {
      return currentFileIo
    },
    get boot() {
      return boot
    },
    crash: (crashOptions) => Effect.sync(() => crashNow(crashOptions)),
    awaitCrash: Effect.suspend(() => {
      const waiter = Deferred.makeUnsafe<SimulatedDisk.CrashReport>()
      crashWaiters.push(waiter)
      return Deferred.await(waiter)
    }),
    inject: (rule) => Effect.sync(() => faults.add(rule)),
    clearFaults: Effect.sync(() => faults.clear()),
    stats: Effect.sync(() => ({ ...stats })),
    resetStats: Effect.sync(() => {
      stats = emptyStats()
    }),
    readFile: (path) => Effect.sync(() => lookup(path, "visible")),
    readDurableFile: (path) => Effect.sync(() => lookup(path, "durable")),
    writeFile: (path, bytes) =>
      Effect.sync(() => {
        const normalized = normalizePath(path)
        const inode = new Inode(sectorBytes, bytes)
        names.set(normalized, inode)
        durableNames.set(normalized, inode)
      }),
    files: Effect.sync(() => [...names.keys()].sort()),
    violations: Effect.sync(() => [...violations]),
  }
}
