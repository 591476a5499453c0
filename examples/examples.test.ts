/**
 * Every example runs as a program and prints what it promises; the README's code blocks are these
 * files, byte for byte, so the README cannot show code that does not run.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

/** Each run gets its own working directory: the README examples write `app.journal` there. */
const workDirs: Array<string> = []
afterAll(() => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true })
})

const run = (file: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const cwd = mkdtempSync(join(tmpdir(), "fsys-example-"))
    workDirs.push(cwd)
    const child = spawn(process.execPath, [fileURLToPath(new URL(file, import.meta.url))], {
      cwd,
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

  it("README's Promise example (promise.mjs) writes a durable record and reads it back", async () => {
    const result = await run("./promise.mjs")
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toBe("0 hello\n")
  })

  it("README's Effect example (effect.ts) works through Journal.layer", async () => {
    const result = await run("./effect.ts")
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toBe("0 hello\n17 from\n33 Effect\n")
  })

  it("README's API tour (tour.ts) runs", async () => {
    const result = await run("./tour.ts")
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^durable through LSN 56; /m)
    expect(result.stdout).toMatch(/^4 records, clean end 56, tail CleanEnd$/m)
    expect(result.stdout).toMatch(/^0:hello 17:a 30:b 43:c$/m)
  })
})

/** `<!-- example: examples/x -->` then a fenced block: the block must be the file. */
const README_EXAMPLE = /<!-- example: (examples\/[\w.-]+) -->\n```\w+\n([\s\S]*?)```/g

describe("README", () => {
  const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8")
  const blocks = [...readme.matchAll(README_EXAMPLE)]

  it("shows the Promise example, the Effect example and the tour, first the two", () => {
    expect(blocks.map((block) => block[1])).toEqual(["examples/promise.mjs", "examples/effect.ts", "examples/tour.ts"])
    // The README's first code (after the install line) is the Promise example, then the Effect one.
    const firstCode = readme.search(/```(js|ts)\n/)
    expect(firstCode).toBe(blocks[0]!.index! + blocks[0]![0].indexOf("```"))
  })

  it.each(["examples/promise.mjs", "examples/effect.ts", "examples/tour.ts"])("%s is the README's block", (file) => {
    const block = blocks.find((candidate) => candidate[1] === file)
    const source = readFileSync(fileURLToPath(new URL(`../${file}`, import.meta.url)), "utf8")
    expect(block?.[2]).toBe(source)
  })
})
