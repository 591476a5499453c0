/**
 * How this disk's O_DIRECT bandwidth depends on how a large write is cut: the same bytes written
 * as one request per chunk (queue depth 1) or as `pieces` disjoint requests in flight together,
 * through one io_uring, into a fresh file (extending, as a journal's log) and into a
 * preallocated one. The question it answers: does a Direct slot write of several MiB reach the
 * device's bandwidth on its own (issue 12 item 6)?
 *
 * Run: `node_modules/.bin/node scripts/dio-depth.ts [totalMiB=256] [rounds=3]`
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { AlignedMemory, IoUring, Libc } from "@fsys/native"

const MiB = 1024 * 1024
const totalBytes = Number(process.argv[2] ?? 256) * MiB
const rounds = Number(process.argv[3] ?? 3)
const directory = NodeFs.mkdtempSync(NodePath.join(process.env.DIO_DIR ?? NodeOs.tmpdir(), "fsys-dio-"))

interface Case {
  readonly chunkBytes: number
  readonly pieces: number
  readonly preallocated: boolean
}
const cases: ReadonlyArray<Case> = [
  { chunkBytes: 4 * MiB, pieces: 1, preallocated: false },
  { chunkBytes: 4 * MiB, pieces: 4, preallocated: false },
  { chunkBytes: 4 * MiB, pieces: 1, preallocated: true },
  { chunkBytes: 4 * MiB, pieces: 4, preallocated: true },
  { chunkBytes: 1 * MiB, pieces: 1, preallocated: false },
  { chunkBytes: 1 * MiB, pieces: 4, preallocated: false },
  { chunkBytes: 256 * 1024, pieces: 1, preallocated: false },
  { chunkBytes: 256 * 1024, pieces: 4, preallocated: false },
]

const runCase = (ring: IoUring.Ring, memory: Uint8Array, c: Case, index: number) =>
  Effect.gen(function* () {
    const path = NodePath.join(directory, `case-${index}.bin`)
    NodeFs.rmSync(path, { force: true })
    const fd = yield* Effect.acquireRelease(Libc.open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT), (descriptor) =>
      Effect.orDie(Libc.close(descriptor)),
    )
    if (c.preallocated) {
      NodeFs.writeFileSync(path, new Uint8Array(totalBytes))
      NodeFs.fdatasyncSync(fd)
    }
    const pieceBytes = c.chunkBytes / c.pieces
    const t0 = performance.now()
    for (let at = 0; at < totalBytes; at += c.chunkBytes) {
      // One chunk at a time (the journal's one slot write in flight), cut in `pieces` requests.
      yield* Effect.forEach(
        Array.from({ length: c.pieces }, (_, i) => i),
        (i) => IoUring.write(ring, fd, memory.subarray(i * pieceBytes, (i + 1) * pieceBytes), at + i * pieceBytes),
        { concurrency: "unbounded", discard: true },
      )
    }
    yield* IoUring.fsync(ring, fd, { datasync: true })
    return (totalBytes / MiB / (performance.now() - t0)) * 1000
  }).pipe(Effect.scoped)

const results = new Map<number, Array<number>>()
await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const ring = yield* IoUring.make({ entries: 64 })
      const memory = yield* AlignedMemory.allocate(4 * MiB, 4096)
      memory.bytes.fill(0x5a)
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < cases.length; i++) {
          const mbps = yield* runCase(ring, memory.bytes, cases[i]!, i)
          results.set(i, [...(results.get(i) ?? []), mbps])
        }
      }
    }),
  ),
)
NodeFs.rmSync(directory, { recursive: true, force: true })
const median = (values: Array<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
console.log(`O_DIRECT, ${totalBytes / MiB} MiB per case, ${rounds} rounds interleaved, median MiB/s (each round)`)
for (let i = 0; i < cases.length; i++) {
  const c = cases[i]!
  const values = results.get(i)!
  console.log(
    `${(c.chunkBytes / 1024).toString().padStart(5)} KiB chunks × ${c.pieces} piece(s) ${c.preallocated ? "preallocated" : "fresh file  "}  ${median(values).toFixed(0).padStart(5)}  (${values.map((v) => v.toFixed(0)).join(", ")})`,
  )
}
