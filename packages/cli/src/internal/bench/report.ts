/**
 * Turns the bench's outcomes into what people read: ratios against node:fs and against the best
 * peer, the targets from the issue (met or missed, with the numbers), a text table and the JSON
 * document written to `--out`.
 */
import { cpus, release, totalmem } from "node:os"
import type { Measurement, Outcome, SubjectName, Workload } from "@fsys/bench/Protocol"
import { OURS } from "@fsys/bench/Protocol"
import * as Format from "../format.ts"

export interface Row {
  readonly workload: string
  readonly subject: SubjectName
  readonly outcome: Outcome
  /** Throughput / node:fs throughput in the same workload (null: either not measured). */
  readonly vsNodeFs: number | null
  /** Throughput / the best peer's (node:fs, better-sqlite3, lmdb, classic-level). */
  readonly vsBestPeer: number | null
}

export interface Target {
  readonly name: string
  readonly requirement: string
  readonly measured: string
  /** null when it could not be evaluated (a subject skipped or failed). */
  readonly met: boolean | null
}

export interface Results {
  readonly tool: "fsys bench"
  readonly startedAt: string
  readonly quick: boolean
  readonly machine: {
    readonly cpus: number
    readonly cpuModel: string
    readonly memoryBytes: number
    readonly kernel: string
    readonly node: string
  }
  readonly workloads: ReadonlyArray<Workload>
  readonly rows: ReadonlyArray<Row>
  readonly oDirectReference: Outcome
  readonly targets: ReadonlyArray<Target>
}

/** Large-record and scan workloads are about bandwidth; the others about records per second. */
export const usesBandwidth = (workload: Workload): boolean =>
  workload.kind === "scan" || workload.recordBytes >= 1024 * 1024

export const throughput = (workload: Workload, measurement: Measurement): number =>
  usesBandwidth(workload) ? measurement.bytesPerSecond : measurement.recordsPerSecond

/**
 * The pass to report from several of one (workload, subject): a failure if any pass failed (a
 * record that did not verify is never hidden by a better pass), else the fastest measurement.
 */
export const best = (workload: Workload, passes: ReadonlyArray<Outcome>): Outcome => {
  const failed = passes.find((outcome) => outcome._tag === "Failed")
  if (failed !== undefined) return failed
  let chosen: Outcome | undefined
  for (const outcome of passes) {
    if (outcome._tag !== "Measured") continue
    if (
      chosen === undefined ||
      chosen._tag !== "Measured" ||
      throughput(workload, outcome.measurement) > throughput(workload, chosen.measurement)
    ) {
      chosen = outcome
    }
  }
  return chosen ?? passes[0]!
}

const measured = (outcome: Outcome | undefined): Measurement | undefined =>
  outcome !== undefined && outcome._tag === "Measured" ? outcome.measurement : undefined

const isOurs = (subject: SubjectName): boolean => OURS.includes(subject)

/** Builds rows with ratios from raw outcomes. */
export const rows = (
  workloads: ReadonlyArray<Workload>,
  outcomes: ReadonlyArray<{ readonly workload: string; readonly subject: SubjectName; readonly outcome: Outcome }>,
): Array<Row> => {
  const out: Array<Row> = []
  for (const workload of workloads) {
    const here = outcomes.filter((o) => o.workload === workload.name)
    const value = (subject: SubjectName) => {
      const m = measured(here.find((o) => o.subject === subject)?.outcome)
      return m === undefined ? undefined : throughput(workload, m)
    }
    const nodeFs = value("node-fs")
    const peerValues = here
      .filter((o) => !isOurs(o.subject))
      .map((o) => value(o.subject))
      .filter((v) => v !== undefined)
    const bestPeer = peerValues.length === 0 ? undefined : Math.max(...peerValues)
    for (const o of here) {
      const v = value(o.subject)
      out.push({
        workload: workload.name,
        subject: o.subject,
        outcome: o.outcome,
        vsNodeFs: v === undefined || nodeFs === undefined ? null : v / nodeFs,
        vsBestPeer: v === undefined || bestPeer === undefined ? null : v / bestPeer,
      })
    }
  }
  return out
}

/** Our best variant in a workload, and the best peer's value. */
const bestOf = (workload: Workload, all: ReadonlyArray<Row>, ours: boolean) => {
  let best: { readonly subject: SubjectName; readonly value: number; readonly measurement: Measurement } | undefined
  for (const row of all) {
    if (row.workload !== workload.name || isOurs(row.subject) !== ours) continue
    const m = measured(row.outcome)
    if (m === undefined) continue
    const v = throughput(workload, m)
    if (best === undefined || v > best.value) best = { subject: row.subject, value: v, measurement: m }
  }
  return best
}

