/**
 * `fsys bench --quick`: the smoke test that keeps the bench code from rotting. Every subject runs
 * every workload for a moment, in its own process, and reads its records back; a peer that cannot
 * load may be skipped (with its reason), but nothing may fail, and the JSON and the chart are
 * written.
 */
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { fsys, tempDirectory } from "./helpers.ts"

let dir: { readonly path: string; readonly cleanup: () => Promise<void> }
beforeAll(async () => {
  dir = await tempDirectory()
})
afterAll(async () => {
  await dir.cleanup()
})

describe("bench --quick", () => {
  it("runs every subject and workload, verifies, writes results.json and results.svg", async () => {
    const run = await fsys(["bench", "--quick", "--out", dir.path], 110_000)
    expect(run.code, run.stderr).toBe(0)
    const results = JSON.parse(await readFile(join(dir.path, "results.json"), "utf8"))
    expect(results.quick).toBe(true)
    expect(results.rows.length).toBe(results.workloads.length * 7)
    for (const row of results.rows) {
      expect(row.outcome._tag, `${row.workload} × ${row.subject}: ${row.outcome.reason}`).not.toBe("Failed")
      if (row.outcome._tag === "Measured") expect(row.outcome.measurement.verified).toBe(true)
    }
    // node:fs is the baseline every ratio needs: it must always run.
    expect(
      results.rows.filter(
        (r: { subject: string; outcome: { _tag: string } }) => r.subject === "node-fs" && r.outcome._tag === "Measured",
      ),
    ).toHaveLength(results.workloads.length)
    expect(results.targets.length).toBeGreaterThan(5)
    const svg = await readFile(join(dir.path, "results.svg"), "utf8")
    expect(svg.startsWith("<svg")).toBe(true)
    expect(run.stdout).toMatch(/targets/)
  }, 120_000)
})
