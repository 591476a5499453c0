/**
 * One seed of the segmented journal's power-loss suite: a random workload for one mode
 * (rotation, truncateFront, truncateBack, retention, checkpoint) over a SimulatedDisk, a power
 * cut at a random system call (any of write, sync, directory fsync, rename, unlink, truncate,
 * open), then a reopen and the invariants:
 *
 * 1. the reopen succeeds (a crash is never reported as damage);
 * 2. the records read back are contiguous from `firstLsn`, each one exactly what was appended at
 *    that LSN (no garbage, no record from before a truncateBack);
 * 3. every acknowledged record (a sync returned for it) at or above the kept LSN is there, unless
 *    a truncateBack cut it: a truncateBack in flight leaves the old end (≥ the acknowledged LSN)
 *    or exactly the new one, never a mix;
 * 4. `firstLsn` is at or below every LSN truncateFront or retention had to keep;
 * 5. the checkpoint is the last completed one, or the one in flight;
 * 6. the journal works after recovery: an append, a sync, a clean reopen.
 */
import { Effect, Exit, Stream } from "effect"
import { FileIo, SegmentedJournal } from "@fsys/core"
import { SimulatedDisk } from "@fsys/testkit"
import * as Prng from "../../src/internal/prng.ts"

export type SegmentMode = "rotation" | "truncateFront" | "truncateBack" | "retention" | "checkpoint"
/** The journal's IO mode: each seed runs in one, chosen by the caller (CI runs both). */
export type IoMode = "buffered" | "direct"
export const ioModes: ReadonlyArray<IoMode> = ["buffered", "direct"]
export const segmentModes: ReadonlyArray<SegmentMode> = [
  "rotation",
  "truncateFront",
  "truncateBack",
  "retention",
  "checkpoint",
]

const DIRECTORY = "/seg"
/** Operations per workload: enough for several rotations of 4 KiB segments. */
const OPERATIONS_MAX = 30
/** truncateBack's workload is longer: it needs more appends to still span segments. */
const OPERATIONS_MAX_TRUNCATE_BACK = 60
/** Retention's too: it drops (and recycles) segments only once more than `retainBytes` is kept. */
const OPERATIONS_MAX_RETENTION = 80
/** The system calls a power cut may hit. */
const CRASH_OPS: ReadonlyArray<SimulatedDisk.FaultOp> = [
  "write",
  "datasync",
  "sync",
  "syncDirectory",
  "rename",
  "remove",
  "truncate",
  "open",
]

const DIRECTORY_OPS: ReadonlyArray<SimulatedDisk.FaultOp> = ["rename", "remove", "syncDirectory"]
const DIRECTORY_CUT_FRACTION = 0.3
const METADATA_OPS: ReadonlyArray<SimulatedDisk.FaultOp> = ["open", "remove", "rename", "syncDirectory", "truncate"]
const SLOW_METADATA_FRACTION = 0.4
/** Chance that the power fails right after a sync returns (per sync). */
const CUT_AFTER_ACK_CHANCE = 0.08

interface Model {
  /** What was appended at each LSN (overwritten after a completed truncateBack). */
  readonly payloads: Map<number, Uint8Array>
  /** Frame end of the record at each LSN. */
  readonly ends: Map<number, number>
  acked: number
  keepFrom: number
  truncating: number | undefined
  checkpoint: { lsn: number; data: Uint8Array } | undefined
  checkpointInFlight: { lsn: number; data: Uint8Array } | undefined
  /** The most segments the journal held during the workload (≥ 2: it rotated). */
  segmentsMax: number
  /** Special operations (truncateFront, …) that returned, and one in flight at the cut. */
  specialsDone: number
  specialInFlight: boolean
  /** Segments renamed to `recycled.journal`, and whether one is between that and becoming the standby. */
  recycles: number
  recycling: boolean
}

/** What a seed exercised: the suites assert each mode really covers its operation. */
export interface Coverage {
  readonly rotated: boolean
  readonly specialsDone: number
  /** The power cut hit during the mode's own operation (a truncation, a checkpoint). */
  readonly cutDuringSpecial: boolean
  /** Segments recycled as standbys, and whether the cut hit between retiring one and its reuse. */
  readonly recycles: number
  readonly cutDuringRecycle: boolean
}

export interface SeedOutcome {
  readonly failures: ReadonlyArray<string>
  readonly appended: number
  readonly coverage: Coverage
}

