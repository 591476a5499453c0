/**
 * `limit`: the ceiling of a durable workload on this disk in this minute. It writes and
 * fdatasyncs exactly the bytes our journal writes per round — the same frames (record size +
 * `Frame.OVERHEAD_BYTES`), as many records per round as the journal's rounds hold in that workload
 * (`producers` for closed-loop producers, `batchSize` for batches), at consecutive offsets of a
 * file preallocated the way the journal preallocates (zeros written ahead) — with the leanest loop
 * there is: one round buffer encoded once, no promise, no group-commit queue, no per-record JS
 * work, and per round one linked WRITE→FSYNC(datasync) on an io_uring submitted from the last
 * round's completion (one thread hop, for the fdatasync), or, where io_uring is unavailable, one
 * `pwrite` and one `fdatasync` through node:fs's callback API (a threadpool hop each).
 *
 * Why the ring: in two alternated runs of this workload set (`FSYS_LIMIT_LOOP=threadpool|ring
 * fsys bench --only limit,node-fs --workloads durable-… --repeat 2`, session 14) the ring loop read
 * 1.08–1.86× node-fs's records against the threadpool loop's 0.95–1.49×, higher in 8 of 10
 * workload pairs; with the threadpool loop the journal itself read 125–128 % of the ceiling with
 * one producer, so it was not one (against the ring it read 100–127 % in three runs: one record per
 * round is still within the journal's noise, docs/BENCHMARKS.md). Why not synchronous syscalls on the main thread, which save
 * every hop: on this VM that loop was measured SLOWER — in one interleaved run (3 passes × 1 s,
 * busy machine) it made 0.15–0.5× node-fs's rounds — so it would not be a ceiling either.
 *
 * It is a yardstick, not a store: its records are not read back (the same frame repeats). The
 * report shows every subject's throughput as a percentage of it.
 *
 * @since 0.1.0
 */
import { closeSync, fdatasync, openSync, write } from "node:fs"
import { join } from "node:path"
import { Frame } from "@fsys/core"
import { IoUring, IoUringCallback } from "@fsys/native"
import { Effect, Exit, Scope } from "effect"
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

/**
 * How a round's write and fdatasync reach the kernel. `ring`: one linked WRITE→FSYNC on an
 * io_uring submitted from the previous round's completion (the journal's own path, one thread hop
 * for the fdatasync); `ring-dsync`: one WRITE with RWF_DSYNC instead (the ceiling of
 * `syncMethod: "dsync"`; only when pinned); `threadpool`: node:fs callbacks, a threadpool hop for each.
 */
type Loop = "ring" | "ring-dsync" | "threadpool"

/** SQEs of the ring: one linked pair is in flight at a time. */
const RING_ENTRIES = 8

/** `FSYS_LIMIT_LOOP=threadpool|ring|ring-dsync` pins the loop (to compare them); default: the ring where io_uring is available. */
const requestedLoop = (): Loop | undefined => {
  const value = process.env.FSYS_LIMIT_LOOP
  if (value === undefined || value === "") return undefined
  if (value === "ring" || value === "ring-dsync" || value === "threadpool") return value
  throw new Error(`FSYS_LIMIT_LOOP must be ring, ring-dsync or threadpool, not ${value}`)
}

/** A ring held open by `scope`, or the reason there is none. */
const openRing = async (scope: Scope.Closeable): Promise<IoUring.Ring | string> =>
  Effect.runPromise(
    IoUring.make({ entries: RING_ENTRIES }).pipe(
      Scope.provide(scope),
      Effect.catch((error) => Effect.succeed(`io_uring: ${error.message}`)),
    ),
  )

type Done = (error: Error | null) => void
/** Writes `[0, length)` of the round buffer at `at` and makes it durable, then `done`. */
type WriteRound = (length: number, at: number, done: Done) => void

