/**
 * The workload driver the bench worker runs for every subject: how the four write patterns are
 * driven, and how the timed phase is measured (event-loop delay, peak RSS). Records come from, and
 * are checked by, `records.ts`.
 *
 * Subjects implement `Session` (primitive operations). A subject may also supply its own loop for
 * a pattern (`loops`), when that is how its users would write it — our journal runs its producers
 * as Effect fibers, not through one `runPromise` per record — but the records, their count, the
 * deadline and the verification are always the driver's, so every subject does the same work.
 *
 * @since 0.1.0
 */
import { createHistogram, type RecordableHistogram } from "node:perf_hooks"
import type { Measurement, Workload } from "../Protocol.ts"
import { Source, Verifier } from "./records.ts"

/**
 * Thrown by `Subject.open` when the subject cannot run here as itself (e.g. io_uring disabled):
 * the task is reported as skipped with this message.
 */
export class SubjectUnavailable extends Error {
  override readonly name = "SubjectUnavailable"
}

/**
 * What a subject must provide for one open store.
 */
export interface Session {
  /** What the subject really uses (backend, mode, settings), shown in the report. */
  readonly detail: string
  /** Appends one record and resolves when it is durable. Called concurrently by many producers. */
  readonly appendDurable: (payload: Uint8Array) => Promise<void>
  /** Appends the records and resolves when all are durable. */
  readonly appendBatchDurable: (payloads: ReadonlyArray<Uint8Array>) => Promise<void>
  /** Appends without waiting for durability; may complete synchronously. */
  readonly append: (payload: Uint8Array) => Promise<void> | void
  readonly appendBatch: (payloads: ReadonlyArray<Uint8Array>) => Promise<void> | void
  /** Makes everything appended so far durable. */
  readonly sync: () => Promise<void>
  readonly close: () => Promise<void>
  /** Optional subject-native loops for a whole pattern (see the module comment). */
  readonly loops?: Partial<Loops>
  /**
   * True when the subject may still read a payload after its `append` returned or resolved (it
   * queues the buffer itself until a later commit): the unsynced loop then never hands its
   * memory back to the source for reuse (`Source.release`).
   */
  readonly keepsPayloads?: boolean
}

/**
 * A whole write pattern, driven to the end of the source.
 */
export interface Loops {
  readonly durable: (source: Source, producers: number) => Promise<void>
  readonly durableBatch: (source: Source, batchSize: number) => Promise<void>
  readonly unsynced: (source: Source) => Promise<void>
  readonly unsyncedBatch: (source: Source, batchSize: number) => Promise<void>
}

/**
 * A store the bench can write to and read back.
 */
export interface Subject {
  /** Resolves `undefined` when the subject can run here, or the reason it cannot. */
  readonly available: () => Promise<string | undefined>
  readonly open: (directory: string, workload: Workload) => Promise<Session>
  /**
   * Reads every record back in append order from a fresh open, after `close`. Absent for a
   * yardstick (`limit`), whose measurement is then marked unverified.
   */
  readonly readAll?: (directory: string, visit: (payload: Uint8Array) => void) => Promise<void>
}

/** The promise-only loops, used for every subject that does not bring its own. */
export const defaultLoops = (session: Session): Loops => ({
  durable: async (source, producers) => {
    const producer = async (): Promise<void> => {
      for (let payload = source.next(); payload !== undefined; payload = source.next()) {
        await session.appendDurable(payload)
        // Durable: every subject is done with the bytes (even one that queues them until a commit).
        source.release(payload)
      }
    }
    await Promise.all(Array.from({ length: producers }, producer))
  },
  durableBatch: async (source, batchSize) => {
    for (let batch = source.nextBatch(batchSize); batch !== undefined; batch = source.nextBatch(batchSize)) {
      await session.appendBatchDurable(batch)
    }
  },
  unsynced: async (source) => {
    const reuse = session.keepsPayloads !== true
    for (let payload = source.next(); payload !== undefined; payload = source.next()) {
      const pending = session.append(payload)
      if (pending !== undefined) await pending
      if (reuse) source.release(payload)
    }
    await session.sync()
  },
  unsyncedBatch: async (source, batchSize) => {
    for (let batch = source.nextBatch(batchSize); batch !== undefined; batch = source.nextBatch(batchSize)) {
      const pending = session.appendBatch(batch)
      if (pending !== undefined) await pending
    }
    await session.sync()
  },
})

/** The event-loop sampler's timer period. */
const SAMPLE_PERIOD_MILLIS = 1

/**
 * Measures event-loop delay over a timed phase: a 1 ms timer records how late it fires. Unlike
 * `monitorEventLoopDelay`, it also records the delay of the timer still pending when the phase
 * ends, so a subject that never yields to the event loop (a synchronous library in a tight loop)
 * shows its whole blocking time instead of no samples at all.
 */
class DelaySampler {
  private readonly histogram: RecordableHistogram = createHistogram()
  private timer: NodeJS.Timeout | undefined
  private dueMillis = 0

  start(): void {
    this.arm()
  }

