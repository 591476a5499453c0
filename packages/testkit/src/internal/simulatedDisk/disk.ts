/**
 * The simulated disk's engine: the `Disk` a test holds, over the state in state.ts.
 *
 * The FileIo of the current boot comes from fileIo.ts (its operations grouped by kind in
 * dataIo.ts, durability.ts, directory.ts and handles.ts, all going through boot.ts and the fault
 * dispatch in dispatch.ts); crashes and process kills are in power.ts.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Option } from "effect"
import type { FileIo } from "@fsys/core"
import type * as SimulatedDisk from "../../SimulatedDisk.ts"
import { makeFileIo } from "./fileIo.ts"
import { Inode } from "./inode.ts"
import { crashNow, crashProcessesNow } from "./power.ts"
import { type DiskState, emptyStats, makeState, normalizePath } from "./state.ts"

const lookup = (state: DiskState, path: string, table: "visible" | "durable"): Option.Option<Uint8Array> => {
  const normalized = normalizePath(path)
  const inode = (table === "visible" ? state.names : state.durableNames).get(normalized)
  if (inode === undefined) return Option.none()
  return Option.some(table === "visible" ? inode.visible.contents() : inode.durable.contents())
}

const markBadSector = (state: DiskState, path: string, offsetBytes: number): void => {
  const inode = state.names.get(normalizePath(path))
  if (inode === undefined) throw new RangeError(`SimulatedDisk.markBadSector: no file ${path}`)
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) {
    throw new RangeError(`SimulatedDisk.markBadSector: offset ${offsetBytes}`)
  }
  const first = Math.floor(offsetBytes / state.physicalSectorBytes) * state.sectorsPerPhysical
  for (let sector = first; sector < first + state.sectorsPerPhysical; sector++) inode.badSectors.add(sector)
}

export const makeDisk = (options: SimulatedDisk.Options): SimulatedDisk.Disk => {
  const state = makeState(options)
  // One FileIo per boot, made when the boot is first asked for it (a crash starts a new boot).
  let current: { readonly boot: number; readonly fileIo: FileIo.FileIoService } = {
    boot: state.boot,
    fileIo: makeFileIo(state, state.boot),
  }
  return {
    seed: state.seed,
    sectorBytes: state.sectorBytes,
    physicalSectorBytes: state.physicalSectorBytes,
    directAlignmentBytes: state.directAlignmentBytes,
    get fileIo() {
      if (current.boot !== state.boot) current = { boot: state.boot, fileIo: makeFileIo(state, state.boot) }
      return current.fileIo
    },
    get boot() {
      return state.boot
    },
    crash: (crashOptions) => Effect.sync(() => crashNow(state, crashOptions)),
    crashProcesses: Effect.sync(() => crashProcessesNow(state)),
    markBadSector: (path, offsetBytes) => Effect.sync(() => markBadSector(state, path, offsetBytes)),
    awaitCrash: Effect.suspend(() => {
      const waiter = Deferred.makeUnsafe<SimulatedDisk.CrashReport>()
      state.crashWaiters.push(waiter)
      return Deferred.await(waiter)
    }),
    inject: (rule) => Effect.sync(() => state.faults.add(rule)),
    clearFaults: Effect.sync(() => state.faults.clear()),
    stats: Effect.sync(() => ({ ...state.stats })),
    resetStats: Effect.sync(() => {
      state.stats = emptyStats()
    }),
    readFile: (path) => Effect.sync(() => lookup(state, path, "visible")),
    readDurableFile: (path) => Effect.sync(() => lookup(state, path, "durable")),
    writeFile: (path, bytes) =>
      Effect.sync(() => {
        const normalized = normalizePath(path)
        const inode = new Inode(state.sectorBytes, bytes)
        state.names.set(normalized, inode)
        state.durableNames.set(normalized, inode)
      }),
    files: Effect.sync(() => [...state.names.keys()].sort()),
    violations: Effect.sync(() => [...state.violations]),
  }
}