const rate = (workload: Workload, value: number): string =>
  usesBandwidth(workload) ? Format.bandwidth(value) : `${Format.count(value)} rec/s`

/** Event-loop delay p99 budget under load (the target). */
const EVENT_LOOP_P99_BUDGET_MILLIS = 5
/** Peak RSS budget for any of our workloads: "bounded memory". */
const PEAK_RSS_BUDGET_BYTES = 256 * 1024 * 1024

/** Evaluates the targets against the best of our three variants. */
export const targets = (
  workloads: ReadonlyArray<Workload>,
  all: ReadonlyArray<Row>,
  oDirect: Outcome,
): Array<Target> => {
  const out: Array<Target> = []
  const byName = (name: string) => workloads.find((w) => w.name === name)
  const versusPeer = (name: string, factor: number, label: string) => {
    const workload = byName(name)
    if (workload === undefined) return
    const ours = bestOf(workload, all, true)
    const peer = bestOf(workload, all, false)
    out.push({
      name: label,
      requirement: factor === 1 ? "≥ best peer" : `≥ ${factor}× best peer`,
      measured:
        ours === undefined || peer === undefined
          ? "not measured"
          : `${ours.subject} ${rate(workload, ours.value)} vs ${peer.subject} ${rate(workload, peer.value)} = ${(ours.value / peer.value).toFixed(2)}×`,
      met: ours === undefined || peer === undefined ? null : ours.value >= factor * peer.value,
    })
  }
  const absolute = (name: string, minimum: number, label: string) => {
    const workload = byName(name)
    if (workload === undefined) return
    const ours = bestOf(workload, all, true)
    out.push({
      name: label,
      requirement: `≥ ${rate(workload, minimum)}`,
      measured: ours === undefined ? "not measured" : `${ours.subject} ${rate(workload, ours.value)}`,
      met: ours === undefined ? null : ours.value >= minimum,
    })
  }
  versusPeer("durable-1p-100B", 1, "one producer, durable appends")
  versusPeer("durable-64p-100B", 2, "64 producers, 100 B")
  versusPeer("durable-64p-4KiB", 2, "64 producers, 4 KiB")
  versusPeer("durable-batch100-100B", 2, "durable batches of 100")
  absolute("unsynced-1p-100B", 500_000, "unsynced appends, single")
  absolute("unsynced-batch100-100B", 3_000_000, "unsynced appendBatch")
  const large = byName("unsynced-1MiB")
  if (large !== undefined) {
    const ours = bestOf(large, all, true)
    const disk = measured(oDirect)
    out.push({
      name: "1 MiB records vs O_DIRECT bandwidth",
      requirement: "≥ 80 % of the disk's O_DIRECT bandwidth",
      measured:
        ours === undefined || disk === undefined
          ? "not measured"
          : `${ours.subject} ${Format.bandwidth(ours.value)} vs O_DIRECT ${Format.bandwidth(disk.bytesPerSecond)} = ${((ours.value / disk.bytesPerSecond) * 100).toFixed(0)} %`,
      met: ours === undefined || disk === undefined ? null : ours.value >= 0.8 * disk.bytesPerSecond,
    })
  }
  absolute("scan-4KiB", 1e9, "recovery scan")
  // Latency and memory: every workload of every one of our variants.
  const ourRows = all.filter((row) => isOurs(row.subject))
  const ourMeasurements = ourRows.map((row) => ({ row, m: measured(row.outcome) })).filter((x) => x.m !== undefined)
  if (ourMeasurements.length > 0) {
    const worstDelay = ourMeasurements.reduce((a, b) =>
      b.m!.eventLoopDelayP99Millis > a.m!.eventLoopDelayP99Millis ? b : a,
    )
    out.push({
      name: "event-loop delay p99 under load",
      requirement: `< ${EVENT_LOOP_P99_BUDGET_MILLIS} ms in every workload`,
      measured: `worst ${worstDelay.m!.eventLoopDelayP99Millis.toFixed(2)} ms (${worstDelay.row.subject}, ${worstDelay.row.workload})`,
      met: worstDelay.m!.eventLoopDelayP99Millis < EVENT_LOOP_P99_BUDGET_MILLIS,
    })
    const worstRss = ourMeasurements.reduce((a, b) => (b.m!.peakRssBytes > a.m!.peakRssBytes ? b : a))
    out.push({
      name: "bounded memory",
      requirement: `peak RSS < ${Format.bytes(PEAK_RSS_BUDGET_BYTES)} in every workload`,
      measured: `worst ${Format.bytes(worstRss.m!.peakRssBytes)} (${worstRss.row.subject}, ${worstRss.row.workload})`,
      met: worstRss.m!.peakRssBytes < PEAK_RSS_BUDGET_BYTES,
    })
  }
  return out
}