  private arm(): void {
    this.dueMillis = performance.now() + SAMPLE_PERIOD_MILLIS
    this.timer = setTimeout(() => {
      this.record()
      this.arm()
    }, SAMPLE_PERIOD_MILLIS)
  }

  private record(): void {
    const lateMillis = Math.max(0, performance.now() - this.dueMillis)
    // The histogram takes integers ≥ 1: record microseconds, plus one.
    this.histogram.record(Math.round(lateMillis * 1000) + 1)
  }

  stop(): { readonly p99Millis: number; readonly maxMillis: number } {
    clearTimeout(this.timer)
    this.record()
    return {
      p99Millis: (this.histogram.percentile(99) - 1) / 1000,
      maxMillis: (this.histogram.max - 1) / 1000,
    }
  }
}

/**
 * Runs one workload for one subject: open, timed phase, close, read every record back (untimed,
 * except for `scan`, whose timed phase IS the read-back).
 */
export const runWorkload = async (subject: Subject, workload: Workload, directory: string): Promise<Measurement> => {
  if (workload.kind === "scan") return runScan(subject, workload, directory)
  const session = await subject.open(directory, workload)
  const detail = session.detail
  const loops = { ...defaultLoops(session), ...session.loops }
  const source = new Source(workload.recordBytes, workload.maxRecords)
  const sampler = new DelaySampler()
  sampler.start()
  const cpuBefore = process.cpuUsage()
  const startMillis = performance.now()
  source.start(workload.durationMillis)
  switch (workload.kind) {
    case "durable":
      await loops.durable(source, workload.producers)
      break
    case "durableBatch":
      await loops.durableBatch(source, workload.batchSize)
      break
    case "unsynced":
      await loops.unsynced(source)
      break
    case "unsyncedBatch":
      await loops.unsyncedBatch(source, workload.batchSize)
      break
  }
  const elapsedMillis = performance.now() - startMillis
  const cpu = process.cpuUsage(cpuBefore)
  const delay = sampler.stop()
  const peakRssBytes = process.resourceUsage().maxRSS * 1024
  await session.close()

  if (subject.readAll !== undefined) {
    const verifier = new Verifier(workload.recordBytes, source.issued)
    await subject.readAll(directory, verifier.visit)
    const problem = verifier.problem()
    if (problem !== undefined) throw new Error(`verification failed: ${problem}`)
  }
  const records = source.issued
  const payloadBytes = records * workload.recordBytes
  const cpuMicros = cpu.user + cpu.system
  return {
    records,
    payloadBytes,
    elapsedMillis,
    recordsPerSecond: (records * 1000) / elapsedMillis,
    bytesPerSecond: (payloadBytes * 1000) / elapsedMillis,
    cpuMicros,
    cpuMicrosPerRecord: records === 0 ? 0 : cpuMicros / records,
    eventLoopDelayP99Millis: delay.p99Millis,
    eventLoopDelayMaxMillis: delay.maxMillis,
    peakRssBytes,
    verified: subject.readAll !== undefined,
    detail,
  }
}

/** Batch size for the untimed fill of the scan workload. */
const SCAN_FILL_BATCH = 256

const runScan = async (subject: Subject, workload: Workload, directory: string): Promise<Measurement> => {
  const readAll = subject.readAll
  if (readAll === undefined) throw new Error("scan needs a subject that reads its records back")
  const session = await subject.open(directory, workload)
  const detail = session.detail
  const loops = { ...defaultLoops(session), ...session.loops }
  const fillRecords = Math.max(1, Math.floor(workload.fillBytes / workload.recordBytes))
  const source = new Source(workload.recordBytes, Math.min(fillRecords, workload.maxRecords))
  source.start(Number.POSITIVE_INFINITY)
  await loops.unsyncedBatch(source, SCAN_FILL_BATCH)
  await session.close()

  const verifier = new Verifier(workload.recordBytes, source.issued)
  const sampler = new DelaySampler()
  sampler.start()
  const cpuBefore = process.cpuUsage()
  const startMillis = performance.now()
  await readAll(directory, verifier.visit)
  const elapsedMillis = performance.now() - startMillis
  const cpu = process.cpuUsage(cpuBefore)
  const delay = sampler.stop()
  const peakRssBytes = process.resourceUsage().maxRSS * 1024
  const problem = verifier.problem()
  if (problem !== undefined) throw new Error(`verification failed: ${problem}`)
  return {
    records: verifier.count,
    payloadBytes: verifier.payloadBytes,
    elapsedMillis,
    recordsPerSecond: (verifier.count * 1000) / elapsedMillis,
    bytesPerSecond: (verifier.payloadBytes * 1000) / elapsedMillis,
    cpuMicros: cpu.user + cpu.system,
    cpuMicrosPerRecord: verifier.count === 0 ? 0 : (cpu.user + cpu.system) / verifier.count,
    eventLoopDelayP99Millis: delay.p99Millis,
    eventLoopDelayMaxMillis: delay.maxMillis,
    peakRssBytes,
    verified: true,
    detail,
  }
}
