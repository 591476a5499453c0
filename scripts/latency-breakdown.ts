/**
 * Where one durable append's latency goes (issue 12 item 7): a single producer appends a record
 * and awaits its durability, `--records` times, and each append is cut into phases by timestamps
 * taken in the journal's caller and in the io_uring ring (through the ring's observer seam):
 *
 *   append      `handle.append` (encode + CRC into the slot) until it returned the LSN
 *   →prepare    from there until the ring wrote the round's linked WRITE→FSYNC SQEs (group
 *               commit, seal, the writer fiber's wake-up, the FileIo layer)
 *   →enter      until io_uring_enter submitted them (the ring's flush scheduling)
 *   →reap       until the ring fd turned readable and the reap started (the kernel: the write,
 *               the fdatasync, posting the CQEs, and the event loop noticing)
 *   →wake       until `syncThrough` returned in the producer (CQE → round settled → fiber resumed)
 *
 * In the same run and file system, interleaved: the same ring submitting "immediate"
 * (setImmediate) vs "microtask" (`IoUring.FlushTiming`); the floor of this ring (a bare
 * `IoUring.writeThenFsync` of one sector-padded frame per record at consecutive offsets of a file
 * preallocated with zeros, the same bytes the journal writes); the same writes as ONE WRITE with
 * RWF_DSYNC (durable on completion: FUA where the device has it, else the kernel flushes after
 * the write); and node:sqlite (WAL,
 * `synchronous = FULL`, one INSERT per record, as the bench's `node-sqlite` subject).
 *
 * Run: `npx pnpm@12.4.2 exec node scripts/latency-breakdown.ts [--records 2000] [--passes 3]
 * [--bytes 100,4096] [--dir /tmp]`. Prints medians over passes of per-pass medians (µs).
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { parseArgs } from "node:util"
import { Effect, Layer } from "effect"
import { FileIo, Frame, IoUringFileIo, Journal } from "@fsys/core"
import { AlignedMemory, IoUring } from "@fsys/native"

const { values } = parseArgs({
  options: {
    records: { type: "string", default: "2000" },
    passes: { type: "string", default: "3" },
    bytes: { type: "string", default: "100,4096" },
    dir: { type: "string", default: NodeOs.tmpdir() },
  },
})
const RECORDS = Number(values.records)
const PASSES = Number(values.passes)
const SIZES = values.bytes.split(",").map(Number)
const SECTOR_BYTES = 4096
const PREALLOCATED_BYTES = 64 * 1024 * 1024

interface Sample {
  readonly [phase: string]: number
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

/** The journal over a ring of ours, with the ring's enter and reap timestamps. */
const journalRun = (directory: string, recordBytes: number, flushTiming: IoUring.FlushTiming) =>
  Effect.scoped(
    Effect.gen(function* () {
      let prepareMillis = 0
      let enterMillis = 0
      let reapMillis = 0
      const ring = yield* IoUring.make({
        entries: IoUringFileIo.DEFAULT_ENTRIES,
        flushTiming,
        seams: {
          observer: {
            onPrepare: () => {
              prepareMillis = performance.now()
            },
            onEnter: () => {
              enterMillis = performance.now()
            },
            onReap: () => {
              reapMillis = performance.now()
            },
          },
        },
      })
      const fileIo = IoUringFileIo.fromRing(ring)
      const path = NodePath.join(directory, `journal-${flushTiming}-${recordBytes}.log`)
      const handle = yield* Journal.open(path, { mode: "direct", backend: "io_uring" }).pipe(
        Effect.provide(Layer.succeed(FileIo.FileIo, fileIo)),
      )
      const payload = new Uint8Array(recordBytes).fill(0x5a)
      const samples: Array<Sample> = []
      for (let i = 0; i < RECORDS; i++) {
        const startMillis = performance.now()
        const lsn = yield* handle.append(payload)
        const appendedMillis = performance.now()
        yield* handle.syncThrough(lsn)
        const wokeMillis = performance.now()
        samples.push({
          append: appendedMillis - startMillis,
          "→prepare": prepareMillis - appendedMillis,
          "→enter": enterMillis - prepareMillis,
          "→reap": reapMillis - enterMillis,
          "→wake": wokeMillis - reapMillis,
          total: wokeMillis - startMillis,
        })
      }
      return samples
    }),
  )