/** The round writer over `ring` (a string: there is none, node:fs callbacks instead). */
const roundWriter = (fd: number, round: Uint8Array, ring: IoUring.Ring | string, dsync: boolean): WriteRound => {
  const finishPlain = (from: number, length: number, at: number, done: Done): void =>
    writeAllAsync(fd, round.subarray(from), length - from, at + from, (error) =>
      error !== null ? done(error) : fdatasync(fd, done),
    )
  if (typeof ring === "string") return (length, at, done) => finishPlain(0, length, at, done)
  if (dsync) {
    return (length, at, done) =>
      IoUringCallback.startWrite(ring, fd, round.subarray(0, length), at, { dsync: true }, (outcome) => {
        if (typeof outcome !== "number") return done(outcome)
        if (outcome === length) return done(null)
        finishPlain(outcome, length, at, done)
      })
  }
  return (length, at, done) =>
    IoUringCallback.startWriteThenFsync(ring, fd, round.subarray(0, length), at, undefined, (outcome) => {
      if (!("writtenBytes" in outcome)) return done(outcome)
      if (outcome.synced) return done(null)
      // A short write or a split pair (never seen here): finish the round the plain way.
      finishPlain(outcome.writtenBytes, length, at, done)
    })
}

/** What a round is, for the row's detail. */
const describeLoop = (ring: IoUring.Ring | string, requested: Loop | undefined): string =>
  typeof ring !== "string"
    ? requested === "ring-dsync"
      ? "one WRITE with RWF_DSYNC on io_uring"
      : "one linked WRITE→FSYNC(datasync) on io_uring"
    : `one pwrite + one fdatasync (node:fs callbacks${requested === "threadpool" ? "" : `; ${ring}`})`

/** Opens the file and writes and syncs its first preallocation step (before the timed phase). */
const openFile = async (path: string, zeros: Uint8Array): Promise<number> => {
  const fd = openSync(path, "w+")
  try {
    await new Promise<void>((resolve, reject) =>
      writeAllAsync(fd, zeros, zeros.length, 0, (error) =>
        error !== null ? reject(error) : fdatasync(fd, (synced) => (synced === null ? resolve() : reject(synced))),
      ),
    )
    return fd
  } catch (error) {
    closeSync(fd)
    throw error
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
  const scope = Scope.makeUnsafe()
  const closeRing = () => Effect.runPromise(Scope.close(scope, Exit.void))
  const requested = requestedLoop()
  const ring = requested === "threadpool" ? "not asked for" : await openRing(scope)
  if ((requested === "ring" || requested === "ring-dsync") && typeof ring === "string") {
    await closeRing()
    throw new Error(`FSYS_LIMIT_LOOP=${requested}, but ${ring}`)
  }
  const fd = await openFile(join(directory, FILE_NAME), zeros).catch(async (error: unknown) => {
    await closeRing()
    throw error
  })
  const writeRound = roundWriter(fd, round, ring, requested === "ring-dsync")
  // Invariant: [0, allocatedEnd) holds zeros or frames; rounds go at endBytes, in order.
  let allocatedEnd = zeros.length
  let endBytes = 0

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
        writeRound(claimed * frameBytes, at, (error) => (error === null ? next() : reject(error)))
      }
      next()
    })
  const unsupported = (): never => {
    throw new Error("limit is a ceiling for durable workloads only")
  }
  const how = describeLoop(ring, requested)
  return {
    detail: `${recordsPerRound} × ${frameBytes} B frames per round: ${how}, preallocated ${PREALLOCATE_STEP_BYTES / 1024 / 1024} MiB ahead`,
    appendDurable: unsupported,
    appendBatchDurable: unsupported,
    append: unsupported,
    appendBatch: unsupported,
    sync: () => new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e === null ? resolve() : reject(e)))),
    close: async () => {
      // The ring first: its close waits for anything still in flight on `fd`.
      await closeRing()
      closeSync(fd)
    },
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
