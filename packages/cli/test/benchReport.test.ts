/**
 * The bench report's arithmetic, without running a bench: the median of interleaved passes, the
 * ratios (node:fs, best peer, share of the ceiling) and the targets that use them.
 */
import type { Measurement, Outcome, SubjectName, Workload } from "@fsys/bench/Protocol"
import { describe, expect, it } from "vitest"
import * as Render from "../src/internal/bench/render.ts"
import * as Report from "../src/internal/bench/report.ts"
import * as Spread from "../src/internal/bench/spread.ts"
import * as Workloads from "../src/internal/bench/workloads.ts"

const workload = (name: string): Workload => Workloads.full.find((w) => w.name === name)!

const measurement = (recordsPerSecond: number, more: Partial<Measurement> = {}): Outcome => ({
  _tag: "Measured",
  measurement: {
    records: recordsPerSecond * 2,
    payloadBytes: recordsPerSecond * 200,
    elapsedMillis: 2000,
    recordsPerSecond,
    bytesPerSecond: recordsPerSecond * 100,
    cpuMicros: 1000,
    cpuMicrosPerRecord: 1,
    eventLoopDelayP99Millis: 1,
    eventLoopDelayMaxMillis: 1,
    peakRssBytes: 100,
    verified: true,
    detail: "",
    ...more,
  },
})

const rps = (outcome: Outcome): number => (outcome._tag === "Measured" ? outcome.measurement.recordsPerSecond : -1)

describe("Report.summarize", () => {
  const w = workload("durable-64p-100B")

  it("keeps the median pass by throughput, the median p99 and CPU, the largest RSS and loop delay", () => {
    const summary = Report.summarize(w, [
      measurement(300, { eventLoopDelayP99Millis: 9, cpuMicrosPerRecord: 3, peakRssBytes: 10 }),
      measurement(100, { eventLoopDelayP99Millis: 1, cpuMicrosPerRecord: 2, peakRssBytes: 30 }),
      measurement(200, { eventLoopDelayP99Millis: 2, cpuMicrosPerRecord: 5, eventLoopDelayMaxMillis: 40 }),
    ])
    expect(rps(summary)).toBe(200)
    if (summary._tag !== "Measured") throw new Error("not measured")
    expect(summary.measurement.eventLoopDelayP99Millis).toBe(2)
    expect(summary.measurement.cpuMicrosPerRecord).toBe(3)
    expect(summary.measurement.peakRssBytes).toBe(100)
    expect(summary.measurement.eventLoopDelayMaxMillis).toBe(40)
  })

  it("a failed pass is never hidden by measured ones; skipped passes do not count", () => {
    const failed: Outcome = { _tag: "Failed", reason: "verification failed" }
    expect(Report.summarize(w, [measurement(1), failed, measurement(2)])).toEqual(failed)
    expect(rps(Report.summarize(w, [{ _tag: "Skipped", reason: "x" }, measurement(7)]))).toBe(7)
  })

  it("an even count reports a real pass (the upper middle), not an average", () => {
    expect(rps(Report.summarize(w, [measurement(10), measurement(40), measurement(20), measurement(30)]))).toBe(30)
  })
})

const row = (subject: SubjectName, outcome: Outcome) => ({ workload: "", subject, outcome, passes: 3 })

describe("Report.rows", () => {
  const w = workload("durable-64p-100B")
  const outcomes = [
    row("fsys-buffered", measurement(90)),
    row("node-fs", measurement(50)),
    row("node-sqlite", measurement(60)),
    row("limit", measurement(100)),
  ].map((r) => ({ ...r, workload: w.name }))

  it("divides by node:fs, by the best peer (never the limit) and by the limit", () => {
    const [ours, , sqlite, limit] = Report.rows([w], outcomes, { _tag: "Skipped", reason: "" })
    expect(ours!.vsNodeFs).toBeCloseTo(1.8)
    expect(ours!.vsBestPeer).toBeCloseTo(1.5)
    expect(ours!.vsLimit).toBeCloseTo(0.9)
    expect(sqlite!.vsBestPeer).toBe(1)
    expect(limit!.vsLimit).toBe(1)
  })

  it("the 1 MiB workload's ceiling is the O_DIRECT reference", () => {
    const large = workload("unsynced-1MiB")
    const oDirect = measurement(1, { bytesPerSecond: 1000 })
    const [ours] = Report.rows(
      [large],
      [{ ...row("fsys-buffered", measurement(1, { bytesPerSecond: 800 })), workload: large.name }],
      oDirect,
    )
    expect(ours!.vsLimit).toBeCloseTo(0.8)
  })

  it("the share-of-limit target is met at 90 % and missed below", () => {
    const at = (oursRps: number) => {
      const rows = Report.rows(
        [w],
        outcomes.map((o) => (o.subject === "fsys-buffered" ? { ...o, outcome: measurement(oursRps) } : o)),
        { _tag: "Skipped", reason: "" },
      )
      return Report.targets([w], rows).find((t) => t.name === "durable-64p-100B: share of limit")!.met
    }
    expect(at(90)).toBe(true)
    expect(at(89)).toBe(false)
  })
})

