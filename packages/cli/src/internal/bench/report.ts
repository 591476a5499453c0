/**
 * Turns the bench's outcomes into what people read: the median of each (workload, subject)'s
 * passes, ratios against node:fs, against the best peer and against the ceiling (`limit`, or the
 * disk's O_DIRECT bandwidth for large records), and the targets of issue 12 (met or missed, with
 * the numbers). Rendering is `render.ts`.
 * Each ratio carries its spread over the passes (`spread.ts`).
 */
import { statfsSync } from "node:fs"
import { cpus, release, totalmem } from "node:os"
import type { Measurement, Outcome, SubjectName, Workload } from "@fsys/bench/Protocol"
import { FLOOR, LIMIT, OURS, PEERS } from "@fsys/bench/Protocol"
import * as Format from "../format.ts"
import { perPass, type Spread, spread } from "./spread.ts"

export interface Row {
  readonly workload: string
  readonly subject: SubjectName
  /** The median of the passes (see `summarize`), or the failure/skip. */
  readonly outcome: Outcome
  /** Measured passes behind `outcome`. */
  readonly passes: number
  /** Throughput / node:fs throughput in the same workload (null: either not measured). */
  readonly vsNodeFs: number | null
  /** Throughput / the best peer's (`PEERS`). */
  readonly vsBestPeer: number | null
  /** Throughput / the ceiling's: `limit` in durable workloads, O_DIRECT for 1 MiB records. */
  readonly vsLimit: number | null
  /** Each pass's throughput in pass order (null: that pass failed or was skipped). */
  readonly passThroughputs: ReadonlyArray<number | null>
  /** The per-pass ratios to node:fs (see `Spread`); null with fewer than two paired passes. */
  readonly vsNodeFsSpread: Spread | null
  readonly vsBestPeerSpread: Spread | null
  readonly vsLimitSpread: Spread | null
}

export interface Target {
  readonly name: string
  readonly requirement: string
  readonly measured: string
  /** null when it could not be evaluated (a subject skipped or failed, a workload not run). */
  readonly met: boolean | null
}

export interface Machine {
  readonly cpus: number
  readonly cpuModel: string
  readonly memoryBytes: number
  readonly kernel: string
  readonly node: string
  /** The file system each directory root is on (`--dir` and the tmpfs root). */
  readonly filesystems: Readonly<Record<string, string>>
}

export interface Results {
  readonly tool: "fsys bench"
  readonly startedAt: string
  readonly quick: boolean
  /** Passes per (workload, subject); the rows hold their medians, `passes` every one. */
  readonly repeat: number
  readonly command: string
  readonly machine: Machine
  readonly workloads: ReadonlyArray<Workload>
  readonly rows: ReadonlyArray<Row>
  readonly passes: ReadonlyArray<{
    readonly workload: string
    readonly subject: SubjectName
    readonly outcomes: ReadonlyArray<Outcome>
  }>
  /** The median of `oDirectPasses`, one per pass of the 1 MiB workload. */
  readonly oDirectReference: Outcome
  readonly oDirectPasses: ReadonlyArray<Outcome>
  readonly targets: ReadonlyArray<Target>
}

/** Large-record and scan workloads are about bandwidth; the others about records per second. */
export const usesBandwidth = (workload: Workload): boolean =>
  workload.kind === "scan" || workload.recordBytes >= 1024 * 1024

export const throughput = (workload: Workload, measurement: Measurement): number =>
  usesBandwidth(workload) ? measurement.bytesPerSecond : measurement.recordsPerSecond

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/**
 * One outcome from several passes of one (workload, subject): a failure if any pass failed (a
 * record that did not verify is never hidden by other passes), a skip if none was measured, else
 * the median pass by throughput (the upper middle for an even count: a real pass, so its record
 * count and detail belong together) with the median event-loop p99 and CPU per record of all
 * passes, and the largest loop delay and peak RSS of any pass.
 */
export const summarize = (workload: Workload, passes: ReadonlyArray<Outcome>): Outcome => {
  const failed = passes.find((outcome) => outcome._tag === "Failed")
  if (failed !== undefined) return failed
  const ms = passes.flatMap((o) => (o._tag === "Measured" ? [o.measurement] : []))
  if (ms.length === 0) return passes[0] ?? { _tag: "Skipped", reason: "not run" }
  const byThroughput = [...ms].sort((a, b) => throughput(workload, a) - throughput(workload, b))
  const chosen = byThroughput[byThroughput.length >> 1]!
  return {
    _tag: "Measured",
    measurement: {
      ...chosen,
      eventLoopDelayP99Millis: median(ms.map((m) => m.eventLoopDelayP99Millis)),
      eventLoopDelayMaxMillis: Math.max(...ms.map((m) => m.eventLoopDelayMaxMillis)),
      cpuMicrosPerRecord: median(ms.map((m) => m.cpuMicrosPerRecord)),
      peakRssBytes: Math.max(...ms.map((m) => m.peakRssBytes)),
      verified: ms.every((m) => m.verified),
    },
  }
}

