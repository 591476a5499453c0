/**
 * `fsys demo` end to end (small sizes): group commit, a child writer killed with SIGKILL, recovery
 * and verification of every acknowledged record, exit 0.
 */
import { describe, expect, it } from "vitest"
import { fsys } from "./helpers.ts"

describe("demo", () => {
  it("recovers every acknowledged record after killing a writer", async () => {
    const run = await fsys(["demo", "--producers", "16", "--records", "200"], 60_000)
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/3200 records in/)
    expect(run.stdout).toMatch(/killed \(SIGKILL\)/)
    expect(run.stdout).toMatch(/every acknowledged record recovered intact/)
  }, 70_000)
})