const payloadOf = (rng: Prng.Prng, tag: number): Uint8Array => {
  const bytes = new Uint8Array(8 + rng.int(600))
  const view = new DataView(bytes.buffer)
  view.setUint32(0, tag)
  view.setUint32(4, rng.nextUint32())
  for (let i = 8; i < bytes.length; i++) bytes[i] = (tag * 13 + i) & 0xff
  return bytes
}

const sameBytes = (a: Uint8Array, b: Uint8Array | undefined): boolean =>
  b !== undefined && a.length === b.length && a.every((value, index) => value === b[index])

const optionsFor = (rng: Prng.Prng, mode: SegmentMode, ioMode: IoMode, seed: number): SegmentedJournal.Options => ({
  mode: ioMode,
  // Every other seed lets two rounds be in flight (from the seed: the rng's draws stay as they were).
  overlapRounds: seed % 2 === 0 ? "always" : "never",
  logBufferBytes: 4096,
  sectorBytes: 512,
  segmentBytes: 4096,
  preallocateBytes: 0,
  ...(mode === "retention" ? { retainBytes: 4096 * rng.range(1, 3) } : {}),
  // Retired segments become standbys (rename, zero, rename, open) in most retention seeds and
  // half the truncateFront ones (where one waits in the pool until a rotation takes it); the
  // other seeds keep the unlink path covered.
  ...(mode === "retention" || mode === "truncateFront"
    ? { recycleSegments: rng.chance(mode === "retention" ? 0.75 : 0.5) }
    : {}),
})

const RECYCLED_NAME = "recycled.journal"

/** The workload; it stops at the first failure (the power cut). */
const workload = (
  journal: SegmentedJournal.Handle,
  rng: Prng.Prng,
  mode: SegmentMode,
  model: Model,
  powerCutNow: Effect.Effect<unknown>,
) =>
  Effect.gen(function* () {
    let tag = 1
    const operations =
      mode === "truncateBack"
        ? OPERATIONS_MAX_TRUNCATE_BACK
        : mode === "retention"
          ? OPERATIONS_MAX_RETENTION
          : OPERATIONS_MAX
    // truncateBack takes records away: rarer, so the journal still grows across segments.
    const specialFrom = mode === "truncateBack" ? 0.88 : 0.75
    for (let step = 0; step < operations; step++) {
      const draw = rng.float()
      if (draw < 0.55 || (draw >= 0.75 && draw < specialFrom)) {
        const payload = payloadOf(rng, tag++)
        const end = yield* journal.append(payload)
        model.payloads.set(end - payload.length - 12, payload)
        model.ends.set(end - payload.length - 12, end)
        model.segmentsMax = Math.max(model.segmentsMax, (yield* journal.segments).length)
      } else if (draw < 0.75) {
        const target = yield* journal.nextLsn
        yield* journal.syncThrough(target)
        if (target > model.acked) model.acked = target
        // The power fails the moment an acknowledgement returns, while a rotation or a directory
        // change may still be running in its own fiber: what was acknowledged must survive even
        // if nothing else reaches the disk (a name made durable late is caught here).
        if (rng.chance(CUT_AFTER_ACK_CHANCE)) {
          yield* powerCutNow
          return
        }
      } else {
        model.specialInFlight = true
        yield* special(journal, rng, mode, model, tag)
        tag += 8
        model.specialInFlight = false
        model.specialsDone++
      }
    }
    yield* journal.sync
    model.acked = yield* journal.nextLsn
  })

const recordStarts = (model: Model, from: number, to: number): Array<number> =>
  [...model.ends.keys()].filter((lsn) => lsn >= from && lsn < to).sort((a, b) => a - b)