export const measured = (outcome: Outcome | undefined): Measurement | undefined =>
  outcome !== undefined && outcome._tag === "Measured" ? outcome.measurement : undefined

const isOurs = (subject: SubjectName): boolean => OURS.includes(subject)

/** The workload whose ceiling is the disk's O_DIRECT bandwidth rather than `limit`. */
export const LARGE_RECORDS_WORKLOAD = "unsynced-1MiB"

/**
 * Builds rows with ratios from the summarized outcomes. `passOutcomes` (each pass in order) and
 * `oDirectPasses` (one O_DIRECT reference per pass) give the spreads; without them they are null.
 */
export const rows = (
  workloads: ReadonlyArray<Workload>,
  outcomes: ReadonlyArray<{
    readonly workload: string
    readonly subject: SubjectName
    readonly outcome: Outcome
    readonly passes: number
    readonly passOutcomes?: ReadonlyArray<Outcome>
  }>,
  oDirect: Outcome,
  oDirectPasses?: ReadonlyArray<Outcome>,
): Array<Row> => {
  const out: Array<Row> = []
  for (const workload of workloads) {
    const here = outcomes.filter((o) => o.workload === workload.name)
    const find = (subject: SubjectName) => here.find((o) => o.subject === subject)
    const value = (subject: SubjectName) => {
      const m = measured(find(subject)?.outcome)
      return m === undefined ? undefined : throughput(workload, m)
    }
    const passesOf = (subject: SubjectName) => {
      const passOutcomes = find(subject)?.passOutcomes
      return passOutcomes === undefined ? undefined : perPass(passOutcomes, (m) => throughput(workload, m))
    }
    const nodeFs = value("node-fs")
    // The best peer by median; its passes are the base of every row's per-pass spread.
    let bestPeerName: SubjectName | undefined
    let bestPeer: number | undefined
    for (const o of here) {
      const v = PEERS.includes(o.subject) ? value(o.subject) : undefined
      if (v !== undefined && (bestPeer === undefined || v > bestPeer)) {
        bestPeer = v
        bestPeerName = o.subject
      }
    }
    const large = workload.name === LARGE_RECORDS_WORKLOAD
    const ceiling = large ? measured(oDirect)?.bytesPerSecond : value(LIMIT)
    const ceilingPasses = large
      ? oDirectPasses === undefined
        ? undefined
        : perPass(oDirectPasses, (m) => m.bytesPerSecond)
      : passesOf(LIMIT)
    const over = (v: number | undefined, base: number | undefined) =>
      v === undefined || base === undefined ? null : v / base
    for (const o of here) {
      const v = value(o.subject)
      const own = passesOf(o.subject) ?? []
      out.push({
        workload: workload.name,
        subject: o.subject,
        outcome: o.outcome,
        passes: o.passes,
        vsNodeFs: over(v, nodeFs),
        vsBestPeer: over(v, bestPeer),
        vsLimit: over(v, ceiling),
        passThroughputs: own,
        vsNodeFsSpread: spread(own, passesOf("node-fs")),
        vsBestPeerSpread: bestPeerName === undefined ? null : spread(own, passesOf(bestPeerName)),
        vsLimitSpread: spread(own, ceilingPasses),
      })
    }
  }
  return out
}

interface Best {
  readonly row: Row
  readonly value: number
  readonly measurement: Measurement
}

/** The best row of `subjects` in a workload, by throughput. */
const bestOf = (workload: Workload, all: ReadonlyArray<Row>, subjects: ReadonlyArray<SubjectName>) => {
  let best: Best | undefined
  for (const row of all) {
    if (row.workload !== workload.name || !subjects.includes(row.subject)) continue
    const m = measured(row.outcome)
    if (m === undefined) continue
    const v = throughput(workload, m)
    if (best === undefined || v > best.value) best = { row, value: v, measurement: m }
  }
  return best
}

export const rate = (workload: Workload, value: number): string =>
  usesBandwidth(workload) ? Format.bandwidth(value) : `${Format.count(value)} rec/s`

const percent = (value: number): string => `${(value * 100).toFixed(0)} %`
const times = (value: number): string => `${value.toFixed(2)}×`

/** What the passes say beside a median: " (per pass 0.65×–0.92×, 1 of 3 ≥ 1.00×)", "" without a spread. */
const passNote = (passes: Spread | null, minimum: number, show: (value: number) => string): string => {
  if (passes === null) return ""
  const meeting = passes.ratios.filter((ratio) => ratio >= minimum).length
  return ` (per pass ${show(passes.low)}–${show(passes.high)}, ${meeting} of ${passes.ratios.length} ≥ ${show(minimum)})`
}