/** The same bytes through the same kind of ring, with nothing else: the floor. */
const ringFloor = (directory: string, recordBytes: number, dsync: boolean) =>
  Effect.scoped(
    Effect.gen(function* () {
      const ring = yield* IoUring.make({ entries: IoUringFileIo.DEFAULT_ENTRIES })
      const path = NodePath.join(directory, `floor-${dsync}-${recordBytes}.log`)
      const zeros = new Uint8Array(1024 * 1024)
      const fd = NodeFs.openSync(path, "w")
      for (let at = 0; at < PREALLOCATED_BYTES; at += zeros.length) NodeFs.writeSync(fd, zeros, 0, zeros.length, at)
      NodeFs.fdatasyncSync(fd)
      NodeFs.closeSync(fd)
      const directFd = NodeFs.openSync(path, NodeFs.constants.O_RDWR | NodeFs.constants.O_DIRECT)
      yield* Effect.addFinalizer(() => Effect.sync(() => NodeFs.closeSync(directFd)))
      const frameBytes = Frame.frameBytes(recordBytes)
      const padded = Math.ceil(frameBytes / SECTOR_BYTES) * SECTOR_BYTES
      const buffer = yield* AlignedMemory.allocate(padded + SECTOR_BYTES, SECTOR_BYTES)
      buffer.bytes.fill(0x5a)
      const samples: Array<Sample> = []
      let endBytes = 0
      for (let i = 0; i < RECORDS; i++) {
        // The journal rewrites the partial last sector with the next record, then continues.
        const base = Math.floor(endBytes / SECTOR_BYTES) * SECTOR_BYTES
        const length = Math.ceil((endBytes + frameBytes) / SECTOR_BYTES) * SECTOR_BYTES - base
        const startMillis = performance.now()
        const bytes = buffer.bytes.subarray(0, length)
        if (dsync) yield* IoUring.write(ring, directFd, bytes, base, { dsync: true })
        else yield* IoUring.writeThenFsync(ring, directFd, bytes, base)
        samples.push({ total: performance.now() - startMillis })
        endBytes += frameBytes
        if (endBytes + padded >= PREALLOCATED_BYTES) endBytes = 0
      }
      return samples
    }),
  )

const sqlite = (directory: string, recordBytes: number): Array<Sample> => {
  const { DatabaseSync } = process.getBuiltinModule("node:sqlite")
  const db = new DatabaseSync(NodePath.join(directory, `sqlite-${recordBytes}.db`))
  db.exec("PRAGMA journal_mode = WAL")
  db.exec("PRAGMA synchronous = FULL")
  db.exec("CREATE TABLE records (id INTEGER PRIMARY KEY, payload BLOB)")
  const insert = db.prepare("INSERT INTO records (payload) VALUES (?)")
  const payload = new Uint8Array(recordBytes).fill(0x5a)
  const samples: Array<Sample> = []
  for (let i = 0; i < RECORDS; i++) {
    const startMillis = performance.now()
    insert.run(payload)
    samples.push({ total: performance.now() - startMillis })
  }
  db.close()
  return samples
}

type Subject = "journal immediate" | "journal microtask" | "ring floor" | "ring RWF_DSYNC" | "node:sqlite"
const SUBJECTS: ReadonlyArray<Subject> = [
  "journal immediate",
  "journal microtask",
  "ring floor",
  "ring RWF_DSYNC",
  "node:sqlite",
]

const runSubject = (directory: string, subject: Subject, recordBytes: number): Promise<Array<Sample>> => {
  switch (subject) {
    case "journal immediate":
      return Effect.runPromise(journalRun(directory, recordBytes, "immediate"))
    case "journal microtask":
      return Effect.runPromise(journalRun(directory, recordBytes, "microtask"))
    case "ring floor":
      return Effect.runPromise(ringFloor(directory, recordBytes, false))
    case "ring RWF_DSYNC":
      return Effect.runPromise(ringFloor(directory, recordBytes, true))
    case "node:sqlite":
      return Promise.resolve(sqlite(directory, recordBytes))
  }
}

const PHASES = ["append", "→prepare", "→enter", "→reap", "→wake", "total"] as const

for (const recordBytes of SIZES) {
  /** subject → phase → per-pass medians */
  const results = new Map<Subject, Map<string, Array<number>>>()
  for (let pass = 0; pass < PASSES; pass++) {
    const order = pass % 2 === 0 ? SUBJECTS : [...SUBJECTS].reverse()
    for (const subject of order) {
      const directory = NodeFs.mkdtempSync(NodePath.join(values.dir, "fsys-latency-"))
      try {
        const samples = await runSubject(directory, subject, recordBytes)
        const phases = results.get(subject) ?? new Map<string, Array<number>>()
        for (const phase of Object.keys(samples[0]!)) {
          phases.set(phase, [...(phases.get(phase) ?? []), median(samples.map((sample) => sample[phase]!))])
        }
        results.set(subject, phases)
      } finally {
        NodeFs.rmSync(directory, { recursive: true, force: true })
      }
    }
  }
  console.log(`\n${recordBytes} B records, 1 producer, ${RECORDS} durable appends × ${PASSES} passes (median µs)`)
  console.log(`${"subject".padEnd(18)}${PHASES.map((phase) => phase.padStart(9)).join("")}   appends/s`)
  for (const subject of SUBJECTS) {
    const phases = results.get(subject)!
    const cells = PHASES.map((phase) => {
      const value = phases.get(phase)
      return (value === undefined ? "" : (median(value) * 1000).toFixed(0)).padStart(9)
    })
    const total = median(phases.get("total")!)
    console.log(`${subject.padEnd(18)}${cells.join("")}   ${(1000 / total).toFixed(0).padStart(9)}`)
  }
}
