/**
 * Facts about the block device behind a file, read from sysfs (`/sys/dev/block/<major>:<minor>`).
 *
 * A partition's queue settings live on its whole disk, so the walk goes up one level when the
 * device has a `partition` file. Stacked devices (device-mapper, md) have no hardware of their
 * own: their kind is that of the devices in `slaves/` (followed to a bounded depth). Every read
 * that fails leaves the fact `"unknown"`; nothing here throws. sysfs files are kernel memory, not
 * disk, but they are still read asynchronously.
 *
 * @internal
 */
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { Effect } from "effect"

export type DeviceKind = "nvme" | "ssd" | "hdd" | "virtual" | "unknown"

export interface DeviceFacts {
  /** Kernel name of the whole disk (`nvme0n1`, `vda`, `loop3`), or "unknown". */
  readonly name: string
  readonly kind: DeviceKind
  readonly logicalBlockSize: number | "unknown"
  readonly physicalBlockSize: number | "unknown"
  readonly rotational: boolean | "unknown"
  readonly writeCache: "write back" | "write through" | "unknown"
  readonly fua: boolean | "unknown"
}

export const unknownDevice: DeviceFacts = {
  name: "unknown",
  kind: "unknown",
  logicalBlockSize: "unknown",
  physicalBlockSize: "unknown",
  rotational: "unknown",
  writeCache: "unknown",
  fua: "unknown",
}

/** Bound on following dm/md `slaves/` links. */
const STACK_DEPTH_MAX = 4

const readText = (path: string): Effect.Effect<string | undefined> =>
  Effect.promise(() =>
    NodeFs.readFile(path, "utf8").then(
      (text) => text.trim(),
      () => undefined,
    ),
  )

const readNumber = (path: string): Effect.Effect<number | "unknown"> =>
  Effect.map(readText(path), (text) => {
    const value = text === undefined ? Number.NaN : Number(text)
    return Number.isSafeInteger(value) && value > 0 ? value : "unknown"
  })

const exists = (path: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    NodeFs.access(path).then(
      () => true,
      () => false,
    ),
  )

const realpath = (path: string): Effect.Effect<string | undefined> =>
  Effect.promise(() =>
    NodeFs.realpath(path).then(
      (resolved) => resolved,
      () => undefined,
    ),
  )

const listDir = (path: string): Effect.Effect<ReadonlyArray<string>> =>
  Effect.promise(() =>
    NodeFs.readdir(path).then(
      (names) => names,
      () => [],
    ),
  )

/** Names whose drivers are virtual or paravirtual block devices. */
const VIRTUAL_PREFIXES = ["vd", "xvd", "loop", "zram", "ram", "nbd", "rbd", "pmem"]
/** SCSI vendors/models that are hypervisors' emulated disks. */
const VIRTUAL_VENDORS = /qemu|vmware|virtual|msft|vbox|xen|google|amazon/i

/** The device kind of a whole disk directory (`/sys/devices/.../block/<name>`). */
const kindOf = (diskDir: string, depth: number): Effect.Effect<DeviceKind> =>
  Effect.gen(function* () {
    const name = NodePath.basename(diskDir)
    if (name.startsWith("dm-") || name.startsWith("md")) {
      if (depth >= STACK_DEPTH_MAX) return "unknown"
      const slaves = yield* listDir(NodePath.join(diskDir, "slaves"))
      const kinds = new Set<DeviceKind>()
      for (const slave of slaves.slice(0, 16)) {
        const slaveDir = yield* realpath(NodePath.join(diskDir, "slaves", slave))
        if (slaveDir === undefined) return "unknown"
        const wholeDisk = (yield* exists(NodePath.join(slaveDir, "partition"))) ? NodePath.dirname(slaveDir) : slaveDir
        kinds.add(yield* kindOf(wholeDisk, depth + 1))
      }
      return kinds.size === 1 ? [...kinds][0]! : "unknown"
    }
    if (name.startsWith("nvme")) return "nvme"
    if (VIRTUAL_PREFIXES.some((prefix) => name.startsWith(prefix)) || diskDir.includes("/devices/virtual/"))
      return "virtual"
    const vendor = `${(yield* readText(NodePath.join(diskDir, "device", "vendor"))) ?? ""} ${(yield* readText(NodePath.join(diskDir, "device", "model"))) ?? ""}`
    if (VIRTUAL_VENDORS.test(vendor)) return "virtual"
    const rotational = yield* readText(NodePath.join(diskDir, "queue", "rotational"))
    if (rotational === "0") return "ssd"
    if (rotational === "1") return "hdd"
    return "unknown"
  })

/** Facts for the device `major:minor`; every unreadable fact is "unknown". */
export const deviceFacts = (major: number, minor: number): Effect.Effect<DeviceFacts> =>
  Effect.gen(function* () {
    // Major 0 is an anonymous device: tmpfs, overlay, FUSE, NFS, btrfs subvolumes… no queue.
    if (major === 0) return unknownDevice
    const deviceDir = yield* realpath(`/sys/dev/block/${major}:${minor}`)
    if (deviceDir === undefined) return unknownDevice
    const diskDir = (yield* exists(NodePath.join(deviceDir, "partition"))) ? NodePath.dirname(deviceDir) : deviceDir
    const queue = (file: string) => NodePath.join(diskDir, "queue", file)
    const rotational = yield* readText(queue("rotational"))
    const writeCache = yield* readText(queue("write_cache"))
    const fua = yield* readText(queue("fua"))
    return {
      name: NodePath.basename(diskDir),
      kind: yield* kindOf(diskDir, 0),
      logicalBlockSize: yield* readNumber(queue("logical_block_size")),
      physicalBlockSize: yield* readNumber(queue("physical_block_size")),
      rotational: rotational === "1" ? true : rotational === "0" ? false : "unknown",
      writeCache: writeCache === "write back" || writeCache === "write through" ? writeCache : "unknown",
      fua: fua === "1" ? true : fua === "0" ? false : "unknown",
    } satisfies DeviceFacts
  })

/** The filesystem type of the mount with id `mountId` (from /proc/self/mountinfo), or "unknown". */
export const filesystemOf = (mountId: bigint | undefined): Effect.Effect<string> =>
  Effect.map(readText("/proc/self/mountinfo"), (text) => {
    if (text === undefined || mountId === undefined) return "unknown"
    const id = mountId.toString()
    for (const line of text.split("\n")) {
      if (!line.startsWith(`${id} `)) continue
      const separator = line.indexOf(" - ")
      if (separator < 0) return "unknown"
      return line.slice(separator + 3).split(" ")[0] ?? "unknown"
    }
    return "unknown"
  })
