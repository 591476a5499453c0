/**
 * `limit`: the ceiling of a durable workload on this disk in this minute. It writes and
 * fdatasyncs exactly the bytes our journal writes per round — the same frames (record size +
 * `Frame.OVERHEAD`), as many records per round as the journal's rounds hold in that workload
 * (`producers` for closed-loop producers, `batchSize` for batches), at consecutive offsets of a
 * file preallocated the way the journal preallocates (zeros written ahead) — with the leanest loop
 * there is: one `pwrite` and one `fdatasync` per round, synchronous syscalls on the main thread
 * (no thread hop, no promise, no per-record JS work: one round buffer is encoded once).
 *
 * It is a yardstick, not a store: it never yields the event loop (its loop p99 is the whole timed
 * phase) and its records are not read back (the same frame repeats). The report shows every
 * subject's throughput as a percentage of it.
 *
 * @since 0.1.0
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from "node:fs"
import { join } from "node:path"
import { Frame } from "@fsys/core"
import type { Session, Source, Subject } from "../driver.ts"

const FILE_NAME = "limit.log"
/** The journal's default preallocation step (max(8 MiB, 4 × its 4 MiB slots)). */
const PREALLOCATE_STEP_BYTES = 16 * 1024 * 1024
/** The journal allocates ahead once the log is within two slots of the allocated end. */
const PREALLOCATE_MARGIN_BYTES = 2 * 4 * 1024 * 1024
/** Bound on one round's buffer (a batch of 1 MiB records would be 100 MiB). */
const ROUND_BYTES_MAX = 64 * 1024 * 1024

const writeAll = (fd: number, bytes: Uint8Array, length: number, offsetBytes: number): void => {
  let done = 0
  while (done < length) {
    const written = writeSync(fd, bytes, done, length - done, offsetBytes + done)
    if (written <= 0) throw new Error(`short write at ${offsetBytes + done}`)
    done += written
  }
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
  const preallocate = (): void => {
    writeAll(fd, zeros, zeros.length, allocatedEnd)
    allocatedEnd += zeros.length
  }
  preallocate()
  fdatasyncSync(fd)

  const rounds = (source: Source, perRound: number): Promise<void> => {
    for (let claimed = source.claim(perRound); claimed > 0; claimed = source.claim(perRound)) {
      if (endBytes + PREALLOCATE_MARGIN_BYTES >= allocatedEnd) preallocate()
      writeAll(fd, round, claimed * frameBytes, endBytes)
      endBytes += claimed * frameBytes
      fdatasyncSync(fd)
    }
    return Promise.resolve()
  }
  const unsupported = (): never => {
    throw new Error("limit is a ceiling for durable workloads only")
  }
  return {
    detail: `${recordsPerRound} × ${frameBytes} B frames per round: one pwrite + one fdatasync, synchronous, preallocated ${PREALLOCATE_STEP_BYTES / 1024 / 1024} MiB ahead`,
    appendDurable: unsupported,
    appendBatchDurable: unsupported,
    append: unsupported,
    appendBatch: unsupported,
    sync: async () => fdatasyncSync(fd),
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
