/**
 * The fsys command, run as a subprocess the way a user runs it: every command on good input, and
 * the odd inputs (missing file, directory, not a journal, unreadable file, bad flags) giving one
 * clear line and the documented exit code.
 */
import { appendFile, chmod, mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { concat, fsys, journalBytes, oneLine, spawnFsys, tempDirectory } from "./helpers.ts"

let dir: { readonly path: string; readonly cleanup: () => Promise<void> }
let good: string
let damaged: string
let torn: string
let notJournal: string
let empty: string
const payloads = ["alpha", '{"type":"order","id":1}', "x".repeat(5000)]

beforeAll(async () => {
  dir = await tempDirectory()
  good = join(dir.path, "good.journal")
  await writeFile(good, journalBytes(payloads))
  // Zero padding after the last frame (what a Direct-mode writer leaves) is still a clean end.
  damaged = join(dir.path, "damaged.journal")
  const garbage = new Uint8Array(100).fill(0xab)
  await writeFile(damaged, concat(journalBytes(payloads), garbage))
  torn = join(dir.path, "torn.journal")
  const whole = journalBytes(payloads)
  await writeFile(torn, whole.subarray(0, whole.length - 7))
  notJournal = join(dir.path, "notes.txt")
  await writeFile(notJournal, "these are my notes, not a journal\n")
  empty = join(dir.path, "empty.journal")
  await writeFile(empty, new Uint8Array(0))
})

afterAll(async () => {
  await dir.cleanup()
})

describe("fsys", () => {
  it("--help lists every command and exits 0; bad commands and missing arguments are one line, exit 2", async () => {
    const [help, unknown, missing] = await Promise.all([fsys(["--help"]), fsys(["frobnicate"]), fsys(["verify"])])
    expect(help.code).toBe(0)
    for (const command of ["probe", "inspect", "verify", "tail", "demo", "bench"])
      expect(help.stdout).toContain(command)
    expect(unknown.code).toBe(2)
    expect(oneLine(unknown.stderr)).toMatch(/frobnicate/)
    expect(missing.code).toBe(2)
    expect(oneLine(missing.stderr)).toMatch(/journal/)
  })
})

describe("inspect", () => {
  it("reports records, LSNs, clean end and sizes; a damaged tail is shown, not fatal; empty is empty", async () => {
    const [goodRun, damagedRun, emptyRun] = await Promise.all([
      fsys(["inspect", good, "--json"]),
      fsys(["inspect", damaged]),
      fsys(["inspect", empty, "--json"]),
    ])
    expect(goodRun.code).toBe(0)
    const report = JSON.parse(goodRun.stdout)
    expect(report.records).toBe(3)
    expect(report.firstLsn).toBe(0)
    expect(report.lastLsn).toBe(17 + 12 + payloads[1]!.length)
    expect(report.tailState).toBe("CleanEnd")
    expect(report.cleanEnd).toBe(report.fileSizeBytes)
    expect(report.maxRecordBytes).toBe(5000)
    expect(report.sizeHistogram.reduce((a: number, b: number) => a + b, 0)).toBe(3)

    expect(damagedRun.code).toBe(0)
    expect(damagedRun.stdout).toMatch(/BadMagic/)
    expect(damagedRun.stdout).toMatch(/records\s+3/)

    expect(emptyRun.code).toBe(0)
    expect(JSON.parse(emptyRun.stdout).records).toBe(0)
  })
})

describe("verify", () => {
  it("exit 0 when clean, 1 with one line for a corrupt or torn tail", async () => {
    const [clean, corrupt, tornRun] = await Promise.all([
      fsys(["verify", good]),
      fsys(["verify", damaged]),
      fsys(["verify", torn, "--json"]),
    ])
    expect(clean.code).toBe(0)
    expect(clean.stdout).toMatch(/^ok/)
    expect(clean.stdout).toMatch(/3 intact/)

    expect(corrupt.code).toBe(1)
    expect(oneLine(corrupt.stderr)).toMatch(/damaged tail \(BadMagic at \d+\); 3 records/)

    expect(tornRun.code).toBe(1)
    const result = JSON.parse(tornRun.stdout)
    expect(result.records).toBe(2)
    expect(result.tailState).toBe("TruncatedPayload")
  })
})

describe("tail", () => {
  it("prints records as utf8, hex and json; -n keeps the last; --from is checked", async () => {
    const [utf8, hex, json, last, outside] = await Promise.all([
      fsys(["tail", good]),
      fsys(["tail", good, "--format", "hex"]),
      fsys(["tail", good, "--format", "json"]),
      fsys(["tail", good, "-n", "1"]),
      fsys(["tail", good, "--from", "999999"]),
    ])
    expect(utf8.code).toBe(0)
    expect(utf8.stdout.split("\n")[0]).toBe("0\talpha")
    expect(hex.stdout.split("\n")[0]).toBe(`0\t${Buffer.from("alpha").toString("hex")}`)
    expect(JSON.parse(json.stdout.split("\n")[1]!).json).toEqual({ type: "order", id: 1 })

    expect(last.code).toBe(0)
    expect(last.stdout.trim().split("\n")).toHaveLength(1)
    expect(last.stdout).toContain("xxxxx")

    expect(outside.code).toBe(2)
    oneLine(outside.stderr)
  })

  it("--follow -n 1 prints the last record, then records appended while it runs", async () => {
    const followed = join(dir.path, "followed.journal")
    await writeFile(followed, journalBytes(["zeroth", "first"]))
    const child = spawnFsys(["tail", "-f", "-n", "1", followed])
    await child.waitFor(/first/)
    await appendFile(followed, journalBytes(["second"]))
    await child.waitFor(/second/)
    child.kill()
    // -n 1 started at the last record: the earlier one was never printed.
    expect(child.output()).not.toContain("zeroth")
  })
})

describe("odd inputs give one line and exit 2", () => {
  for (const command of ["inspect", "verify", "tail"]) {
    it(`${command}: missing file, a directory, not a journal`, async () => {
      const [missing, directory, foreign] = await Promise.all([
        fsys([command, join(dir.path, "nope.journal")]),
        fsys([command, dir.path]),
        fsys([command, notJournal]),
      ])
      expect(missing.code).toBe(2)
      expect(oneLine(missing.stderr)).toMatch(/nope\.journal: no such file/)
      expect(directory.code).toBe(2)
      expect(oneLine(directory.stderr)).toMatch(/is a directory/)
      expect(foreign.code).toBe(2)
      expect(oneLine(foreign.stderr)).toMatch(/not an fsys journal/)
    })
  }

  // Root reads any file regardless of its mode, so this can only be checked as a normal user.
  it.skipIf(process.getuid?.() === 0)("unreadable file (skipped as root: root bypasses permissions)", async () => {
    const locked = join(dir.path, "locked.journal")
    await writeFile(locked, journalBytes(["secret"]))
    await chmod(locked, 0o000)
    const run = await fsys(["verify", locked])
    expect(run.code).toBe(2)
    expect(oneLine(run.stderr)).toMatch(/permission denied/)
  })

  it("probe: a path that does not exist; bench: an unknown subject", async () => {
    const [probe, bench] = await Promise.all([
      fsys(["probe", join(dir.path, "no", "such", "dir")]),
      fsys(["bench", "--only", "mongodb"]),
    ])
    expect(probe.code).toBe(2)
    oneLine(probe.stderr)
    expect(bench.code).toBe(2)
    expect(oneLine(bench.stderr)).toMatch(/unknown subject mongodb/)
  })
})

describe("probe", () => {
  it("reports the capabilities and what a journal there would use", async () => {
    const sub = join(dir.path, "probe-here")
    await mkdir(sub)
    const run = await fsys(["probe", sub, "--json"])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout)
    expect(["direct", "buffered"]).toContain(report.journal.mode)
    expect(["io_uring", "pwrite"]).toContain(report.journal.backend)
    expect(report.journal.reason.length).toBeGreaterThan(0)
    const text = await fsys(["probe", sub])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/a journal opened here would use/)
  })
})
