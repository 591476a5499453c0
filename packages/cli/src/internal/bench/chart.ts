/**
 * The bench chart: one SVG a person can open in a browser. One panel per workload, one horizontal
 * bar per subject, scaled to the fastest subject in that panel and labelled with its value and
 * its ratio to node:fs. Our variants, the node:fs baseline and the peers have their own colours.
 * Hand-written SVG: no dependency, no fonts to install.
 */
import { FLOOR, LIMIT, OURS } from "@fsys/bench/Protocol"
import * as Format from "../format.ts"
import type { Results } from "./report.ts"
import { LARGE_RECORDS_WORKLOAD, throughput, usesBandwidth } from "./report.ts"

const WIDTH = 1080
const LABEL_WIDTH = 190
const BAR_AREA = 420
const BAR_HEIGHT = 16
const BAR_GAP = 5
const PANEL_TITLE = 26
const PANEL_GAP = 18
const COLOURS = { ours: "#1f77b4", baseline: "#7f7f7f", peer: "#ff7f0e", reference: "#2ca02c" } as const

const escapeXml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** One horizontal bar: the subject, its value (the bar's length) and the text after it. */
interface Bar {
  readonly label: string
  readonly value: number
  readonly text: string
  readonly colour: string
}

type Workload = Results["workloads"][number]
type Row = Results["rows"][number]

const colourOf = (subject: Row["subject"]): string =>
  OURS.includes(subject)
    ? COLOURS.ours
    : subject === "node-fs"
      ? COLOURS.baseline
      : subject === LIMIT || subject === FLOOR
        ? COLOURS.reference
        : COLOURS.peer

/** A subject's bar: its throughput and ratios, or why it has none (skipped, failed). */
const barOf = (workload: Workload, row: Row): Bar => {
  const colour = colourOf(row.subject)
  if (row.outcome._tag !== "Measured") {
    return { label: row.subject, value: 0, text: `${row.outcome._tag.toLowerCase()}: ${row.outcome.reason}`, colour }
  }
  const value = throughput(workload, row.outcome.measurement)
  const shown = usesBandwidth(workload) ? Format.bandwidth(value) : `${Format.count(value)} rec/s`
  const versus = row.vsNodeFs === null || row.subject === "node-fs" ? "" : `  ${row.vsNodeFs.toFixed(2)}× node:fs`
  const ofLimit = row.vsLimit === null || row.subject === LIMIT ? "" : `  ${(row.vsLimit * 100).toFixed(0)} % of limit`
  const p99 = row.subject === LIMIT ? "" : `  loop p99 ${row.outcome.measurement.eventLoopDelayP99Millis.toFixed(1)} ms`
  return { label: row.subject, value, text: `${shown}${versus}${ofLimit}${p99}`, colour }
}

/** One workload's panel at height `y`: its title and bars; returns the height below it. */
const panel = (results: Results, workload: Workload, y: number, parts: Array<string>): number => {
  const bars = results.rows.filter((r) => r.workload === workload.name).map((row) => barOf(workload, row))
  if (workload.name === LARGE_RECORDS_WORKLOAD && results.oDirectReference._tag === "Measured") {
    const value = results.oDirectReference.measurement.bytesPerSecond
    bars.push({ label: "disk O_DIRECT", value, text: Format.bandwidth(value), colour: COLOURS.reference })
  }
  const max = Math.max(1, ...bars.map((b) => b.value))
  parts.push(
    `<text x="10" y="${y + 16}" font-size="14" font-weight="bold">${escapeXml(`${workload.name}: ${workload.title}`)}</text>`,
  )
  let barY = y + PANEL_TITLE
  for (const bar of bars) {
    const width = Math.max(bar.value > 0 ? 1 : 0, (bar.value / max) * BAR_AREA)
    parts.push(
      `<text x="${LABEL_WIDTH - 8}" y="${barY + 12}" font-size="12" text-anchor="end">${escapeXml(bar.label)}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${barY}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${bar.colour}"/>`,
      `<text x="${LABEL_WIDTH + width + 6}" y="${barY + 12}" font-size="11">${escapeXml(bar.text)}</text>`,
    )
    barY += BAR_HEIGHT + BAR_GAP
  }
  return barY + PANEL_GAP
}

/** Renders the results as an SVG document. */
export const svg = (results: Results): string => {
  const parts: Array<string> = []
  let y = 56
  for (const workload of results.workloads) y = panel(results, workload, y, parts)
  const legend = [
    [COLOURS.ours, "fsys (ours)"],
    [COLOURS.baseline, "node:fs done right"],
    [COLOURS.peer, "peers"],
    [COLOURS.reference, "ceiling (limit, O_DIRECT)"],
  ]
    .map(
      ([colour, label], i) =>
        `<rect x="${10 + i * 200}" y="28" width="12" height="12" fill="${colour}"/><text x="${28 + i * 200}" y="38" font-size="12">${label}</text>`,
    )
    .join("")
  const title = `fsys bench${results.quick ? " (--quick)" : `, medians of ${results.repeat} passes`}: ${results.machine.cpus} × ${results.machine.cpuModel}, Linux ${results.machine.kernel}, Node ${results.machine.node}, ${results.startedAt}`
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="sans-serif" role="img">`,
    "<title>fsys bench: throughput per workload and subject</title>",
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-size="13">${escapeXml(title)}</text>`,
    legend,
    ...parts,
    "</svg>",
  ].join("\n")
}
