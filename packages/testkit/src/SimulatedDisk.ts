/**
 * An in-memory disk with a volatile write cache, power loss and fault injection: the `FileIo`
 * layer the crash-safety suites run the real journal on.
 *
 * The disk implements the `FileIo` contract exactly (same typed `IoError`s as the Node and
 * io_uring layers) and models what stable storage holds apart from what the running system sees:
 *
 * - written bytes (and the file's size, as fdatasync does on ext4) become durable only through
 *   `datasync`/`sync` of their file;
 * - a new file's name becomes durable only through `syncDirectory` of its directory, as POSIX
 *   requires (ext4 often persists it with the file's fsync; we never count on that);
 * - a failed datasync loses the unsynced writes for good: they stay readable until the next crash,
 *   but a retried datasync succeeds without writing them (Linux's behaviour after an fsync error);
 * - `crash` replaces the disk's state by what a reboot would see, in a mode drawn from the seeded
 *   PRNG (see {@link CrashMode}); every handle and every `FileIo` of the old boot dies with it.
 *
 * Direct handles enforce O_DIRECT's rules (address, length and offset multiples of
 * `directAlignmentBytes`, buffers from this disk's `allocateAligned`), else fail with EINVAL, so
 * alignment bugs show up in tests. Everything is deterministic from `seed`: the same seed and calls
 * give the same faults and crash images, and the seed is in every crash report.
 *
 * @example
 * ```ts
 * // import { FileIo } from "@fsys/core"; import { SimulatedDisk } from "@fsys/testkit"
 * const program = Effect.gen(function* () {
 *   const disk = yield* SimulatedDisk.SimulatedDisk
 *   const handle = yield* (yield* FileIo.FileIo).open("/data/a.log", { create: true })
 *   yield* disk.inject({ op: "datasync", nth: 1, fault: SimulatedDisk.fail("EIO") })
 *   const report = yield* disk.crash({ mode: "dropUnsynced" })
 * }).pipe(Effect.scoped, Effect.provide(SimulatedDisk.layer({ seed: 42 })))
 * ```
 *
 * @since 0.1.0
 */
import { Context, type Duration, Effect, Layer, type Option } from "effect"
import type { FileIo } from "@fsys/core"
import { makeDisk } from "./internal/simulatedDisk/disk.ts"
import { contextOf, followReboots as internalFollowReboots } from "./internal/simulatedDisk/followReboots.ts"

/**
 * Which parts of the unsynced state a power cut keeps.
 *
 * - `dropUnsynced`: nothing that was not synced (the best case a journal must still handle).
 * - `keepSubset`: each unsynced sector version independently (writeback in any order), and any
 *   file size the file had since its last sync (so a tail may read as zeros).
 * - `tornWrite`: writeback in order stopped inside one write, at a sector boundary: the sectors
 *   before the tear persisted, the rest kept their old contents or read as zeros if the size
 *   reached the disk but the data did not.
 * - `loseDirectoryEntries`: all data written back, but every unsynced new directory entry lost
 *   (a new file vanishes with its synced data).
 * - `keepAll`: everything reached the disk (what a process crash looks like).
 *
 * @since 0.1.0
 * @category models
 */
export type CrashMode = "dropUnsynced" | "keepSubset" | "tornWrite" | "loseDirectoryEntries" | "keepAll"

/**
 * Every crash mode, for loops over them.
 *
 * @since 0.1.0
 * @category models
 */
export const crashModes: ReadonlyArray<CrashMode> = [
  "dropUnsynced",
  "keepSubset",
  "tornWrite",
  "loseDirectoryEntries",
  "keepAll",
]

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Every random choice derives from it; a failing seed reproduces exactly. */
  readonly seed: number
  /** The unit a power cut persists atomically (and tears at). Power of two, 512..65536. Default 512. */
  readonly sectorBytes?: number
  /**
   * The device's atomic write unit (`sectorBytes`..65536, default `sectorBytes`; reported by
   * `FileIo.directAlignment`). Larger makes a 512e-style disk: a power cut tears only at physical
   * boundaries, and a Direct write covering one in part may leave it unreadable.
   */
  readonly physicalSectorBytes?: number
  /** O_DIRECT alignment for buffer address, length and offset. Power of two ≥ 1. Default 512. */
  readonly directAlignmentBytes?: number
  /** When false, opening with `direct: true` fails with EINVAL like tmpfs. Default true. */
  readonly directIo?: boolean
  /** Total bytes the disk holds; writes and allocations past it fail with ENOSPC. Default unlimited. */
  readonly capacityBytes?: number
  /** Check every file's model invariants after each mutation (slow; for the disk's own tests). */
  readonly checkInvariants?: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CrashOptions {
  /** The mode to simulate; drawn from the seeded PRNG when absent. */
  readonly mode?: CrashMode
}

/**
 * What a crash did to one file.
 *
 * @since 0.1.0
 * @category models
 */
