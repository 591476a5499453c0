/**
 * Power cuts and process kills: what a crash keeps of each file and entry, and the next boot.
 *
 * A power cut (`crashNow`) decides, path by path, which inode the next boot sees (the visible one,
 * the durable one, or none, with one coin per rename group) and what bytes of it survive (see
 * crash.ts for the modes), then starts a new boot: every handle of the old boot is gone, so every
 * call on it fails EBADF. A process kill (`crashProcessesNow`) only closes the handles.
 *
 * @since 0.1.0
 */
import { Deferred, Effect } from "effect"
import type * as SimulatedDisk from "../../SimulatedDisk.ts"
import * as Prng from "../prng.ts"
import { pickMode, survivalFor } from "./crash.ts"
import { Inode } from "./inode.ts"
import { type DiskState, keepsEntry, STREAM_CRASH } from "./state.ts"

/** What the next boot sees of `survivor`: its crash image, latent bad sectors included. */
const rebootImage = (state: DiskState, survivor: Inode, mode: SimulatedDisk.CrashMode, rng: Prng.Prng): Inode => {
  const survival = survivalFor(mode, survivor, rng, state.sectorsPerPhysical)
  const rebooted = new Inode(state.sectorBytes, survivor.crashImage(survival))
  // Latent errors stay on the media; a physical sector torn inside the device joins them.
  const sectorsKept = Math.ceil(rebooted.visible.size / state.sectorBytes)
  for (const sector of [...survivor.badSectors, ...(survival.badSectors ?? [])]) {
    if (sector < sectorsKept) rebooted.badSectors.add(sector)
  }
  return rebooted
}

interface Outcome {
  readonly names: Map<string, Inode>
  readonly files: Array<SimulatedDisk.CrashedFile>
}

/** Which inode each path names after the cut, and the report line for each path. */
const decidePaths = (state: DiskState, mode: SimulatedDisk.CrashMode, rng: Prng.Prng): Outcome => {
  const paths = [...new Set([...state.names.keys(), ...state.durableNames.keys()])].sort()
  const nextNames = new Map<string, Inode>()
  const images = new Map<Inode, Inode>()
  const files: Array<SimulatedDisk.CrashedFile> = []
  for (const path of paths) {
    const visible = state.names.get(path)
    const durable = state.durableNames.get(path)
    let survivor: Inode | undefined
    let entry: SimulatedDisk.CrashedFile["entry"]
    if (visible === durable) {
      survivor = durable
      entry = "durable"
    } else {
      const keep = keepsEntry(state, path, mode, rng)
      survivor = keep ? visible : durable
      entry = keep ? (visible === undefined ? "lost" : "kept") : durable === undefined ? "lost" : "durable"
    }
    const reported = visible ?? durable
    if (survivor !== undefined) {
      let rebooted = images.get(survivor)
      if (rebooted === undefined) {
        rebooted = rebootImage(state, survivor, mode, rng)
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
  return { names: nextNames, files }
}

/** Cuts the power: decides what survives, starts the next boot and wakes `awaitCrash` waiters. */
export const crashNow = (state: DiskState, crashOptions?: SimulatedDisk.CrashOptions): SimulatedDisk.CrashReport => {
  state.crashIndex++
  const rng = Prng.make(Prng.derive(state.seed, STREAM_CRASH * 0x10000 + state.crashIndex))
  const mode = crashOptions?.mode ?? pickMode(rng)
  const { names, files } = decidePaths(state, mode, rng)
  state.names = names
  state.durableNames = new Map(names)
  state.renameGroups = new Map()
  state.handles = new Map()
  state.boot++
  state.stats.crashes++
  const describedFiles = files
    .map((file) => `${file.path}[${file.entry} ${file.durableBytes}/${file.visibleBytes}→${file.survivedBytes}]`)
    .join(" ")
  const report: SimulatedDisk.CrashReport = {
    seed: state.seed,
    crashIndex: state.crashIndex,
    boot: state.boot,
    mode,
    files,
    summary: `seed ${state.seed} crash #${state.crashIndex} mode ${mode}: ${describedFiles || "no files"}`,
  }
  const waiters = state.crashWaiters
  state.crashWaiters = []
  for (const waiter of waiters) Deferred.doneUnsafe(waiter, Effect.succeed(report))
  return report
}

/**
 * Every process using the disk dies (SIGKILL) while the machine stays up: their handles close
 * (locks released, IO still waiting on them fails EBADF), the page cache stays as it is.
 */
export const crashProcessesNow = (state: DiskState): void => {
  state.handles = new Map()
  state.stats.processCrashes++
}
