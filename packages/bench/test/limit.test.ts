/**
 * The `limit` ceiling: whichever loop carries it (the io_uring ring or node:fs's threadpool), it
 * must write exactly the journal's bytes per round at consecutive offsets — the frames the
 * records would make, `producers` per round — or the percentages against it mean nothing.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Frame } from "@fsys/core"
import { afterEach, describe, expect, it } from "vitest"
import type { Workload } from "../src/Protocol.ts"
import { Source } from "../src/internal/records.ts"
import { subject } from "../src/internal/subjects/limit.ts"

const RECORD_BYTES = 100
const RECORDS = 10

const workload = (producers: number): Workload => ({
  name: "durable-test",
  title: "test",
  kind: "durable",
  recordBytes: RECORD_BYTES,
  producers,
  batchSize: 1,
  durationMillis: 1000,
  maxRecords: RECORDS,
  fillBytes: 0,
  onTmpfs: false,
})

const directories: Array<string> = []
afterEach(() => {
  delete process.env.FSYS_LIMIT_LOOP
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true })
})

describe("limit", () => {
  it.each(["ring", "ring-dsync", "threadpool"] as const)(
    "over the %s writes every round's frames back to back",
    async (loop) => {
      process.env.FSYS_LIMIT_LOOP = loop
      const directory = mkdtempSync(join(tmpdir(), "fsys-limit-"))
      directories.push(directory)
      // 4 records per round: 10 records make rounds of 4, 4 and 2.
      const session = await subject.open(directory, workload(4))
      expect(session.detail).toContain(
        loop === "threadpool" ? "node:fs callbacks" : loop === "ring" ? "WRITE→FSYNC" : "RWF_DSYNC",
      )
      const source = new Source(RECORD_BYTES, RECORDS)
      source.start(Number.POSITIVE_INFINITY)
      await session.loops?.durable?.(source, 4)
      await session.close()
      const frame = Frame.encode(new Uint8Array(RECORD_BYTES).fill(0x5a))
      const bytes = readFileSync(join(directory, "limit.log"))
      for (let i = 0; i < RECORDS; i++) {
        expect(Buffer.from(bytes.subarray(i * frame.length, (i + 1) * frame.length)).equals(Buffer.from(frame))).toBe(
          true,
        )
      }
      // Past the last round: the preallocated zeros, untouched.
      expect(bytes.subarray(RECORDS * frame.length, RECORDS * frame.length + 4096).every((b) => b === 0)).toBe(true)
    },
  )

  it("refuses a loop it does not know", async () => {
    process.env.FSYS_LIMIT_LOOP = "sync"
    const directory = mkdtempSync(join(tmpdir(), "fsys-limit-"))
    directories.push(directory)
    await expect(subject.open(directory, workload(4))).rejects.toThrow(
      /FSYS_LIMIT_LOOP must be ring, ring-dsync or threadpool/,
    )
  })
})
