/**
 * `fsys inspect`, `verify` and `tail` on a segmented journal's directory, run as a subprocess
 * over a journal written by `SegmentedJournal` (small segments, so there are several), then over
 * copies with a damaged sealed segment and with a missing middle segment (a gap).
 */
import { cpSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { openSegmentedJournal } from "@fsys/core/promise"
import { fsys, oneLine, spawnFsys, tempDirectory } from "./helpers.ts"

const RECORDS = 200
const FIRST_KEPT = 60
const CHECKPOINT_AT = 100
const FROM = 150

let dir: { readonly path: string; readonly cleanup: () => Promise<void> }
let good: string
let damaged: string
let gapped: string
let overlapping: string
let damagedName: string
let missingName: string
const starts: Array<number> = []
let segments: ReadonlyArray<{ baseLsn: number; endLsn: number; sealed: boolean }> = []

const payload = (i: number): string => `record-${i}-${"x".repeat(80 + (i % 7))}`

const segmentNames = (path: string): Array<string> =>
  readdirSync(path)
    .filter((name) => /^\d{20}\.journal$/.test(name))
    .sort()

beforeAll(async () => {
  dir = await tempDirectory()
  good = join(dir.path, "log")
  {
    await using journal = await openSegmentedJournal(good, {
      mode: "buffered",
      segmentBytes: 4096,
      preallocateBytes: 0,
    })
    for (let i = 0; i < RECORDS; i++) {
      starts.push(journal.nextLsn())
      await journal.append(new TextEncoder().encode(payload(i)))
    }
    await journal.sync()
    await journal.checkpoint(starts[CHECKPOINT_AT]!, new Uint8Array([7, 7, 7]))
    // Drops the oldest segments: the first one left does not start at LSN 0.
    await journal.truncateFront(starts[FIRST_KEPT]!)
    segments = journal.segments().map(({ baseLsn, endLsn, sealed }) => ({ baseLsn, endLsn, sealed }))
  }
  expect(segments.length).toBeGreaterThan(3)
  expect(segments[0]!.baseLsn).toBeGreaterThan(0)

  // One flipped byte in the middle of the second segment (sealed).
  damaged = join(dir.path, "damaged")
  cpSync(good, damaged, { recursive: true })
  damagedName = segmentNames(damaged)[1]!
  const bytes = readFileSync(join(damaged, damagedName))
  bytes[bytes.length >> 1]! ^= 0xff
  writeFileSync(join(damaged, damagedName), bytes)

  // The third segment removed: a gap between the second and the fourth.
  gapped = join(dir.path, "gapped")
  cpSync(good, gapped, { recursive: true })
  missingName = segmentNames(gapped)[2]!
  rmSync(join(gapped, missingName))

  // The third segment renamed 10 bytes lower (its base no longer follows the second's end), and
  // the checkpoint's CRC broken.
  overlapping = join(dir.path, "overlapping")
  cpSync(good, overlapping, { recursive: true })
  const third = segmentNames(overlapping)[2]!
  renameSync(
    join(overlapping, third),
    join(overlapping, `${String(segments[2]!.baseLsn - 10).padStart(20, "0")}.journal`),
  )
  const checkpoint = readFileSync(join(overlapping, "checkpoint"))
  checkpoint[checkpoint.length - 1]! ^= 0x01
  writeFileSync(join(overlapping, "checkpoint"), checkpoint)
})

afterAll(async () => {
  await dir.cleanup()
})

describe("a segmented journal's directory", () => {
  it("inspect lists the segments, the checkpoint and the first/last LSN (text and --json)", async () => {
    const [json, text] = await Promise.all([fsys(["inspect", good, "--json"]), fsys(["inspect", good])])
    expect(json.code).toBe(0)
    const report = JSON.parse(json.stdout)
    expect(report.segmented).toBe(true)
    expect(report.clean).toBe(true)
    expect(report.problems).toEqual([])
    expect(
      report.segments.map((s: { baseLsn: number; endLsn: number; sealed: boolean }) => ({
        baseLsn: s.baseLsn,
        endLsn: s.endLsn,
        sealed: s.sealed,
      })),
    ).toEqual(segments)
    expect(report.checkpoint).toEqual({ lsn: starts[CHECKPOINT_AT], dataBytes: 3 })
    expect(report.firstLsn).toBe(segments[0]!.baseLsn)
    expect(report.lastLsn).toBe(starts[RECORDS - 1])
    expect(report.cleanEnd).toBe(segments.at(-1)!.endLsn)
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/segmented, \d+ segments/)
    expect(text.stdout).toContain(`checkpoint   LSN ${starts[CHECKPOINT_AT]} (3 B of data)`)
    expect(text.stdout).toContain(`last LSN     ${starts[RECORDS - 1]}`)
    for (const name of segmentNames(good)) expect(text.stdout).toContain(name)
  })

  it("verify says ok and exits 0 on the clean directory", async () => {
    const [text, json] = await Promise.all([fsys(["verify", good]), fsys(["verify", good, "--json"])])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^ok {2}/)
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout).segments.length).toBe(segments.length)
  })

  it("tail prints records across segments with global LSNs", async () => {
    const [last, from, asJson] = await Promise.all([
      fsys(["tail", "-n", "3", good]),
      fsys(["tail", "--from", String(starts[FROM]), good]),
      fsys(["tail", "--from", "0", "--format", "json", good]),
    ])
    expect(last.code).toBe(0)
    expect(last.stdout.trim().split("\n")).toEqual([197, 198, 199].map((i) => `${starts[i]}\t${payload(i)}`))
    expect(from.code).toBe(0)
    expect(from.stdout.trim().split("\n")).toEqual(
      Array.from({ length: RECORDS - FROM }, (_, k) => `${starts[FROM + k]}\t${payload(FROM + k)}`),
    )
    expect(asJson.code).toBe(0)
    // --from 0 is "every record", even though the first kept segment starts later: no notice.
    expect(asJson.stderr).toBe("")
    const lsns = asJson.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line).lsn)
    // The records before the first kept segment's base were dropped by truncateFront.
    expect(lsns).toEqual(starts.filter((lsn) => lsn >= segments[0]!.baseLsn))
  })

  it("tail -f follows a live writer across rotations, every record once and in order; SIGINT ends it cleanly", async () => {
    const live = join(dir.path, "live")
    await using journal = await openSegmentedJournal(live, {
      mode: "buffered",
      segmentBytes: 4096,
      preallocateBytes: 0,
    })
    const lines: Array<string> = []
    const appendDurably = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const lsn = journal.nextLsn()
        await journal.append(new TextEncoder().encode(payload(i)))
        lines.push(`${lsn}\t${payload(i)}`)
        if (i % 5 === 4) await journal.sync()
      }
      await journal.sync()
    }
    await appendDurably(0, 30)
    const child = spawnFsys(["tail", "-f", "-n", "2", live])
    await child.waitFor(new RegExp(`${payload(29)}\n`))
    // Several rotations while it follows (about 45 records per 4 KiB segment).
    await appendDurably(30, 250)
    await child.waitFor(new RegExp(`${payload(249)}\n`))
    expect(journal.segments().length).toBeGreaterThan(4)
    expect(child.output().trim().split("\n")).toEqual(lines.slice(28))
    const ended = await child.interrupt()
    expect(ended.signal).toBe(null)
    expect(ended.code).toBe(130)
  })

  it("tail -f: a truncateBack below what it printed ends the run with exit 1, naming the cut", async () => {
    const live = join(dir.path, "cut-under")
    await using journal = await openSegmentedJournal(live, {
      mode: "buffered",
      segmentBytes: 4096,
      preallocateBytes: 0,
    })
    const lsns: Array<number> = []
    for (let i = 0; i < 120; i++) {
      lsns.push(journal.nextLsn())
      await journal.append(new TextEncoder().encode(payload(i)))
    }
    await journal.sync()
    const child = spawnFsys(["tail", "-f", "--from", "0", live])
    await child.waitFor(new RegExp(`${payload(119)}\n`))
    // Cut below the end of what the follower printed (it shrinks the segment the follower reads,
    // or deletes it when the cut is in an earlier one).
    await journal.truncateBack(lsns[lsns.length - 3]!)
    const ended = await child.exited()
    expect(ended.code).toBe(1)
    expect(oneLine(ended.stderr)).toMatch(/was truncated under the follower \(a truncateBack cut below LSN \d+/)
  })

  it("a damaged sealed segment: verify exits 1 naming it, inspect shows it, tail prints up to it and exits 1", async () => {
    const [verify, inspect, tail] = await Promise.all([
      fsys(["verify", damaged]),
      fsys(["inspect", damaged, "--json"]),
      fsys(["tail", "--from", "0", damaged]),
    ])
    expect(verify.code).toBe(1)
    expect(verify.stdout).toMatch(/^DAMAGED/)
    expect(oneLine(verify.stderr)).toContain(`${damagedName}: damaged sealed segment`)
    expect(inspect.code).toBe(0)
    const report = JSON.parse(inspect.stdout)
    expect(report.clean).toBe(false)
    expect(report.problems).toHaveLength(1)
    expect(report.problems[0]).toContain(damagedName)
    expect(report.faults).toEqual([expect.objectContaining({ file: damagedName, reason: "SealedSegmentDamaged" })])
    const bad = report.segments.find((s: { name: string }) => s.name === damagedName)
    expect(bad.sealed).toBe(true)
    expect(bad.tailState).not.toBe("CleanEnd")
    expect(tail.code).toBe(1)
    expect(oneLine(tail.stderr)).toContain(damagedName)
    const printed = tail.stdout.trim().split("\n")
    // Every record of the first segment, then the second one's records before the damage.
    expect(printed.length).toBe(report.records)
    expect(printed.length).toBeGreaterThan(0)
    expect(Number(printed.at(-1)!.split("\t")[0])).toBeLessThan(bad.endLsn)
    expect(report.cleanEnd).toBe(bad.endLsn)
  })

  it("a missing middle segment is a gap: verify exits 1 naming the segment after it", async () => {
    const [verify, json] = await Promise.all([fsys(["verify", gapped]), fsys(["verify", gapped, "--json"])])
    expect(verify.code).toBe(1)
    const after = segmentNames(gapped)[2]!
    expect(oneLine(verify.stderr)).toMatch(new RegExp(`${after}: gap: starts at \\d+ but \\d+\\.journal ends at \\d+`))
    const report = JSON.parse(json.stdout)
    expect(report.clean).toBe(false)
    expect(report.cleanEnd).toBe(segments[1]!.endLsn)
    expect(missingName).not.toBe(after)
  })

  it("a base that does not follow its predecessor, and a damaged checkpoint, are damage", async () => {
    const run = await fsys(["verify", overlapping, "--json"])
    expect(run.code).toBe(1)
    const report = JSON.parse(run.stdout)
    const renamed = segmentNames(overlapping)[2]!
    expect(report.problems[0]).toBe(
      `${renamed}: base ${segments[2]!.baseLsn - 10} does not follow ${segmentNames(overlapping)[1]}, which ends at ${segments[1]!.endLsn}`,
    )
    // The misplaced segment's successor no longer follows it either: that is reported too.
    expect(report.problems[1]).toMatch(/^\d{20}\.journal: gap: starts at/)
    expect(report.problems.at(-1)).toBe("checkpoint: damaged (CRC mismatch)")
    expect(report.faults.map((fault: { reason: string }) => fault.reason)).toEqual([
      "BaseMismatch",
      "MissingSegment",
      "CheckpointDamaged",
    ])
    expect(report.checkpoint).toBe(null)
    expect(oneLine(run.stderr)).toContain("checkpoint: damaged")
  })

  it("a directory without segments is still refused with exit 2", async () => {
    const run = await fsys(["inspect", dir.path])
    expect(run.code).toBe(2)
    expect(oneLine(run.stderr)).toMatch(/is a directory without segments/)
  })
})
