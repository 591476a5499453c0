/**
 * The contract between `fsys bench` (the parent, `packages/cli/src/commands/Bench.ts`) and the
 * bench worker (`@fsys/bench/worker`, `packages/bench/src/worker.ts`), which runs ONE workload for ONE subject in a fresh
 * child process so that every measurement (throughput, event-loop delay, peak RSS) belongs to that
 * subject alone.
 *
 * The parent passes a `Task` as JSON in argv; the worker prints the `Outcome` of each of its
 * workloads (a JSON array) on its last stdout line. Everything else goes to stderr.
 *
 * @since 0.1.0
 */

/**
 * Every subject the bench knows, in the order results are shown.
 *
 * @since 0.1.0
 * @category models
 */
export const SUBJECTS = [
  "fsys-direct-io_uring",
  "fsys-direct-pwrite",
  "fsys-direct-dsync",
  "fsys-buffered",
  "fsys-buffered-overlap",
  "fsys-promise",
  "fsys-promise-dsync",
  "node-fs",
  "node-sqlite",
  "better-sqlite3",
  "lmdb",
  "classic-level",
  "limit",
  "floor",
] as const

/**
 * @since 0.1.0
 * @category models
 */
export type SubjectName = (typeof SUBJECTS)[number]

/**
 * What `fsys bench` runs without `--only`: every subject but better-sqlite3. Its registry tarball
 * ships no binary (its install script downloads or compiles one), so a fresh install without
 * internet access never loads it and a default run would always report it skipped; `node-sqlite`
 * is the same SQLite engine, built into Node. Name it with `--only` where it is installed.
 * `fsys-buffered-overlap` (the buffered journal with `overlapRounds: "adaptive"`) is for A/B runs
 * of the overlap against `fsys-buffered`, so it too runs only when named.
 *
 * @since 0.1.0
 * @category models
 */
export const SUBJECTS_DEFAULT: ReadonlyArray<SubjectName> = SUBJECTS.filter(
  (subject) => subject !== "better-sqlite3" && subject !== "fsys-buffered-overlap",
)

/**
 * @deprecated Use `SUBJECTS_DEFAULT` (qualifiers come last: `_MIN`, `_MAX`, `_DEFAULT`).
 * @since 0.1.0
 * @category models
 */
export const DEFAULT_SUBJECTS: ReadonlyArray<SubjectName> = SUBJECTS_DEFAULT

/**
 * Subjects that are ours; the others are the baseline (`node-fs`) and the peers users pick instead.
 *
 * @since 0.1.0
 * @category models
 */
export const OURS: ReadonlyArray<SubjectName> = [
  "fsys-direct-io_uring",
  "fsys-direct-pwrite",
  "fsys-direct-dsync",
  "fsys-buffered",
  "fsys-buffered-overlap",
  "fsys-promise",
  "fsys-promise-dsync",
]

/**
 * What users would pick instead: the node:fs baseline and the libraries. "vs best peer" divides
 * by the best of these.
 *
 * @since 0.1.0
 * @category models
 */
export const PEERS: ReadonlyArray<SubjectName> = ["node-fs", "node-sqlite", "better-sqlite3", "lmdb", "classic-level"]

/**
 * The yardstick, not a subject: the disk's ceiling for a durable workload's rounds (see
 * `internal/subjects/limit.ts`). Never a peer, never verified, shown as every row's "% of limit".
 *
 * @since 0.1.0
 * @category models
 */
export const LIMIT: SubjectName = "limit"

/**
 * The other yardstick: the bench driver's own cost per durable record, with no store behind it
 * (see `internal/subjects/floor.ts`). Never a peer, never verified; runs only in the CPU-bound
 * workload (on tmpfs), where CPU per record is the measure.
 *
 * @since 0.1.0
 * @category models
 */
export const FLOOR: SubjectName = "floor"

/**
 * Whether `subject` runs in `workload` (the limit is defined for durable workloads only, the floor
 * for the CPU-bound one).
 *
 * @since 0.1.0
 * @category predicates
 */
export const runsIn = (subject: SubjectName, workload: Workload): boolean =>
  subject === FLOOR
    ? workload.kind === "durable" && workload.onTmpfs
    : subject !== LIMIT || workload.kind === "durable" || workload.kind === "durableBatch"

/**
 * What a workload does with records.
 *
 * - `durable`: `producers` concurrent producers, each appending one record and awaiting its own
 *   durability before the next (group commit is what makes many producers cheap).
 * - `durableBatch`: one producer appending `batchSize` records at once and awaiting durability.
 * - `unsynced`: one producer appending single records without waiting for durability; one sync at
 *   the end is inside the timing.
 * - `unsyncedBatch`: the same with `batchSize` records per call.
 * - `scan`: untimed fill with `fillBytes` of records, close, then time reading every record back.
 *
 * @since 0.1.0
 * @category models
 */
export type WorkloadKind = "durable" | "durableBatch" | "unsynced" | "unsyncedBatch" | "scan"

/**
 * @since 0.1.0
 * @category models
 */
export interface Workload {
  readonly name: string
  readonly title: string
  readonly kind: WorkloadKind
  readonly recordBytes: number
  readonly producers: number
  readonly batchSize: number
  /** Producers stop taking new records after this long (the timed phase then drains). */
  readonly durationMillis: number
  /** And after this many records, whichever comes first. */
  readonly maxRecords: number
  /** `scan` only: bytes of payload written before the timed read. */
  readonly fillBytes: number
  /**
   * Runs on tmpfs (`/dev/shm`) whatever `--dir` says: the flush is free there, so the workload
   * measures CPU per record.
   */
  readonly onTmpfs: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Task {
  readonly subject: SubjectName
  /**
   * Run one after another in this process, each in its own subdirectory. A full run passes one
   * workload per process (isolation: each process's RSS and event loop belong to one
   * measurement); `--quick` passes all of them, trading isolation for startup time.
   */
  readonly workloads: ReadonlyArray<Workload>
  /** A fresh directory for this task's files; the worker removes nothing, the parent does. */
  readonly directory: string
  /** A fresh directory on tmpfs for the workloads marked `onTmpfs` (present when there are any). */
  readonly tmpfsDirectory?: string
}

/**
 * The O_DIRECT bandwidth reference for the large-record workload (not a subject: a yardstick).
 *
 * @since 0.1.0
 * @category models
 */
export interface ReferenceTask {
  readonly reference: "o_direct"
  readonly directory: string
  readonly totalBytes: number
  readonly chunkBytes: number
}

/**
 * The measurements of one task.
 *
 * @since 0.1.0
 * @category models
 */
export interface Measurement {
  readonly records: number
  readonly payloadBytes: number
  readonly elapsedMillis: number
  readonly recordsPerSecond: number
  /** Payload bytes per second (for `scan`: bytes of the file read per second). */
  readonly bytesPerSecond: number
  /** User + system CPU of the whole worker process (every thread) over the timed phase. */
  readonly cpuMicros: number
  readonly cpuMicrosPerRecord: number
  /** Event-loop delay, 99th percentile, over the timed phase. */
  readonly eventLoopDelayP99Millis: number
  readonly eventLoopDelayMaxMillis: number
  /** `process.resourceUsage().maxRSS` at the end of the timed phase. */
  readonly peakRssBytes: number
  /** Every record was read back and matched what was acknowledged. */
  readonly verified: boolean
  /** What the subject really used (backend, mode, settings). */
  readonly detail: string
}

/**
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | { readonly _tag: "Measured"; readonly measurement: Measurement }
  | { readonly _tag: "Skipped"; readonly reason: string }
  | { readonly _tag: "Failed"; readonly reason: string }
