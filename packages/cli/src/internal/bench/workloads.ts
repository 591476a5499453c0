/**
 * The bench's workloads, full and `--quick`. Every subject runs every workload for the same time
 * (or record count, whichever ends first) in the same run.
 */
import type { Workload } from "@fsys/bench/Protocol"

const KiB = 1024
const MiB = 1024 * KiB

/** The 1 MiB workload runs this many times longer (its records are few and slow). */
const LARGE_DURATION_FACTOR = 4

/** A record count no timed workload reaches; the duration ends it first. */
const UNBOUNDED_RECORDS = 50_000_000

interface Sizing {
  readonly durationMillis: number
  readonly largeRecords: number
  readonly scanFillBytes: number
}

const FULL: Sizing = { durationMillis: 2000, largeRecords: 512, scanFillBytes: 256 * MiB }
const QUICK: Sizing = { durationMillis: 100, largeRecords: 8, scanFillBytes: 4 * MiB }

/** What every workload shares unless it says otherwise. */
const baseOf = (sizing: Sizing) => ({
  producers: 1,
  batchSize: 1,
  durationMillis: sizing.durationMillis,
  maxRecords: UNBOUNDED_RECORDS,
  fillBytes: 0,
  onTmpfs: false,
})

/** The workloads whose every append (or batch) is awaited durable. */
const durable = (sizing: Sizing): ReadonlyArray<Workload> => {
  const base = baseOf(sizing)
  return [
    {
      ...base,
      name: "cpu-64p-100B-tmpfs",
      title: "64 producers, 100 B, each awaits its own durability, on tmpfs (CPU-bound: µs of CPU per record)",
      kind: "durable",
      recordBytes: 100,
      producers: 64,
      onTmpfs: true,
    },
    {
      ...base,
      name: "durable-1p-100B",
      title: "1 producer, each 100 B append awaited durable",
      kind: "durable",
      recordBytes: 100,
    },
    {
      ...base,
      name: "durable-1p-4KiB",
      title: "1 producer, each 4 KiB append awaited durable",
      kind: "durable",
      recordBytes: 4 * KiB,
    },
    {
      ...base,
      name: "durable-64p-100B",
      title: "64 producers, 100 B, each awaits its own durability",
      kind: "durable",
      recordBytes: 100,
      producers: 64,
    },
    {
      ...base,
      name: "durable-64p-4KiB",
      title: "64 producers, 4 KiB, each awaits its own durability",
      kind: "durable",
      recordBytes: 4 * KiB,
      producers: 64,
    },
    {
      ...base,
      name: "durable-batch100-100B",
      title: "batches of 100 × 100 B, each batch awaited durable",
      kind: "durableBatch",
      recordBytes: 100,
      batchSize: 100,
    },
  ]
}

/** The workloads that append without awaiting durability (one sync at the end), and the scan. */
const unsyncedAndScan = (sizing: Sizing): ReadonlyArray<Workload> => {
  const base = baseOf(sizing)
  return [
    {
      ...base,
      name: "unsynced-1p-100B",
      title: "unsynced appends, 100 B, one sync at the end",
      kind: "unsynced",
      recordBytes: 100,
    },
    {
      ...base,
      name: "unsynced-1p-4KiB",
      title: "unsynced appends, 4 KiB, one sync at the end",
      kind: "unsynced",
      recordBytes: 4 * KiB,
    },
    {
      ...base,
      name: "unsynced-batch100-100B",
      title: "unsynced appendBatch of 100 × 100 B, one sync at the end",
      kind: "unsyncedBatch",
      recordBytes: 100,
      batchSize: 100,
    },
    {
      ...base,
      name: "unsynced-1MiB",
      title: "1 MiB records, unsynced, one sync at the end (vs the disk's O_DIRECT bandwidth)",
      kind: "unsynced",
      recordBytes: MiB,
      durationMillis: sizing.durationMillis * LARGE_DURATION_FACTOR,
      maxRecords: sizing.largeRecords,
    },
    {
      ...base,
      name: "scan-4KiB",
      title: `recovery scan: read back ${sizing.scanFillBytes / MiB} MiB of 4 KiB records`,
      kind: "scan",
      recordBytes: 4 * KiB,
      fillBytes: sizing.scanFillBytes,
    },
  ]
}

const make = (sizing: Sizing): ReadonlyArray<Workload> => [...durable(sizing), ...unsyncedAndScan(sizing)]

/** The workloads of a full run. */
export const full: ReadonlyArray<Workload> = make(FULL)

/** The workloads of `--quick` (seconds, for the CI smoke test). */
export const quick: ReadonlyArray<Workload> = make(QUICK)

/** Bytes the O_DIRECT reference writes, matching the 1 MiB workload. */
export const oDirectReferenceBytes = (isQuick: boolean): number => (isQuick ? QUICK : FULL).largeRecords * MiB

/** The workloads with a timed phase of `durationMillis` (the 1 MiB workload keeps its multiple). */
export const withDuration = (workloads: ReadonlyArray<Workload>, durationMillis: number): Array<Workload> =>
  workloads.map((w) => ({
    ...w,
    durationMillis: w.name === "unsynced-1MiB" ? durationMillis * LARGE_DURATION_FACTOR : durationMillis,
  }))
