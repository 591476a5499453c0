/**
 * The bench report's arithmetic, without running a bench: the median of interleaved passes, the
 * ratios (node:fs, best peer, share of the ceiling) and the targets that use them.
 */
import type { Measurement, Outcome, SubjectName, Workload } from "@fsys/bench/Protocol"
import { describe, expect, it } from "vitest"
import * as Report from "../src/internal/bench/report.ts"
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