/** Issue 12's targets. */
const LIMIT_SHARE_MIN = 0.9
const O_DIRECT_SHARE_MIN = 0.8
const TMPFS_CPU_MICROS_PER_RECORD_MAX = 1.0
const TMPFS_VS_NODE_FS_MIN = 1.7
const EVENT_LOOP_P99_BUDGET_MILLIS = 2
/** Peak RSS budget for any of our workloads: "bounded memory". */
const PEAK_RSS_BUDGET_BYTES = 256 * 1024 * 1024
/** Earlier targets that still hold (unsynced appends, recovery scan). */
const UNSYNCED_SINGLE_MIN = 500_000
const UNSYNCED_BATCH_MIN = 3_000_000
const SCAN_BYTES_PER_SECOND_MIN = 1e9

const notMeasured = (name: string, requirement: string): Target => ({
  name,
  requirement,
  measured: "not measured",
  met: null,
})

/** Our best against the best peer in the same workload. */
const versusPeers = (workload: Workload, ours: Best | undefined, all: ReadonlyArray<Row>): Target => {
  const peer = bestOf(workload, all, PEERS)
  const name = `${workload.name}: vs every peer`
  if (ours === undefined || peer === undefined) return notMeasured(name, "≥ 1.0× the best peer")
  return {
    name,
    requirement: "≥ 1.0× the best peer",
    measured: `${ours.row.subject} ${rate(workload, ours.value)} vs ${peer.row.subject} ${rate(workload, peer.value)} = ${times(ours.value / peer.value)}${passNote(ours.row.vsBestPeerSpread, 1, times)}`,
    met: ours.value >= peer.value,
  }
}

/** Our best as a share of a measured ceiling (the raw-disk limit, O_DIRECT bandwidth). */
const versusCeiling = (workload: Workload, ours: Best | undefined, minimum: number, ceiling: string): Target => {
  const name = `${workload.name}: share of ${ceiling}`
  const requirement = `≥ ${percent(minimum)} of ${ceiling}`
  if (ours === undefined || ours.row.vsLimit === null) return notMeasured(name, requirement)
  return {
    name,
    requirement,
    measured: `${ours.row.subject} ${rate(workload, ours.value)} = ${percent(ours.row.vsLimit)}${passNote(ours.row.vsLimitSpread, minimum, percent)}`,
    met: ours.row.vsLimit >= minimum,
  }
}

/** Our best against a fixed rate. */
const absolute = (workload: Workload, ours: Best | undefined, minimum: number): Target => {
  const name = `${workload.name}: absolute`
  const requirement = `≥ ${rate(workload, minimum)}`
  if (ours === undefined) return notMeasured(name, requirement)
  return {
    name,
    requirement,
    measured: `${ours.row.subject} ${rate(workload, ours.value)}`,
    met: ours.value >= minimum,
  }
}

/** " (the driver alone: 2.01 µs)" where the `floor` ran, else "". */
const floorNote = (workload: Workload, all: ReadonlyArray<Row>): string => {
  const floor = measured(all.find((r) => r.workload === workload.name && r.subject === FLOOR)?.outcome)
  return floor === undefined ? "" : ` (the driver alone: ${floor.cpuMicrosPerRecord.toFixed(2)} µs)`
}

/** The tmpfs workload: CPU per record of our cheapest variant, and our best against node:fs. */
const tmpfsTargets = (workload: Workload, ours: Best | undefined, all: ReadonlyArray<Row>): Array<Target> => {
  const out: Array<Target> = []
  const cheapest = all
    .filter((r) => r.workload === workload.name && isOurs(r.subject))
    .flatMap((r) => (measured(r.outcome) === undefined ? [] : [{ r, m: measured(r.outcome)! }]))
    .sort((a, b) => a.m.cpuMicrosPerRecord - b.m.cpuMicrosPerRecord)[0]
  const requirement = `≤ ${TMPFS_CPU_MICROS_PER_RECORD_MAX.toFixed(1)} µs CPU per record`
  if (cheapest === undefined) out.push(notMeasured(`${workload.name}: CPU per record`, requirement))
  else
    out.push({
      name: `${workload.name}: CPU per record`,
      requirement,
      measured: `${cheapest.r.subject} ${cheapest.m.cpuMicrosPerRecord.toFixed(2)} µs${floorNote(workload, all)}`,
      met: cheapest.m.cpuMicrosPerRecord <= TMPFS_CPU_MICROS_PER_RECORD_MAX,
    })
  const requirementFs = `≥ ${TMPFS_VS_NODE_FS_MIN}× node:fs`
  if (ours === undefined || ours.row.vsNodeFs === null)
    out.push(notMeasured(`${workload.name}: vs node:fs`, requirementFs))
  else
    out.push({
      name: `${workload.name}: vs node:fs`,
      requirement: requirementFs,
      measured: `${ours.row.subject} ${times(ours.row.vsNodeFs)}${passNote(ours.row.vsNodeFsSpread, TMPFS_VS_NODE_FS_MIN, times)}`,
      met: ours.row.vsNodeFs >= TMPFS_VS_NODE_FS_MIN,
    })
  return out
}

