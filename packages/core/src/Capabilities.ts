/**
 * What the disk under a path can do for a journal: the hardware-aware facts fsys decides with.
 *
 * `probe(path)` reports, for the filesystem and block device holding `path`:
 * - `directIo`: whether O_DIRECT works, found by trying (a scratch file next to `path` is opened
 *   with O_DIRECT, one aligned block written and read back, then removed), with `directIoReason`;
 * - `dioMemAlign` / `dioOffsetAlign`: the Direct-IO alignment from `statx(STATX_DIOALIGN)`;
 * - `logicalBlockSize`, `physicalBlockSize`, `rotational`, `writeCache` ("write back" /
 *   "write through"), `fua` and `deviceKind` (nvme / ssd / hdd / virtual) from sysfs, via the
 *   device behind the path (partitions resolved to their disk, dm/md to their members);
 * - `ioUring`: whether a ring can be set up here, why not, and its features;
 * - `kernel`: the running kernel release;
 * - `sectorBytes`: the alignment a Direct journal must use — the DIO offset alignment when the
 *   filesystem reports it, else the logical block size, else 4096, and never smaller than the
 *   smallest alignment a Direct write was actually accepted at. It is measured on a file that
 *   exists, after it exists, so a 4Kn device gets 4096 (fsys bug FS-J7: the sector size was
 *   probed before the file existed and 512-byte writes then failed).
 *
 * Unknowns are reported as `"unknown"`, never guessed and never thrown: tmpfs, overlay, FUSE and
 * network filesystems have no block device, some report no DIO alignment. The only failure is a
 * path whose directory does not exist or cannot be examined. Results are cached per device
 * (`st_dev`), so a second probe on the same filesystem costs two statx calls.
 *
 * @since 0.1.0
 */
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { IoError, IoUring, Statx } from "@fsys/native"
import { probeIoUring } from "./FileIoAuto.ts"
import { type DirectIoFacts, probeDirectIo } from "./internal/capabilities/directIo.ts"
import { type DeviceKind, deviceFacts, filesystemOf } from "./internal/capabilities/sysfs.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type { DeviceKind }

/**
 * A fact that could not be established.
 *
 * @since 0.1.0
 * @category models
 */
export type Unknown = "unknown"

/**
 * @since 0.1.0
 * @category models
 */