describe("Report spreads: each ratio pass by pass", () => {
  const w = workload("durable-64p-100B")
  const failed: Outcome = { _tag: "Failed", reason: "x" }
  /** A subject's row with its passes, in pass order; the median pass is its summary. */
  const passes = (subject: SubjectName, values: ReadonlyArray<number | null>) => {
    const passOutcomes = values.map((v) => (v === null ? failed : measurement(v)))
    const ms = values.filter((v): v is number => v !== null).sort((a, b) => a - b)
    return {
      workload: w.name,
      subject,
      outcome: measurement(ms[ms.length >> 1]!),
      passes: ms.length,
      passOutcomes,
    }
  }

  it("pairs pass k with pass k, skips passes either side lacks, needs two pairs", () => {
    expect(Spread.spread([10, 20, 30], [10, 10, 20])).toEqual({ low: 1, high: 2, ratios: [1, 2, 1.5] })
    expect(Spread.spread([10, null, 30], [5, 10, null])).toBeNull()
    expect(Spread.spread([10, null, 30, 8], [5, 10, 10, 8])).toEqual({ low: 1, high: 3, ratios: [2, 3, 1] })
    expect(Spread.spread([10, 20], undefined)).toBeNull()
  })

  it("rows carry the spread against node:fs, the best peer by median, and the limit", () => {
    const rows = Report.rows(
      [w],
      [
        passes("fsys-buffered", [60, 90, 120]),
        passes("node-fs", [100, 60, 100]),
        passes("node-sqlite", [50, 150, 200]),
        passes("limit", [120, 100, 150]),
      ],
      { _tag: "Skipped", reason: "" },
    )
    const ours = rows.find((r) => r.subject === "fsys-buffered")!
    expect(ours.vsNodeFs).toBeCloseTo(0.9)
    expect(ours.vsNodeFsSpread!.ratios).toEqual([0.6, 1.5, 1.2])
    // The best peer is node:sqlite by its median (150), so its passes are the base.
    expect(ours.vsBestPeerSpread!.ratios).toEqual([1.2, 0.6, 0.6])
    expect(ours.vsLimitSpread!.low).toBeCloseTo(0.5)
    expect(ours.vsLimitSpread!.high).toBeCloseTo(0.9)
    expect(ours.passThroughputs).toEqual([60, 90, 120])

    const targets = Report.targets([w], rows)
    const peers = targets.find((t) => t.name === "durable-64p-100B: vs every peer")!
    expect(peers.met).toBe(false)
    expect(peers.measured).toContain("= 0.60× (per pass 0.60×–1.20×, 1 of 3 ≥ 1.00×)")
    const share = targets.find((t) => t.name === "durable-64p-100B: share of limit")!
    expect(share.measured).toContain("(per pass 50 %–90 %, 1 of 3 ≥ 90 %)")
  })

  it("the tables print each ratio with its per-pass range", () => {
    const rows = Report.rows(
      [w],
      [passes("fsys-buffered", [60, 90, 120]), passes("node-fs", [100, 60, 100]), passes("limit", [120, 100, 150])],
      { _tag: "Skipped", reason: "" },
    )
    const results: Report.Results = {
      tool: "fsys bench",
      startedAt: "2026-12-02T00:00:00.000Z",
      quick: false,
      repeat: 3,
      command: "fsys bench",
      machine: { cpus: 2, cpuModel: "cpu", memoryBytes: 1, kernel: "k", node: "v24", filesystems: {} },
      workloads: [w],
      rows,
      passes: [],
      oDirectReference: { _tag: "Skipped", reason: "" },
      oDirectPasses: [],
      targets: Report.targets([w], rows),
    }
    const line = Render.markdown(results)
      .split("\n")
      .find((l) => l.startsWith("| fsys-buffered"))!
    expect(line).toContain("| 0.90× (0.60–1.50) |")
    expect(line).toContain("| 75 % (50–90) |")
    const nodeFs = Render.markdown(results)
      .split("\n")
      .find((l) => l.startsWith("| node-fs"))!
    expect(nodeFs).toContain("| 1.00× |")
  })

  it("without passes (or a single one) there is no spread and the text is as before", () => {
    const rows = Report.rows([w], [passes("fsys-buffered", [90]), passes("node-fs", [50]), passes("limit", [100])], {
      _tag: "Skipped",
      reason: "",
    })
    const ours = rows.find((r) => r.subject === "fsys-buffered")!
    expect(ours.vsNodeFsSpread).toBeNull()
    expect(Report.targets([w], rows).find((t) => t.name === "durable-64p-100B: vs every peer")!.measured).toBe(
      "fsys-buffered 90.0 rec/s vs node-fs 50.0 rec/s = 1.80×",
    )
  })

  it("the 1 MiB workload pairs each pass with that pass's O_DIRECT reference", () => {
    const large = workload("unsynced-1MiB")
    const bandwidth = (bytesPerSecond: number) => measurement(1, { bytesPerSecond })
    const [ours] = Report.rows(
      [large],
      [
        {
          workload: large.name,
          subject: "fsys-buffered",
          outcome: bandwidth(800),
          passes: 2,
          passOutcomes: [bandwidth(800), bandwidth(900)],
        },
      ],
      bandwidth(1000),
      [bandwidth(1000), bandwidth(1800)],
    )
    expect(ours!.vsLimitSpread!.ratios).toEqual([0.8, 0.5])
  })
})
