/**
 * Every example runs as a program and prints what it promises.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const run = (file: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(file, import.meta.url))], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

describe("examples", () => {
  it("quickstart appends, syncs and reads back four records", async () => {
    const result = await run("./quickstart.ts")
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^0\thello$/m)
    expect(result.stdout).toMatch(/\tfsys$/m)
    expect(result.stdout).toMatch(/4 records, clean end \d+, tail CleanEnd/)
  })

  it("event-store persists concurrent events and rebuilds the balances by replay", async () => {
    const result = await run("./event-store.ts")
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^1600 events durable with \d+ fdatasyncs/m)
    // 32 handlers × 50 events: +10 twice, −5 once, per three.
    expect(result.stdout).toMatch(/^total 8320$/m)
  })
})
