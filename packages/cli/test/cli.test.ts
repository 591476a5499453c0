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

  it("bare fsys prints the help and exits 2 (it ran nothing); help texts show defaults", async () => {
    const [bare, tailHelp, demoHelp] = await Promise.all([fsys([]), fsys(["tail", "--help"]), fsys(["demo", "--help"])])
    expect(bare.code).toBe(2)
    expect(bare.stdout).toMatch(/SUBCOMMANDS/)
    expect(tailHelp.stdout).toMatch(/default: 10/)
    expect(tailHelp.stdout).toMatch(/default: utf8/)
    expect(tailHelp.stdout).toMatch(/not necessarily durable/i)
    expect(demoHelp.stdout).toMatch(/default: 64/)
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
    // Labelled buckets: 5 and 23 bytes, and the 5000-byte record in 4096…8191.
    expect(report.sizeHistogram).toEqual([
      { minBytes: 4, maxBytes: 7, records: 1 },
      { minBytes: 16, maxBytes: 31, records: 1 },
      { minBytes: 4096, maxBytes: 8191, records: 1 },
    ])

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
    // Stable keys whatever the payload: bytes always (base64), the text when it is UTF-8.
    const objects = json.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line))
    for (const object of objects) expect(Object.keys(object)).toEqual(["lsn", "length", "payloadBase64", "utf8"])
    expect(JSON.parse(objects[1].utf8)).toEqual({ type: "order", id: 1 })
    expect(Buffer.from(objects[0].payloadBase64, "base64").toString()).toBe("alpha")

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

describe("tail: defaults and --from", () => {
  it("prints the last 10 by default, --from 0 prints all, --from off a boundary says where it starts", async () => {
    const long = join(dir.path, "long.journal")
    const texts = Array.from({ length: 25 }, (_, i) => `record-${i}`)
    await writeFile(long, journalBytes(texts))
    const second = journalBytes(texts.slice(0, 1)).length
    const [byDefault, all, offBoundary, both] = await Promise.all([
      fsys(["tail", long]),
      fsys(["tail", long, "--from", "0"]),
      fsys(["tail", long, "--from", "5"]),
      fsys(["tail", long, "--from", "0", "-n", "3"]),
    ])
    expect(byDefault.code).toBe(0)
    expect(
      byDefault.stdout
        .trim()
        .split("\n")
        .map((line) => line.split("\t")[1]),
    ).toEqual(texts.slice(15))
    expect(all.stdout.trim().split("\n")).toHaveLength(25)
    expect(offBoundary.code).toBe(0)
    expect(oneLine(offBoundary.stderr)).toBe(
      `fsys tail: --from 5 is not a record boundary: starting at the next record, LSN ${second}`,
    )
    expect(offBoundary.stdout.split("\n")[0]).toBe(`${second}\trecord-1`)
    expect(both.code).toBe(2)
    expect(oneLine(both.stderr)).toMatch(/exclusive/)
  })
})

describe("damage after which intact frames follow (one flipped byte mid-file)", () => {
  const texts = Array.from({ length: 40 }, (_, i) => `event-${String(i).padStart(3, "0")}`)
  const frameBytes = journalBytes(texts.slice(0, 1)).length
  const bad = 10
  let flipped: string

  beforeAll(async () => {
    flipped = join(dir.path, "flipped.journal")
    const bytes = journalBytes(texts)
    bytes[bad * frameBytes + 9] ^= 0x20 // a payload byte of record 10: its CRC fails
    await writeFile(flipped, bytes)
  })

  it("verify and inspect report the intact frames after it, their LSNs, and that open would cut them", async () => {
    const [verify, verifyJson, inspect, inspectJson] = await Promise.all([
      fsys(["verify", flipped]),
      fsys(["verify", flipped, "--json"]),
      fsys(["inspect", flipped]),
      fsys(["inspect", flipped, "--json"]),
    ])
    const firstIntact = (bad + 1) * frameBytes
    const lastIntact = (texts.length - 1) * frameBytes
    expect(verify.code).toBe(1)
    expect(verify.stdout).toContain(
      `29 intact frames follow the damage at ${bad * frameBytes} (LSNs ${firstIntact}…${lastIntact} (29))`,
    )
    expect(verify.stdout).toMatch(/the next open would save them.*corrupt-.*and cut them/)
    expect(oneLine(verify.stderr)).toMatch(/10 records before it are intact; 29 intact frames AFTER it would be cut/)
    const result = JSON.parse(verifyJson.stdout)
    expect(result.damage).toEqual({
      firstBadLsn: bad * frameBytes,
      intactFramesAfterDamage: 29,
      intactBytesAfterDamage: 29 * frameBytes,
      intactRuns: [{ firstLsn: firstIntact, lastLsn: lastIntact, endLsn: texts.length * frameBytes, frames: 29 }],
      surveyComplete: true,
    })
    expect(inspect.code).toBe(0)
    expect(inspect.stdout).toMatch(/after damage +29 intact frames follow the damage/)
    expect(JSON.parse(inspectJson.stdout).damage.intactFramesAfterDamage).toBe(29)
  })

  it("tail prints the records before it, then says so on stderr and exits 1", async () => {
    const run = await fsys(["tail", flipped, "--from", "0"])
    expect(run.code).toBe(1)
    expect(run.stdout.trim().split("\n")).toHaveLength(bad)
    expect(oneLine(run.stderr)).toMatch(
      /damaged tail \(ChecksumMismatch at \d+\); printed the 10 records before it; 29 intact frames follow/,
    )
  })

  it("a torn last record is damage without intact frames after it: verify and tail say only that", async () => {
    const [verify, tail] = await Promise.all([fsys(["verify", torn]), fsys(["tail", torn])])
    expect(verify.code).toBe(1)
    expect(verify.stdout).not.toMatch(/intact frames follow/)
    expect(tail.code).toBe(1)
    expect(oneLine(tail.stderr)).toMatch(/damaged tail \(TruncatedPayload at \d+\); printed the 2 records before it$/)
  })
})
