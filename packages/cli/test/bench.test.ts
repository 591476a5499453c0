/**
 * `fsys bench --quick`: the smoke test that keeps the bench code from rotting. Every subject runs
 * every workload for a moment, in its own process, and reads its records back; a peer that cannot
 * load may be skipped (with its reason), but nothing may fail, node:fs and node:sqlite (built in)
 * always run, the `limit` ceiling runs in every durable workload, the `floor` in the CPU-bound one,
 * and the JSON, the Markdown and the chart are written.
 */
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { SUBJECTS_DEFAULT, type Workload } from "@fsys/bench/Protocol"
import { fsys, tempDirectory } from "./helpers.ts"

interface Row {
  readonly workload: string
  readonly subject: string
  readonly vsLimit: number | null
  readonly outcome:
    | {
        readonly _tag: "Measured"
        readonly measurement: { readonly verified: boolean; readonly cpuMicrosPerRecord: number }
      }
    | { readonly _tag: "Skipped" | "Failed"; readonly reason: string }
}

let dir: { readonly path: string; readonly cleanup: () => Promise<void> }
beforeAll(async () => {
  dir = await tempDirectory()
})
afterAll(async () => {
  await dir.cleanup()
})

describe("bench --quick", () => {
  it("runs every subject and workload, verifies, writes results.json and results.svg", async () => {
    const run = await fsys(["bench", "--quick", "--out", dir.path], 170_000)
    expect(run.code, run.stderr).toBe(0)
    const results = JSON.parse(await readFile(join(dir.path, "results.json"), "utf8"))
    expect(results.quick).toBe(true)
    const durable = results.workloads.filter((w: Workload) => w.kind === "durable" || w.kind === "durableBatch")
    const cpuBound = durable.filter((w: Workload) => w.kind === "durable" && w.onTmpfs)
    // Every subject in every workload, the limit only in durable ones, the floor only in the CPU-bound one.
    expect(results.rows.length).toBe(
      results.workloads.length * (SUBJECTS_DEFAULT.length - 2) + durable.length + cpuBound.length,
    )
    for (const row of results.rows as ReadonlyArray<Row>) {
      expect(
        row.outcome._tag,
        `${row.workload} × ${row.subject}: ${"reason" in row.outcome ? row.outcome.reason : ""}`,
      ).not.toBe("Failed")
      if (row.outcome._tag !== "Measured") continue
      // Every subject but the two yardsticks read its records back.
      expect(row.outcome.measurement.verified).toBe(row.subject !== "limit" && row.subject !== "floor")
      expect(row.outcome.measurement.cpuMicrosPerRecord).toBeGreaterThan(0)
    }
    const measuredIn = (subject: string) =>
      (results.rows as ReadonlyArray<Row>).filter((r) => r.subject === subject && r.outcome._tag === "Measured")
    // A default run skips no subject on a fresh install (better-sqlite3 is opt-in for that reason).
    for (const subject of SUBJECTS_DEFAULT) expect(measuredIn(subject).length, subject).toBeGreaterThan(0)
    // node:fs is the baseline every ratio needs, node:sqlite is built into Node: both always run.
    expect(measuredIn("node-fs")).toHaveLength(results.workloads.length)
    expect(measuredIn("node-sqlite")).toHaveLength(results.workloads.length)
    // The ceiling runs in every durable workload, and every row there has its share of it.
    expect(measuredIn("limit").map((r) => r.workload)).toEqual(durable.map((w: Workload) => w.name))
    // The driver's own cost per record, beside the CPU-bound workload's rows, and in its target.
    expect(measuredIn("floor").map((r) => r.workload)).toEqual(cpuBound.map((w: Workload) => w.name))
    expect(
      results.targets.find((t: { name: string }) => t.name === "cpu-64p-100B-tmpfs: CPU per record").measured,
    ).toMatch(/the driver alone: [\d.]+ µs/)
    for (const row of (results.rows as ReadonlyArray<Row>).filter((r) => r.outcome._tag === "Measured")) {
      if (durable.some((w: Workload) => w.name === row.workload)) expect(row.vsLimit, row.subject).not.toBeNull()
    }
    expect(results.targets.length).toBeGreaterThan(10)
    const svg = await readFile(join(dir.path, "results.svg"), "utf8")
    expect(svg.startsWith("<svg")).toBe(true)
    const markdown = await readFile(join(dir.path, "results.md"), "utf8")
    expect(markdown).toMatch(/% of limit/)
    expect(markdown).toMatch(/loop p99/)
    expect(run.stdout).toMatch(/targets/)
  }, 180_000)
})