/** Evaluates the targets against the best of our variants in each workload. */
export const targets = (workloads: ReadonlyArray<Workload>, all: ReadonlyArray<Row>): Array<Target> => {
  const out: Array<Target> = []
  const each = (
    names: ReadonlyArray<string>,
    evaluate: (workload: Workload, ours: Best | undefined) => ReadonlyArray<Target>,
  ) => {
    for (const name of names) {
      const workload = workloads.find((w) => w.name === name)
      if (workload !== undefined) out.push(...evaluate(workload, bestOf(workload, all, OURS)))
    }
  }
  each(["cpu-64p-100B-tmpfs"], (workload, ours) => tmpfsTargets(workload, ours, all))
  each(["durable-64p-100B", "durable-64p-4KiB", "durable-batch100-100B"], (workload, ours) => [
    versusCeiling(workload, ours, LIMIT_SHARE_MIN, "limit"),
    versusPeers(workload, ours, all),
  ])
  each(["durable-1p-100B", "durable-1p-4KiB"], (workload, ours) => [versusPeers(workload, ours, all)])
  each([LARGE_RECORDS_WORKLOAD], (workload, ours) => [
    versusCeiling(workload, ours, O_DIRECT_SHARE_MIN, "the disk's O_DIRECT bandwidth"),
  ])
  each(["unsynced-1p-100B"], (workload, ours) => [absolute(workload, ours, UNSYNCED_SINGLE_MIN)])
  each(["unsynced-batch100-100B"], (workload, ours) => [absolute(workload, ours, UNSYNCED_BATCH_MIN)])
  each(["scan-4KiB"], (workload, ours) => [absolute(workload, ours, SCAN_BYTES_PER_SECOND_MIN)])
  out.push(...latencyAndMemory(all))
  return out
}

/** Latency and memory: every workload of every one of our variants. */
const latencyAndMemory = (all: ReadonlyArray<Row>): Array<Target> => {
  const ours = all.flatMap((row) => {
    const m = isOurs(row.subject) ? measured(row.outcome) : undefined
    return m === undefined ? [] : [{ row, m }]
  })
  if (ours.length === 0) return []
  const worstDelay = ours.reduce((a, b) => (b.m.eventLoopDelayP99Millis > a.m.eventLoopDelayP99Millis ? b : a))
  const worstRss = ours.reduce((a, b) => (b.m.peakRssBytes > a.m.peakRssBytes ? b : a))
  return [
    {
      name: "event-loop delay p99, every workload",
      requirement: `< ${EVENT_LOOP_P99_BUDGET_MILLIS} ms for every variant of the journal`,
      measured: `worst ${worstDelay.m.eventLoopDelayP99Millis.toFixed(2)} ms (${worstDelay.row.subject}, ${worstDelay.row.workload})`,
      met: worstDelay.m.eventLoopDelayP99Millis < EVENT_LOOP_P99_BUDGET_MILLIS,
    },
    {
      name: "bounded memory, every workload",
      requirement: `peak RSS < ${Format.bytes(PEAK_RSS_BUDGET_BYTES)}`,
      measured: `worst ${Format.bytes(worstRss.m.peakRssBytes)} (${worstRss.row.subject}, ${worstRss.row.workload})`,
      met: worstRss.m.peakRssBytes < PEAK_RSS_BUDGET_BYTES,
    },
  ]
}

/** statfs magic numbers of the file systems a bench directory is likely on. */
const FILESYSTEMS: Readonly<Record<number, string>> = {
  16914836: "tmpfs",
  61267: "ext4",
  1481003842: "xfs",
  2435016766: "btrfs",
  2035054128: "overlayfs",
  801189825: "zfs",
}

/** The file system `directory` is on, by name where known. */
export const filesystemOf = (directory: string): string => {
  try {
    const type = Number(statfsSync(directory).type)
    return FILESYSTEMS[type] ?? `0x${type.toString(16)}`
  } catch (error) {
    return `unknown (${error instanceof Error ? error.message : String(error)})`
  }
}

export const machine = (roots: ReadonlyArray<string>): Machine => ({
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? "unknown",
  memoryBytes: totalmem(),
  kernel: release(),
  node: process.version,
  filesystems: Object.fromEntries(roots.map((root) => [root, filesystemOf(root)])),
})