export interface CrashedFile {
  readonly path: string
  /** Whether the directory entry was durable, was unsynced but survived, or was lost. */
  readonly entry: "durable" | "kept" | "lost"
  /** Size the running system saw, durable size before the crash, size after the reboot. */
  readonly visibleBytes: number
  readonly durableBytes: number
  readonly survivedBytes: number
  /** Operations that were not yet synced when the power went. */
  readonly pendingOps: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CrashReport {
  readonly seed: number
  /** 1 for the first crash of this disk. */
  readonly crashIndex: number
  /** The boot that starts after the crash (the first boot is 1). */
  readonly boot: number
  readonly mode: CrashMode
  readonly files: ReadonlyArray<CrashedFile>
  /** One line for failure messages: seed, crash index, mode, files. */
  readonly summary: string
}

/**
 * System calls a fault can be attached to.
 *
 * @since 0.1.0
 * @category models
 */
export type FaultOp =
  | "open"
  | "write"
  | "read"
  | "datasync"
  | "sync"
  | "syncDirectory"
  | "truncate"
  | "allocate"
  | "writeback"
  | "size"
  | "lock"
  | "remove"
  | "rename"
  | "list"
  | "mkdir"

/**
 * errno names a fault can fail with (any other errno name is accepted too).
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorCode =
  | "EIO"
  | "ENOSPC"
  | "EDQUOT"
  | "EINVAL"
  | "EOPNOTSUPP"
  | "EACCES"
  | "EMFILE"
  | "EBUSY"
  | (string & {})

/**
 * What happens to a call when a fault fires.
 *
 * @since 0.1.0
 * @category models
 */
export type Fault =
  /** The call fails with this errno and changes nothing (a failed datasync loses unsynced writes). */
  | { readonly _tag: "Error"; readonly code: ErrorCode }
  /** The write syscall writes only `bytes` (rounded down to the alignment on Direct handles);
   * `FileIo.writeAt` continues with the rest, or fails with `ShortWrite` when `bytes` is 0. */
  | { readonly _tag: "ShortWrite"; readonly bytes: number }
  /** The call takes this long (Effect.sleep: works with TestClock and the live clock). */
  | { readonly _tag: "Latency"; readonly duration: Duration.Input }
  /** The call yields to other fibers this many times first: deterministic reordering, no clock. */
  | { readonly _tag: "Yield"; readonly times: number }
  /** The read returns data from `offsetBytes` further along (a misdirected read). */
  | { readonly _tag: "MisdirectedRead"; readonly offsetBytes: number }
  /** The read returns its data with one bit flipped. */
  | { readonly _tag: "BitFlip" }
  /** The power fails as this call starts; the call fails with EBADF. */
  | { readonly _tag: "PowerLoss"; readonly mode?: CrashMode }
  /** Every process using the disk is killed as this call starts (see `Disk.crashProcesses`). */
  | { readonly _tag: "ProcessCrash" }

/**
 * When a fault fires: on the `nth` matching call after injection (once, or `times` times from
 * there), with a `probability` per matching call (up to `times`), or on every matching call when
 * neither is given (up to `times`).
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultRule {
  readonly op: FaultOp | ReadonlyArray<FaultOp>
  readonly fault: Fault
  /** Only calls on this path (exact, after normalisation) or on paths the predicate accepts. */
  readonly path?: string | ((path: string) => boolean)
  readonly nth?: number
  readonly probability?: number
  readonly times?: number
}

/**
 * Call counters since make (or `resetStats`), one per syscall (a continued short write counts each; `dsyncWrites`: RWF_DSYNC
 * ones); `…InFlightMax`: fdatasyncs, and preads, in progress at once at most (call to return; a delaying fault holds one).
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly opens: number
  readonly writes: number
  readonly bytesWritten: number
  readonly reads: number
  readonly datasyncs: number
  readonly dsyncWrites: number
  readonly syncs: number
  readonly syncDirectories: number
  readonly truncates: number
  readonly allocates: number
  readonly writebacks: number
  readonly crashes: number
  readonly processCrashes: number
  readonly faultsFired: number
  readonly datasyncsInFlightMax: number
  readonly readsInFlightMax: number
}

/**
 * A simulated disk: its current `FileIo`, the crash switch, fault scripting and inspection.
 * @since 0.1.0
 * @category models
 */
