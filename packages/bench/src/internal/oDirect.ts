/**
 * The disk's own O_DIRECT bandwidth, measured in the same run as the 1 MiB workload it is the
 * yardstick for: 1 MiB O_DIRECT writes of one aligned buffer, 4 in flight, (no copy, no framing)
 * through the Node FileIo layer, one fdatasync at the end, timed together.
 *
 * @since 0.1.0
 */
import { join } from "node:path"
import { Effect } from "effect"
import { NodeFileIo } from "@fsys/core"
import type { Measurement } from "../Protocol.ts"

const FILE_NAME = "o_direct.bin"
const ALIGNMENT_BYTES = 4096
/** Writes in flight: the libuv threadpool's size, the most the Node layer can keep busy. */
const QUEUE_DEPTH = 4

/**
 * Writes `totalBytes` in `chunkBytes` O_DIRECT writes and one fdatasync.
 */
export const measure = (directory: string, totalBytes: number, chunkBytes: number): Promise<Measurement> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const io = NodeFileIo.make()
        const handle = yield* io.open(join(directory, FILE_NAME), { create: true, direct: true })
        const buffer = yield* io.allocateAligned(chunkBytes, ALIGNMENT_BYTES)
        buffer.bytes.fill(0x5a)
        const chunks = Math.max(1, Math.floor(totalBytes / chunkBytes))
        const cpuBefore = process.cpuUsage()
        const startMillis = performance.now()
        yield* Effect.forEach(
          Array.from({ length: chunks }, (_, i) => i),
          (i) => io.writeAt(handle, buffer.bytes, i * chunkBytes),
          {
            concurrency: QUEUE_DEPTH,
            discard: true,
          },
        )
        yield* io.datasync(handle)
        const elapsedMillis = performance.now() - startMillis
        const cpu = process.cpuUsage(cpuBefore)
        const payloadBytes = chunks * chunkBytes
        const measurement: Measurement = {
          records: chunks,
          payloadBytes,
          elapsedMillis,
          recordsPerSecond: (chunks * 1000) / elapsedMillis,
          bytesPerSecond: (payloadBytes * 1000) / elapsedMillis,
          cpuMicros: cpu.user + cpu.system,
          cpuMicrosPerRecord: (cpu.user + cpu.system) / chunks,
          eventLoopDelayP99Millis: 0,
          eventLoopDelayMaxMillis: 0,
          peakRssBytes: process.resourceUsage().maxRSS * 1024,
          verified: false,
          detail: `${chunks} × ${chunkBytes / 1024} KiB O_DIRECT pwrite (${io.backend}), queue depth ${QUEUE_DEPTH}, one fdatasync`,
        }
        return measurement
      }),
    ),
  )