export interface IoUringFacts {
  readonly available: boolean
  readonly reason: string
  readonly features: number | Unknown
  readonly featureNames: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Capabilities {
  /** The path probed, absolute. */
  readonly path: string
  /** Filesystem type from the mount table (`ext4`, `xfs`, `tmpfs`…). */
  readonly filesystem: string
  /** `major:minor` of the device holding the file (st_dev). */
  readonly deviceNumber: string
  /** Kernel name of the whole disk (`nvme0n1`, `vda`), or "unknown" for anonymous devices. */
  readonly device: string
  readonly directIo: boolean | Unknown
  readonly directIoReason: string
  readonly dioMemAlign: number | Unknown
  readonly dioOffsetAlign: number | Unknown
  readonly logicalBlockSize: number | Unknown
  readonly physicalBlockSize: number | Unknown
  readonly deviceKind: DeviceKind
  readonly rotational: boolean | Unknown
  readonly writeCache: "write back" | "write through" | Unknown
  readonly fua: boolean | Unknown
  readonly ioUring: IoUringFacts
  readonly kernel: string
  /** The alignment (offset, length and memory) a Direct journal on this file must use. */
  readonly sectorBytes: number
}

/**
 * The sector size used when nothing is known: the largest common logical block size.
 *
 * @since 0.1.0
 * @category constants
 */
export const SECTOR_BYTES_DEFAULT = 4096

/**
 * @deprecated Use `SECTOR_BYTES_DEFAULT` (qualifiers come last: `_MIN`, `_MAX`, `_DEFAULT`).
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_SECTOR_BYTES = SECTOR_BYTES_DEFAULT

/**
 * Most devices whose facts are cached (a process rarely sees more than a handful).
 *
 * @since 0.1.0
 * @category constants
 */
export const CACHED_DEVICES_MAX = 256

type DeviceEntry = Omit<Capabilities, "path">

const cache = new Map<string, DeviceEntry>()

/**
 * The Direct-journal alignment from the facts (see the module doc). Exported for tests and tools.
 *
 * @since 0.1.0
 * @category utils
 */
export const sectorBytesOf = (facts: {
  readonly dioOffsetAlign: number | Unknown
  readonly logicalBlockSize: number | Unknown
  readonly acceptedAlignment: number | Unknown
}): number => {
  const preferred =
    facts.dioOffsetAlign !== "unknown"
      ? facts.dioOffsetAlign
      : facts.logicalBlockSize !== "unknown"
        ? facts.logicalBlockSize
        : SECTOR_BYTES_DEFAULT
  return facts.acceptedAlignment !== "unknown" ? Math.max(preferred, facts.acceptedAlignment) : preferred
}

/** Where to probe: the directory holding `path`, the existing regular file (if any), its statx. */
const locate = (
  absolute: string,
): Effect.Effect<{ directory: string; existingFile: string | undefined; stat: Statx.Statx }, IoError.IoError> =>
  Effect.gen(function* () {
    const own = yield* Effect.result(Statx.path(absolute))
    if (own._tag === "Success") {
      if (own.success.isDirectory) return { directory: absolute, existingFile: undefined, stat: own.success }
      return {
        directory: NodePath.dirname(absolute),
        existingFile: own.success.isRegularFile ? absolute : undefined,
        stat: own.success,
      }
    }
    if (own.failure.reason !== "NotFound") return yield* Effect.fail(own.failure)
    const directory = NodePath.dirname(absolute)
    const parent = yield* Statx.path(directory)
    if (!parent.isDirectory) return yield* Effect.fail(IoError.fromErrno("ENOTDIR", "statx", directory))
    return { directory, existingFile: undefined, stat: parent }
  })

const probeDevice = (
  directory: string,
  existingFile: string | undefined,
  stat: Statx.Statx,
): Effect.Effect<{ entry: DeviceEntry; direct: DirectIoFacts }> =>
  Effect.gen(function* () {
    const direct = yield* probeDirectIo(directory, existingFile)
    const device = yield* deviceFacts(stat.devMajor, stat.devMinor)
    const filesystem = yield* filesystemOf(stat.mountId)
    const ioUring = yield* probeIoUring
    const entry: DeviceEntry = {
      filesystem,
      deviceNumber: `${stat.devMajor}:${stat.devMinor}`,
      device: device.name,
      directIo: direct.directIo,
      directIoReason: direct.reason,
      dioMemAlign: direct.dioMemAlign,
      dioOffsetAlign: direct.dioOffsetAlign,
      logicalBlockSize: device.logicalBlockSize,
      physicalBlockSize: device.physicalBlockSize,
      deviceKind: device.kind,
      rotational: device.rotational,
      writeCache: device.writeCache,
      fua: device.fua,
      ioUring: {
        available: ioUring.available,
        reason: ioUring.reason,
        features: ioUring.features ?? "unknown",
        featureNames: ioUring.features !== undefined ? IoUring.featureNames(ioUring.features) : [],
      },
      kernel: NodeOs.release(),
      sectorBytes: sectorBytesOf({
        dioOffsetAlign: direct.dioOffsetAlign,
        logicalBlockSize: device.logicalBlockSize,
        acceptedAlignment: direct.acceptedAlignment,
      }),
    }
    return { entry, direct }
  })

/**
 * Probes the filesystem and device holding `path` (a file, existing or not, or a directory).
 * Fails only when the directory cannot be examined (`NotFound`, `PermissionDenied`…).
 *
 * @since 0.1.0
 * @category constructors
 */
export const probe = (path: string): Effect.Effect<Capabilities, IoError.IoError> =>
  Effect.gen(function* () {
    const absolute = NodePath.resolve(path)
    const { directory, existingFile, stat } = yield* locate(absolute)
    const key = `${stat.devMajor}:${stat.devMinor}`
    const cached = cache.get(key)
    if (cached !== undefined) return { path: absolute, ...cached }
    const { entry, direct } = yield* probeDevice(directory, existingFile, stat)
    // Only definite answers are cached: "unknown" may come from this directory (read-only), not
    // from the device.
    if (direct.directIo !== "unknown" && cache.size < CACHED_DEVICES_MAX) cache.set(key, entry)
    return { path: absolute, ...entry }
  }).pipe(Effect.withSpan("Capabilities.probe", { attributes: { path } }))

/**
 * Forgets cached device facts (after remounting, or in tests).
 *
 * @since 0.1.0
 * @category utils
 */
export const clearCache: Effect.Effect<void> = Effect.sync(() => cache.clear())