export interface Disk {
  readonly seed: number
  readonly sectorBytes: number
  readonly physicalSectorBytes: number
  readonly directAlignmentBytes: number
  /** The current boot's `FileIo`. It dies at the next crash: take it again after a crash. */
  readonly fileIo: FileIo.FileIoService
  /** The current boot (1 until the first crash). */
  readonly boot: number
  /** Power loss now: the disk becomes what a reboot would see; old handles and FileIo die. */
  readonly crash: (options?: CrashOptions) => Effect.Effect<CrashReport>
  /**
   * Every process using the disk dies at once (SIGKILL) but the machine stays up: open handles
   * close (locks released; IO still waiting on them fails EBADF) and nothing runs their cleanup;
   * the page cache — unsynced bytes, and stale pages left by a failed writeback — stays.
   * Handles opened afterwards are a new process's. Also a fault: `processCrash`.
   */
  readonly crashProcesses: Effect.Effect<void>
  /**
   * Makes the physical sector holding `offsetBytes` of `path` unreadable (a latent sector
   * error): every read touching it fails with EIO, across reboots, until it is written again.
   */
  readonly markBadSector: (path: string, offsetBytes: number) => Effect.Effect<void>
  /** Waits for the next crash (triggered by `crash` or by a `PowerLoss` fault). */
  readonly awaitCrash: Effect.Effect<CrashReport>
  readonly inject: (rule: FaultRule) => Effect.Effect<void>
  readonly clearFaults: Effect.Effect<void>
  readonly stats: Effect.Effect<Stats>
  readonly resetStats: Effect.Effect<void>
  /** The file as the running system sees it. */
  readonly readFile: (path: string) => Effect.Effect<Option.Option<Uint8Array>>
  /** The file as `crash({ mode: "dropUnsynced" })` would leave it (durable name and bytes). */
  readonly readDurableFile: (path: string) => Effect.Effect<Option.Option<Uint8Array>>
  /** Puts a file on the disk, durable (name and bytes), as if an earlier boot had written it. */
  readonly writeFile: (path: string, bytes: Uint8Array) => Effect.Effect<void>
  /** Paths of the files the running system sees, sorted. */
  readonly files: Effect.Effect<ReadonlyArray<string>>
  /** Lifetime bugs seen (buffer freed with IO in flight, IO on freed memory); empty when correct. */
  readonly violations: Effect.Effect<ReadonlyArray<string>>
}

/**
 * The simulated disk as a service, for tests that need both the disk and its `FileIo`.
 *
 * @since 0.1.0
 * @category services
 */
export class SimulatedDisk extends Context.Service<SimulatedDisk, Disk>()("@fsys/testkit/SimulatedDisk") {}

/**
 * Makes a disk (empty, boot 1). Invalid options are a defect: they are a bug in the test.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Disk> => Effect.sync(() => makeDisk(options))

/**
 * A `FileIo` that always forwards to the disk's current boot: handles opened before a crash stay
 * dead, new opens go to the rebooted disk (for a test that reopens after a crash in one context).
 *
 * @since 0.1.0
 * @category constructors
 */
export const followReboots: (disk: Disk) => FileIo.FileIoService = internalFollowReboots

/**
 * Provides a fresh disk as `SimulatedDisk` and its `FileIo` (following reboots).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<SimulatedDisk> =>
  Layer.effectContext(Effect.map(make(options), (disk) => contextOf(SimulatedDisk, disk)))

/**
 * Provides an existing disk (built by the test, to seed files or faults first) as `SimulatedDisk` and its `FileIo`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFrom = (disk: Disk): Layer.Layer<SimulatedDisk> =>
  Layer.succeedContext(contextOf(SimulatedDisk, disk))

/**
 * The call fails with this errno.
 *
 * @since 0.1.0
 * @category faults
 */
export const fail = (code: ErrorCode): Fault => ({ _tag: "Error", code })

/**
 * The write syscall writes only `bytes` bytes.
 *
 * @since 0.1.0
 * @category faults
 */
export const shortWrite = (bytes: number): Fault => ({ _tag: "ShortWrite", bytes })

/**
 * The call takes `duration` (Effect.sleep).
 *
 * @since 0.1.0
 * @category faults
 */
export const latency = (duration: Duration.Input): Fault => ({ _tag: "Latency", duration })

/**
 * The call yields to other fibers `times` times before it runs (deterministic reordering).
 *
 * @since 0.1.0
 * @category faults
 */
export const yieldFirst = (times: number): Fault => ({ _tag: "Yield", times })

/**
 * The read returns bytes from `offsetBytes` further along.
 *
 * @since 0.1.0
 * @category faults
 */
export const misdirectedRead = (offsetBytes: number): Fault => ({ _tag: "MisdirectedRead", offsetBytes })

/**
 * The read returns its data with one bit flipped.
 *
 * @since 0.1.0
 * @category faults
 */
export const bitFlip: Fault = { _tag: "BitFlip" }

/**
 * Every process using the disk is killed as the call starts; the call fails with EBADF.
 *
 * @since 0.1.0
 * @category faults
 */
export const processCrash: Fault = { _tag: "ProcessCrash" }

/**
 * The power fails as the call starts.
 *
 * @since 0.1.0
 * @category faults
 */
export const powerLoss = (mode?: CrashMode): Fault =>
  mode === undefined ? { _tag: "PowerLoss" } : { _tag: "PowerLoss", mode }
