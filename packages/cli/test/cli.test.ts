/**
 * The fsys command, run as a subprocess the way a user runs it: every command on good input, and
 * the odd inputs (missing file, directory, not a journal, unreadable file, bad flags) giving one
 * clear line and the documented exit code.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { concat, fsys, journalBytes, oneLine, tempDirectory } from "./helpers.ts"

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
  it("--help lists every command and exits 0", async () => {
    const run = await fsys(["--help"])
    expect(run.code).toBe(0)
    for (const command of ["probe", "inspect", "verify", "tail", "demo", "bench"]) expect(run.stdout).toContain(command)
  })

  it("an unknown command is one line and exit 2", async () => {
    const run = await fsys(["frobnicate"])
    expect(run.code).toBe(2)
    expect(oneLine(run.stderr)).toMatch(/frobnicate/)
  })

  it("a missing argument is one line and exit 2", async () => {
    const run = await fsys(["verify"])
    expect(run.code).toBe(2)
    expect(oneLine(run.stderr)).toMatch(/journal/)
  })
})

describe("inspect", () => {
  it("reports records, LSNs, clean end and sizes", async () => {
    const run = await fsys(["inspect", good, "--json"])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout)
    expect(report.records).toBe(3)
    expect(report.firstLsn).toBe(0)
    expect(report.lastLsn).toBe(17 + 12 + payloads[1]!.length)
    expect(report.tailState).toBe("CleanEnd")
    expect(report.cleanEnd).toBe(report.fileSizeBytes)
    expect(report.maxRecordBytes).toBe(5000)
    expect(report.sizeHistogram.reduce((a: number, b: number) => a + b, 0)).toBe(3)
  })

  it("shows a damaged tail without failing", async () => {
    const run = await fsys(["inspect", damaged])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/BadMagic/)
    expect(run.stdout).toMatch(/records\s+3/)
  })

  it("an empty file is an empty journal", async () => {
    const run = await fsys(["inspect", empty, "--json"])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout).records).toBe(0)
  })
})

describe("verify", () => {
  it("exit 0 for a clean journal", async () => {
    const run = await fsys(["verify", good])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^ok/)
    expect(run.stdout).toMatch(/3 intact/)
  })

  it("exit 1 and one line for a corrupt tail", async () => {
    const run = await fsys(["verify", damaged])
    expect(run.code).toBe(1)
    expect(oneLine(run.stderr)).toMatch(/damaged tail \(BadMagic at \d+\); 3 records/)
  })

  it("exit 1 for a torn last record", async () => {
    const run = await fsys(["verify", torn, "--json"])
    expect(run.code).toBe(1)
    const result = JSON.parse(run.stdout)
    expect(result.records).toBe(2)
    expect(result.tailState).toBe("TruncatedPayload")
  })
})

describe("tail", () => {
  it("prints records as utf8, hex and json", async () => {
    const utf8 = await fsys(["tail", good])
    expect(utf8.code).toBe(0)
    expect(utf8.stdout.split("\n")[0]).toBe("0\talpha")
    const hex = await fsys(["tail", good, "--format", "hex"])
    expect(hex.stdout.split("\n")[0]).toBe(`0\t${Buffer.from("alpha").toString("hex")}`)
    const json = await fsys(["tail", good, "--format", "json"])
    const second = JSON.parse(json.stdout.split("\n")[1]!)
    expect(second.json).toEqual({ type: "order", id: 1 })
  })

  it("-n prints only the last records", async () => {
    const run = await fsys(["tail", good, "-n", "1"])
    expect(run.code).toBe(0)
    expect(run.stdout.trim().split("\n")).toHaveLength(1)
    expect(run.stdout).toContain("xxxxx")
  })

  it("--from outside the journal is a usage error", async () => {
    const run = await fsys(["tail", good, "--from", "999999"])
    expect(run.code).toBe(2)
    oneLine(run.stderr)
  })
})

describe("odd inputs give one line and exit 2", () => {
  for (const command of ["inspect", "verify", "tail"]) {
    it(`${command}: missing file`, async () => {
      const run = await fsys([command, join(dir.path, "nope.journal")])
      expect(run.code).toBe(2)
      expect(oneLine(run.stderr)).toMatch(/nope\.journal: no such file/)
    })

    it(`${command}: a directory`, async () => {
      const run = await fsys([command, dir.path])
      expect(run.code).toBe(2)
      expect(oneLine(run.stderr)).toMatch(/is a directory/)
    })

    it(`${command}: not a journal`, async () => {
      const run = await fsys([command, notJournal])
      expect(run.code).toBe(2)
      expect(oneLine(run.stderr)).toMatch(/not an fsys journal/)
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

  it("probe: a path that does not exist", async () => {
    const run = await fsys(["probe", join(dir.path, "no", "such", "dir")])
    expect(run.code).toBe(2)
    oneLine(run.stderr)
  })

  it("bench: an unknown subject", async () => {
    const run = await fsys(["bench", "--only", "mongodb"])
    expect(run.code).toBe(2)
    expect(oneLine(run.stderr)).toMatch(/unknown subject mongodb/)
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
    expect(text.stdout).toMatch(/a journal opened here would use/)
  })
})
