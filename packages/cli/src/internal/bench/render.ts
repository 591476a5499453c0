/**
 * The bench's results as people read them: one table per workload (throughput beside its
 * event-loop p99, CPU per record and peak RSS, and the ratios against node:fs, the best peer and
 * the ceiling), then the targets. The same cells as aligned text (the terminal) and as Markdown
 * (`results.md`, pasted into docs/BENCHMARKS.md).
 */
import { FLOOR, LIMIT } from "@fsys/bench/Protocol"
import * as Format from "../format.ts"
import type { Results, Row } from "./report.ts"
import { LARGE_RECORDS_WORKLOAD, rate, throughput, usesBandwidth } from "./report.ts"
import type { Spread } from "./spread.ts"

/** "0.72×", with the per-pass spread where there is one: "0.72× (0.65–0.92)". */
const ratio = (value: number | null, passes: Spread | null): string =>
  value === null
    ? "-"
    : `${value.toFixed(2)}×${passes === null ? "" : ` (${passes.low.toFixed(2)}–${passes.high.toFixed(2)})`}`
/** "46 %", or "46 % (40–52)". */
const share = (value: number | null, passes: Spread | null): string =>
  value === null
    ? "-"
    : `${(value * 100).toFixed(0)} %${passes === null ? "" : ` (${(passes.low * 100).toFixed(0)}–${(passes.high * 100).toFixed(0)})`}`

const HEADER = [
  "subject",
  "", // throughput: named per workload
  "vs node:fs",
  "vs best peer",
  "% of limit",
  "loop p99",
  "CPU/record",
  "peak RSS",
  "records",
  "",
] as const

/** The cells of one workload's table: a header, one line per row, the O_DIRECT reference. */
const cells = (results: Results, workloadName: string): Array<Array<string>> => {
  const workload = results.workloads.find((w) => w.name === workloadName)!
  const header: Array<string> = [...HEADER]
  header[1] = usesBandwidth(workload) ? "throughput" : "records/s"
  const lines: Array<Array<string>> = [header]
  for (const row of results.rows.filter((r) => r.workload === workload.name)) {
    const o = row.outcome
    if (o._tag !== "Measured") {
      lines.push([row.subject, o._tag.toLowerCase(), "", "", "", "", "", "", "", o.reason])
      continue
    }
    const m = o.measurement
    lines.push([
      row.subject,
      rate(workload, throughput(workload, m)).replace(" rec/s", ""),
      ratio(row.vsNodeFs, row.subject === "node-fs" ? null : row.vsNodeFsSpread),
      ratio(row.vsBestPeer, row.vsBestPeer === 1 ? null : row.vsBestPeerSpread),
      share(row.vsLimit, row.subject === LIMIT ? null : row.vsLimitSpread),
      `${m.eventLoopDelayP99Millis.toFixed(2)} ms`,
      `${m.cpuMicrosPerRecord.toFixed(2)} µs`,
      Format.bytes(m.peakRssBytes),
      String(m.records),
      note(row),
    ])
  }
  if (workload.name === LARGE_RECORDS_WORKLOAD && results.oDirectReference._tag === "Measured") {
    const m = results.oDirectReference.measurement
    lines.push([
      "(disk O_DIRECT)",
      Format.bandwidth(m.bytesPerSecond),
      "",
      "",
      "100 %",
      "",
      "",
      "",
      String(m.records),
      m.detail,
    ])
  }
  return lines
}

const note = (row: Row): string => {
  const m = row.outcome._tag === "Measured" ? row.outcome.measurement : undefined
  const passes = row.passes > 1 ? `, median of ${row.passes}` : ""
  if (row.subject === LIMIT) return `ceiling, not read back${passes}`
  if (row.subject === FLOOR) return `the driver alone, no store${passes}`
  return `${m?.verified === true ? "verified" : "NOT VERIFIED"}${passes}`
}

const title = (results: Results): string => {
  const m = results.machine
  const where = Object.entries(m.filesystems)
    .map(([root, fs]) => `${root} on ${fs}`)
    .join(", ")
  return `Run ${results.startedAt}${results.quick ? " (--quick)" : `, ${results.repeat} interleaved passes, medians`}: ${m.cpus} × ${m.cpuModel}, ${Format.bytes(m.memoryBytes)}, Linux ${m.kernel}, Node ${m.node}; ${where}.`
}

const targetCells = (results: Results, missed: string): Array<Array<string>> => [
  ["", "target", "requirement", "measured"],
  ...results.targets.map((t) => [t.met === null ? "?" : t.met ? "met" : missed, t.name, t.requirement, t.measured]),
]

const indent = (text: string): string =>
  text
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n")

/** The human-readable report: one table per workload, then the targets. */
export const text = (results: Results): string => {
  const out: Array<string> = [title(results)]
  for (const workload of results.workloads) {
    out.push(`\n${workload.name} — ${workload.title}`)
    out.push(indent(Format.table(cells(results, workload.name))))
  }
  out.push("\ntargets (best of our variants)")
  out.push(indent(Format.table(targetCells(results, "MISSED"))))
  return out.join("\n")
}

const escapeCell = (text: string): string => text.replace(/\|/g, "\\|")

const markdownTable = (lines: ReadonlyArray<ReadonlyArray<string>>, numeric: ReadonlyArray<boolean>): Array<string> => [
  `| ${lines[0]!.map(escapeCell).join(" | ")} |`,
  `|${numeric.map((n) => (n ? "---:" : "---")).join("|")}|`,
  ...lines.slice(1).map((line) => `| ${line.map(escapeCell).join(" | ")} |`),
]

/** Which of the workload table's columns are right-aligned numbers. */
const NUMERIC = [false, true, true, true, true, true, true, true, true, false]

/** The same report as Markdown tables. */
export const markdown = (results: Results): string => {
  const out: Array<string> = [title(results), "", `Command: \`${results.command}\``]
  for (const workload of results.workloads) {
    out.push("", `### ${workload.name}`, "", workload.title, "")
    out.push(...markdownTable(cells(results, workload.name), NUMERIC))
  }
  out.push("", "### Targets (best of our variants)", "")
  out.push(...markdownTable(targetCells(results, "**missed**"), [false, false, false, false]))
  return `${out.join("\n")}\n`
}
