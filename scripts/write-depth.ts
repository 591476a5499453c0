/**
 * Large-write shapes through one io_uring (IoUringFileIo): chunk size × writes in flight, O_DIRECT
 * and buffered, one fdatasync at the end, interleaved rounds. Answers whether a journal that keeps
 * one slot write of 3 MiB in flight (1 MiB records in 4 MiB slots) loses to the write size or to
 * the depth.
 *
 * Run: `node_modules/.bin/node scripts/write-depth.ts [MiB=256] [rounds=3]`
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { IoUringFileIo } from "@fsys/core"

const MiB = 1024 * 1024
const totalBytes = Number(process.argv[2] ?? 256) * MiB
const rounds = Number(process.argv[3] ?? 3)
const directory = NodeFs.mkdtempSync(NodePath.join(process.env.TMPDIR ?? NodeOs.tmpdir(), "fsys-depth-"))

interface Case {
  readonly chunkBytes: number
  readonly depth: number
  readonly direct: boolean
}
const cases: Array<Case> = []
for (const direct of [true, false])
  for (const chunkBytes of [3 * MiB, 4 * MiB]) for (const depth of [1, 2]) cases.push({ chunkBytes, depth, direct })

const name = (c: Case) => `${c.direct ? "O_DIRECT" : "buffered"} ${c.chunkBytes / MiB} MiB × ${c.depth}`

const timeCase = (c: Case) =>
  Effect.scoped(
    Effect.gen(function* () {
      const io = yield* IoUringFileIo.make()
      const path = NodePath.join(directory, "depth.bin")
      NodeFs.rmSync(path, { force: true })
      const handle = yield* io.open(path, { create: true, direct: c.direct })
      const buffer = yield* io.allocateAligned(c.chunkBytes, 4096)
      buffer.bytes.fill(0x5a)
      const chunks = Math.floor(totalBytes / c.chunkBytes)
      const start = performance.now()
      yield* Effect.forEach(
        Array.from({ length: chunks }, (_, i) => i),
        (i) => io.writeAt(handle, buffer.bytes, i * c.chunkBytes),
        { concurrency: c.depth, discard: true },
      )
      yield* io.datasync(handle)
      const millis = performance.now() - start
      return (chunks * c.chunkBytes) / millis / 1000
    }),
  )

const results = new Map<string, Array<number>>()
try {
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      const mbps = await Effect.runPromise(timeCase(c))
      const list = results.get(name(c)) ?? []
      list.push(mbps)
      results.set(name(c), list)
    }
  }
  for (const [key, list] of results) {
    const sorted = [...list].sort((a, b) => a - b)
    console.log(
      `${key.padEnd(22)} median ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} MB/s  (${list.map((v) => v.toFixed(0)).join(", ")})`,
    )
  }
} finally {
  NodeFs.rmSync(directory, { recursive: true, force: true })
}