const special = (journal: SegmentedJournal.Handle, rng: Prng.Prng, mode: SegmentMode, model: Model, tag: number) =>
  Effect.gen(function* () {
    const first = yield* journal.firstLsn
    const next = yield* journal.nextLsn
    switch (mode) {
      case "rotation": {
        // A batch (one contiguous reservation) that may straddle the rotation threshold.
        // Registered before the call (the workload is sequential, so it starts at nextLsn): a batch
        // that waits for a flush can be cut part-way, and what of it reached the disk is legal.
        const batch = Array.from({ length: rng.range(2, 6) }, (_, k) => payloadOf(rng, tag + k))
        let end = next
        for (const payload of batch) {
          model.payloads.set(end, payload)
          model.ends.set(end, end + payload.length + 12)
          end += payload.length + 12
        }
        yield* journal.appendBatch(batch)
        model.segmentsMax = Math.max(model.segmentsMax, (yield* journal.segments).length)
        return
      }
      case "truncateFront": {
        // Often the end: every sealed segment is then dropped (directory changes to cut into).
        const lsn = rng.chance(0.4) ? next : rng.range(first, next)
        if (lsn > model.keepFrom) model.keepFrom = lsn
        return yield* journal.truncateFront(lsn)
      }
      case "truncateBack": {
        const starts = recordStarts(model, Math.max(first, model.checkpoint?.lsn ?? 0), next)
        if (starts.length === 0) return
        // Mostly one of the last few records, so the journal still grows across segments and a
        // cut can span them; sometimes anywhere.
        const lsn = rng.chance(0.7)
          ? starts[starts.length - 1 - rng.int(Math.min(4, starts.length))]!
          : rng.pick(starts)
        model.truncating = lsn
        yield* journal.truncateBack(lsn)
        model.truncating = undefined
        for (const start of [...model.ends.keys()]) {
          if (start >= lsn) {
            model.ends.delete(start)
            model.payloads.delete(start)
          }
        }
        if (model.acked > lsn) model.acked = lsn
        return
      }
      case "retention":
      case "checkpoint": {
        // A checkpoint names a record boundary: a record's start, or the end.
        const lsn = rng.pick([...recordStarts(model, first, next), next])
        const data = new Uint8Array(rng.int(32)).fill(rng.int(256))
        model.checkpointInFlight = { lsn, data }
        yield* journal.checkpoint(lsn, data)
        model.checkpoint = { lsn, data }
        model.checkpointInFlight = undefined
        if (lsn > model.acked) model.acked = lsn
        if (mode === "retention" && lsn > model.keepFrom) {
          // Retention may drop whole segments ending at or below the checkpoint: keep from there.
          model.keepFrom = Math.max(model.keepFrom, 0)
        }
        return
      }
    }
  })

const check = (journal: SegmentedJournal.Handle, model: Model, mode: SegmentMode, failures: Array<string>) =>
  Effect.gen(function* () {
    const first = yield* journal.firstLsn
    const next = yield* journal.nextLsn
    const records = yield* Stream.runCollect(journal.records())
    let expected = first
    for (const record of records) {
      if (record.lsn !== expected) failures.push(`record at ${record.lsn}, expected one at ${expected}`)
      if (!sameBytes(record.payload, model.payloads.get(record.lsn))) {
        failures.push(`record at ${record.lsn} is not what was appended there`)
      }
      expected = model.ends.get(record.lsn) ?? record.lsn + record.payload.length + 12
    }
    if (expected !== next) failures.push(`records end at ${expected}, nextLsn is ${next}`)
    const truncating = model.truncating
    if (truncating !== undefined) {
      if (next !== truncating && next < model.acked) {
        failures.push(
          `truncateBack(${truncating}) in flight left end ${next}: neither new nor old (acked ${model.acked})`,
        )
      }
    } else if (next < model.acked) {
      failures.push(`acknowledged through ${model.acked}, recovered only to ${next}`)
    }
    // A segment is deleted only when it ends at or below the LSN truncateFront was given (sealed
    // segments are durable whatever the model acknowledged, so the bound is that LSN alone).
    const mustKeep = model.keepFrom
    if (mode === "truncateFront" && first > mustKeep) {
      failures.push(`firstLsn ${first} is above ${mustKeep}, which truncateFront had to keep`)
    }
    if (mode === "retention") {
      const bound = model.checkpointInFlight?.lsn ?? model.checkpoint?.lsn ?? 0
      if (first > Math.max(bound, model.checkpoint?.lsn ?? 0)) {
        failures.push(`retention dropped past the checkpoint: firstLsn ${first} > ${bound}`)
      }
    }
    const saved = yield* journal.lastCheckpoint
    const allowed = [model.checkpoint, model.checkpointInFlight]
    const matches = allowed.some((candidate) =>
      candidate === undefined
        ? saved === undefined
        : saved !== undefined && saved.lsn === candidate.lsn && sameBytes(saved.data, candidate.data),
    )
    if (!matches) failures.push(`checkpoint ${JSON.stringify(saved?.lsn)} is neither the last nor the one in flight`)
  })