export const machine = (): Results["machine"] => ({
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? "unknown",
  memoryBytes: totalmem(),
  kernel: release(),
  node: process.version,
})

const ratio = (value: number | null): string => (value === null ? "-" : `${value.toFixed(2)}×`)

/** The human-readable report: one table per workload, then the targets. */
export const text = (results: Results): string => {
  const out: Array<string> = []
  for (const workload of results.workloads) {
    out.push(`\n${workload.name} — ${workload.title}`)
    const header = [
      "subject",
      usesBandwidth(workload) ? "throughput" : "records/s",
      "vs node:fs",
      "vs best peer",
      "loop p99",
      "peak RSS",
      "records",
      "",
    ]
    const lines: Array<Array<string>> = [header]
    for (const row of results.rows.filter((r) => r.workload === workload.name)) {
      const o = row.outcome
      if (o._tag !== "Measured") {
        lines.push([row.subject, o._tag.toLowerCase(), "", "", "", "", "", o.reason])
        continue
      }
      const m = o.measurement
      lines.push([
        row.subject,
        rate(workload, throughput(workload, m)).replace(" rec/s", ""),
        ratio(row.vsNodeFs),
        ratio(row.vsBestPeer),
        `${m.eventLoopDelayP99Millis.toFixed(2)} ms`,
        Format.bytes(m.peakRssBytes),
        String(m.records),
        m.verified ? "verified" : "NOT VERIFIED",
      ])
    }
    if (workload.name === "unsynced-1MiB" && results.oDirectReference._tag === "Measured") {
      const m = results.oDirectReference.measurement
      lines.push([
        "(disk O_DIRECT)",
        Format.bandwidth(m.bytesPerSecond),
        "",
        "",
        "",
        "",
        String(m.records),
        "reference",
      ])
    }
    out.push(
      Format.table(lines)
        .split("\n")
        .map((line) => `  ${line}`)
        .join("\n"),
    )
  }
  out.push("\ntargets (best of our variants)")
  out.push(
    Format.table([
      ["", "target", "requirement", "measured"],
      ...results.targets.map((t) => [
        t.met === null ? "?" : t.met ? "met" : "MISSED",
        t.name,
        t.requirement,
        t.measured,
      ]),
    ])
      .split("\n")
      .map((line) => `  ${line}`)
      .join("\n"),
  )
  return out.join("\n")
}

const cell = (text: string): string => text.replace(/\|/g, "\\|")

/** The same report as Markdown tables (written to `results.md`, pasted into docs/BENCHMARKS.md). */
export const markdown = (results: Results): string => {
  const out: Array<string> = []
  const m = results.machine
  out.push(
    `Run ${results.startedAt}${results.quick ? " (--quick)" : ""}: ${m.cpus} × ${m.cpuModel}, ${Format.bytes(m.memoryBytes)}, Linux ${m.kernel}, Node ${m.node}.`,
  )
  for (const workload of results.workloads) {
    out.push("", `### ${workload.name}`, "", workload.title, "")
    out.push(
      `| subject | ${usesBandwidth(workload) ? "throughput" : "records/s"} | vs node:fs | vs best peer | event-loop p99 | peak RSS | records | |`,
    )
    out.push("|---|---:|---:|---:|---:|---:|---:|---|")
    for (const row of results.rows.filter((r) => r.workload === workload.name)) {
      const o = row.outcome
      if (o._tag !== "Measured") {
        out.push(`| ${row.subject} | ${o._tag.toLowerCase()} | | | | | | ${cell(o.reason)} |`)
        continue
      }
      const x = o.measurement
      out.push(
        `| ${row.subject} | ${rate(workload, throughput(workload, x)).replace(" rec/s", "")} | ${ratio(row.vsNodeFs)} | ${ratio(row.vsBestPeer)} | ${x.eventLoopDelayP99Millis.toFixed(2)} ms | ${Format.bytes(x.peakRssBytes)} | ${x.records} | ${x.verified ? "verified" : "not verified"} |`,
      )
    }
    if (workload.name === "unsynced-1MiB" && results.oDirectReference._tag === "Measured") {
      const x = results.oDirectReference.measurement
      out.push(`| *disk O_DIRECT* | ${Format.bandwidth(x.bytesPerSecond)} | | | | | ${x.records} | ${cell(x.detail)} |`)
    }
  }
  out.push(
    "",
    "### Targets (best of our three variants)",
    "",
    "| | target | requirement | measured |",
    "|---|---|---|---|",
  )
  for (const t of results.targets) {
    out.push(
      `| ${t.met === null ? "?" : t.met ? "met" : "**missed**"} | ${t.name} | ${cell(t.requirement)} | ${cell(t.measured)} |`,
    )
  }
  return `${out.join("\n")}\n`
}
