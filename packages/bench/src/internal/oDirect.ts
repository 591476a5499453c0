/**
 * The disk's own O_DIRECT bandwidth, measured in the same run as the 1 MiB workload it is the
 * yardstick for: O_DIRECT writes of one aligned buffer (no copy, no framing), several in flight,
 * one fdatasync at the end, timed together. Measured in a few shapes — 1 MiB writes four in
 * flight through the Node layer's threadpool, and, where io_uring works, 1 MiB × 4 and 4 MiB × 2
 * through the ring — and the fastest is the reference: the threadpool shape alone read below what
 * one 4 MiB ring request does on this disk (297 against ≈ 370 MB/s in session 6,
 * `scripts/dio-depth.ts`), which made the journal look faster than its disk.
 *
 * @since 0.1.0
 */
import { rm } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import type { Scope } from "effect"
import { type FileIo, IoUringFileIo, NodeFileIo } from "@fsys/core"
import type { Measurement } from "../Protocol.ts"

const ALIGNMENT_BYTES = 4096

interface Shape {
  readonly name: string
  readonly chunkBytes: number
  readonly queueDepth: number
  readonly io: Effect.Effect<FileIo.FileIoService, unknown, Scope.Scope>
}

interface Timed {
  readonly shape: Shape
  readonly chunks: number
  readonly elapsedMillis: number
  readonly cpuMicros: number
}

/** Writes `totalBytes` in the shape's O_DIRECT writes and one fdatasync; the file is removed after. */
const timeShape = (directory: string, totalBytes: number, shape: Shape): Effect.Effect<Timed, unknown> => {
  const path = join(directory, "o_direct.bin")
  return Effect.ensuring(
    Effect.scoped(
      Effect.gen(function* () {
        const io = yield* shape.io
        const handle = yield* io.open(path, { create: true, direct: true })
        const buffer = yield* io.allocateAligned(shape.chunkBytes, ALIGNMENT_BYTES)
        buffer.bytes.fill(0x5a)
        const chunks = Math.max(1, Math.floor(totalBytes / shape.chunkBytes))
        const cpuBefore = process.cpuUsage()
        const startMillis = performance.now()
        yield* Effect.forEach(
          Array.from({ length: chunks }, (_, i) => i),
          (i) => io.writeAt(handle, buffer.bytes, i * shape.chunkBytes),
          { concurrency: shape.queueDepth, discard: true },
        )
        yield* io.datasync(handle)
        const elapsedMillis = performance.now() - startMillis
        const cpu = process.cpuUsage(cpuBefore)
        return { shape, chunks, elapsedMillis, cpuMicros: cpu.user + cpu.system }
      }),
    ),
    Effect.promise(() => rm(path, { force: true })),
  )
}

/** The shapes for records of `chunkBytes` (1 MiB in the bench). */
const shapesFor = (chunkBytes: number): ReadonlyArray<Shape> => {
  const kib = (bytes: number) => `${bytes / 1024} KiB`
  return [
    // The libuv threadpool has four threads: the most the Node layer keeps in flight.
    { name: `pwrite ${kib(chunkBytes)} × 4`, chunkBytes, queueDepth: 4, io: Effect.sync(NodeFileIo.make) },
    { name: `io_uring ${kib(chunkBytes)} × 4`, chunkBytes, queueDepth: 4, io: IoUringFileIo.make() },
    // The journal's Direct writer: slot-sized writes (4 MiB by default), two slots in flight.
    {
      name: `io_uring ${kib(4 * chunkBytes)} × 2`,
      chunkBytes: 4 * chunkBytes,
      queueDepth: 2,
      io: IoUringFileIo.make(),
    },
  ]
}

/** Every shape that works here, timed one after the other; the fastest is the measurement. */
export const measure = (directory: string, totalBytes: number, chunkBytes: number): Promise<Measurement> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const timed: Array<Timed> = []
      const refused: Array<string> = []
      for (const shape of shapesFor(chunkBytes)) {
        const outcome = yield* Effect.result(timeShape(directory, totalBytes, shape))
        if (outcome._tag === "Success") timed.push(outcome.success)
        else refused.push(shape.name)
      }
      const rate = (entry: Timed) => (entry.chunks * entry.shape.chunkBytes) / entry.elapsedMillis
      const best = timed.reduce<Timed | undefined>((a, b) => (a === undefined || rate(b) > rate(a) ? b : a), undefined)
      if (best === undefined) return yield* Effect.fail(new Error(`no O_DIRECT shape worked (${refused.join(", ")})`))
      const payloadBytes = best.chunks * best.shape.chunkBytes
      const others = timed
        .filter((entry) => entry !== best)
        .map((entry) => `${entry.shape.name} ${(rate(entry) / 1000).toFixed(0)} MB/s`)
      const measurement: Measurement = {
        records: best.chunks,
        payloadBytes,
        elapsedMillis: best.elapsedMillis,
        recordsPerSecond: (best.chunks * 1000) / best.elapsedMillis,
        bytesPerSecond: (payloadBytes * 1000) / best.elapsedMillis,
        cpuMicros: best.cpuMicros,
        cpuMicrosPerRecord: best.cpuMicros / best.chunks,
        eventLoopDelayP99Millis: 0,
        eventLoopDelayMaxMillis: 0,
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
        verified: false,
        detail: [
          `best of O_DIRECT shapes, one fdatasync each: ${best.shape.name}`,
          others.length > 0 ? `(${others.join(", ")})` : "",
          refused.length > 0 ? `[not available: ${refused.join(", ")}]` : "",
        ]
          .filter((part) => part !== "")
          .join(" "),
      }
      return measurement
    }),
  )