/** The first boot's FileIo, noting when a segment is recycled and when the standby takes it. */
const watchRecycling = (io: FileIo.FileIoService, model: Model): FileIo.FileIoService => ({
  ...io,
  rename: (from, to) =>
    Effect.tap(io.rename(from, to), () =>
      Effect.sync(() => {
        if (to.endsWith(`/${RECYCLED_NAME}`)) {
          model.recycles++
          model.recycling = true
        } else if (from.endsWith(`/${RECYCLED_NAME}`)) model.recycling = false
      }),
    ),
})

export const runSegmentSeed = (seed: number, mode: SegmentMode, ioMode: IoMode): Effect.Effect<SeedOutcome> =>
  Effect.gen(function* () {
    const rng = Prng.make(Prng.derive(seed, 0x5e6))
    const disk = yield* SimulatedDisk.make({ seed })
    const io = SimulatedDisk.followReboots(disk)
    const options = optionsFor(rng, mode, ioMode, seed)
    const model: Model = {
      payloads: new Map(),
      ends: new Map(),
      acked: 0,
      keepFrom: 0,
      truncating: undefined,
      checkpoint: undefined,
      checkpointInFlight: undefined,
      segmentsMax: 1,
      specialsDone: 0,
      specialInFlight: false,
      recycles: 0,
      recycling: false,
    }
    const failures: Array<string> = []
    const provide = <A, E>(effect: Effect.Effect<A, E, FileIo.FileIo>) =>
      Effect.provideService(effect, FileIo.FileIo, io)
    // Most seeds cut at any system call; some at a directory change (rename, unlink, directory
    // fsync), which are few per workload and would otherwise be hit only rarely.
    yield* disk.inject(
      rng.chance(DIRECTORY_CUT_FRACTION)
        ? { op: [...DIRECTORY_OPS], nth: rng.range(1, 8), fault: SimulatedDisk.powerLoss() }
        : { op: [...CRASH_OPS], nth: rng.range(1, 400), fault: SimulatedDisk.powerLoss() },
    )
    // Some seeds slow the metadata calls down (each yields to other fibers first): a rotation or
    // a directory change then runs long beside the workload, which widens every window where an
    // acknowledgement could come before the name it depends on is durable.
    if (rng.chance(SLOW_METADATA_FRACTION)) {
      yield* disk.inject({ op: [...METADATA_OPS], fault: SimulatedDisk.yieldFirst(rng.range(4, 40)) })
    }
    // The first boot's own FileIo: it dies with the power cut, so no fiber of the old process
    // (a rotation still running, the scope's close) can touch the rebooted disk.
    const firstBoot = watchRecycling(disk.fileIo, model)
    yield* Effect.exit(
      Effect.scoped(
        Effect.flatMap(SegmentedJournal.open(DIRECTORY, options), (j) => workload(j, rng, mode, model, disk.crash())),
      ).pipe(Effect.provideService(FileIo.FileIo, firstBoot)),
    )
    let report = ""
    const cutInWorkload = disk.boot !== 1
    if (disk.boot === 1) report = (yield* disk.crash()).summary
    yield* disk.clearFaults
    const reopened = yield* Effect.exit(
      provide(
        Effect.scoped(
          Effect.gen(function* () {
            const journal = yield* SegmentedJournal.open(DIRECTORY, options)
            yield* check(journal, model, mode, failures)
            const extra = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])
            const end = yield* journal.append(extra)
            yield* journal.sync
            yield* journal.close
            const again = yield* SegmentedJournal.open(DIRECTORY, options)
            if ((yield* again.nextLsn) !== end) failures.push("the record appended after recovery was lost")
            const back = yield* again.read(end - 20)
            if (!sameBytes(back, extra)) failures.push("the record appended after recovery reads back wrong")
          }),
        ),
      ),
    )
    if (Exit.isFailure(reopened)) failures.push(`reopen failed: ${String(Exit.isFailure(reopened) && reopened.cause)}`)
    const violations = yield* disk.violations
    for (const violation of violations) failures.push(violation)
    return {
      failures: failures.map((failure) => `seed ${seed} ${mode} ${JSON.stringify(options.mode)}: ${failure} ${report}`),
      appended: model.payloads.size,
      coverage: {
        rotated: model.segmentsMax > 1,
        specialsDone: model.specialsDone,
        cutDuringSpecial: model.specialInFlight,
        recycles: model.recycles,
        cutDuringRecycle: cutInWorkload && model.recycling,
      },
    }
  })
