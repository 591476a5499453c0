/**
 * `limit`: the ceiling of a durable workload on this disk in this minute. It writes and
 * fdatasyncs exactly the bytes our journal writes per round — the same frames (record size +
 * `Frame.OVERHEAD_BYTES`), as many records per round as the journal's rounds hold in that workload
 * (`producers` for closed-loop producers, `batchSize` for batches), at consecutive offsets of a
 * file preallocated the way the journal preallocates (zeros written ahead) — with the leanest loop
 * there is: one `pwrite` and one `fdatasync` per round through node:fs's callback API (no promise,
 * no group-commit queue, no per-record JS work: one round buffer is encoded once).
 *
 * Why callbacks on the threadpool and not synchronous syscalls on the main thread, which would
 * save two thread hops per round: on this VM the synchronous loop was measured SLOWER, not
 * faster — in one interleaved run (3 passes × 1 s, busy machine) it made 0.15–0.5× node-fs's
 * rounds while this loop makes 0.95–1.7× — so it would not be a ceiling.
 *
 * It is a yardstick, not a store: its records are not read back (the same frame repeats). The
 * report shows every subject's throughput as a percentage of it.
 *
 * @since 0.1.0
 */
import { closeSync, fdatasync, openSync, write } from "node:fs"
import { join } from "node:path"
import { Frame } from "@fsys/core"
import type { Session, Subject } from "../driver.ts"
import type { Source } from "../records.ts"

const FILE_NAME = "limit.log"
/** The journal's default preallocation step (max(8 MiB, 4 × its 4 MiB slots)). */
const PREALLOCATE_STEP_BYTES = 16 * 1024 * 1024
/** The journal allocates ahead once the log is within two slots of the allocated end. */
const PREALLOCATE_MARGIN_BYTES = 2 * 4 * 1024 * 1024
/** Bound on one round's buffer (a batch of 1 MiB records would be 100 MiB). */
const ROUND_BYTES_MAX = 64 * 1024 * 1024

/** `write` until all of `[0, length)` is written, then `done` (callbacks: no promise per call). */
const writeAllAsync = (
  fd: number,
  bytes: Uint8Array,
  length: number,
  offsetBytes: number,
  done: (error: Error | null) => void,
): void => {
  const from = (at: number): void => {
    if (at === length) {
      done(null)
      return
    }
    write(fd, bytes, at, length - at, offsetBytes + at, (error, written) => {
      if (error !== null) done(error)
      else if (written <= 0) done(new Error(`short write at ${offsetBytes + at}`))
      else from(at + written)
    })
  }
  from(0)
}

const openSession = async (directory: string, recordsPerRound: number, recordBytes: number): Promise<Session> => {
  const frameBytes = Frame.frameBytes(recordBytes)
  const roundBytes = frameBytes * recordsPerRound
  if (roundBytes > ROUND_BYTES_MAX) throw new RangeError(`a round of ${roundBytes} B exceeds ${ROUND_BYTES_MAX} B`)
  const round = new Uint8Array(roundBytes)
  const frame = Frame.encode(new Uint8Array(recordBytes).fill(0x5a))
  for (let i = 0; i < recordsPerRound; i++) round.set(frame, i * frameBytes)
  const zeros = new Uint8Array(PREALLOCATE_STEP_BYTES)
  const fd = openSync(join(directory, FILE_NAME), "w+")
  // Invariant: [0, allocatedEnd) holds zeros or frames; rounds go at endBytes, in order.
  let allocatedEnd = 0
  let endBytes = 0
  // The first step is written and synced before the timed phase, off the event loop.
  await new Promise<void>((resolve, reject) =>
    writeAllAsync(fd, zeros, zeros.length, 0, (error) =>
      error !== null ? reject(error) : fdatasync(fd, (synced) => (synced === null ? resolve() : reject(synced))),
    ),
  )
  allocatedEnd = zeros.length

  const rounds = (source: Source, perRound: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const next = (): void => {
        if (endBytes + PREALLOCATE_MARGIN_BYTES >= allocatedEnd) {
          const at = allocatedEnd
          allocatedEnd += zeros.length
          writeAllAsync(fd, zeros, zeros.length, at, (error) => (error === null ? next() : reject(error)))
          return
        }
        const claimed = source.claim(perRound)
        if (claimed === 0) {
          resolve()
          return
        }
        const at = endBytes
        endBytes += claimed * frameBytes
        writeAllAsync(fd, round, claimed * frameBytes, at, (error) => {
          if (error !== null) return reject(error)
          fdatasync(fd, (synced) => (synced === null ? next() : reject(synced)))
        })
      }
      next()
    })
  const unsupported = (): never => {
    throw new Error("limit is a ceiling for durable workloads only")
  }
  return {
    detail: `${recordsPerRound} × ${frameBytes} B frames per round: one pwrite + one fdatasync (node:fs callbacks), preallocated ${PREALLOCATE_STEP_BYTES / 1024 / 1024} MiB ahead`,
    appendDurable: unsupported,
    appendBatchDurable: unsupported,
    append: unsupported,
    appendBatch: unsupported,
    sync: () => new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e === null ? resolve() : reject(e)))),
    close: async () => closeSync(fd),
    loops: {
      durable: (source) => rounds(source, recordsPerRound),
      durableBatch: (source) => rounds(source, recordsPerRound),
    },
  }
}

/**
 * @since 0.1.0
 */
export const subject: Subject = {
  available: async () => undefined,
  open: (directory, workload) => {
    if (workload.kind !== "durable" && workload.kind !== "durableBatch") {
      return Promise.reject(new Error(`limit has no ceiling for ${workload.kind} workloads`))
    }
    return openSession(
      directory,
      workload.kind === "durable" ? workload.producers : workload.batchSize,
      workload.recordBytes,
    )
  },
}
