/**
 * Journal options: defaults, bounds and validation. Every option is checked before anything is
 * opened, so a bad option changes nothing on disk.
 *
 * @since 0.1.0
 */
import { Duration, Option } from "effect"
import { InvalidOptions } from "../../JournalError.ts"
import { validateSlotBytes } from "../logBuffer/limits.ts"
import { isValidSectorBytes } from "../logBuffer/sectors.ts"
import { type BackendChoice, isBackendChoice } from "../backend.ts"
import type { OverlapRounds } from "./groupCommit.ts"

/** `Journal.Options`, defined here once (the public module names it). */
export interface Options {
  /** "direct" (default) uses O_DIRECT where the filesystem accepts it, else falls back (see `info`). */
  readonly mode?: "direct" | "buffered"
  /** Bytes per log-buffer slot (two slots): a power of two, 4 KiB–64 MiB; default 4 MiB. */
  readonly logBufferBytes?: number
  /** How long a group-commit round may wait for more syncers; default 0 (rounds run back to back). */
  readonly groupCommitWindow?: Duration.Input
  /** With a window: start the round once this many syncers wait; default 64. */
  readonly groupCommitMaxBatch?: number
  /** Default "auto": the provided FileIo layer, or io_uring when the kernel allows it, else pwrite. */
  readonly backend?: BackendChoice
  /** Also read fsys 1.1.0's zero-gapped files (see `JournalReader`); default false. */
  readonly legacyGaps?: boolean
  /**
   * Direct-IO alignment override (a power of two, 512–65536); default: `FileIo.directAlignment`
   * of the open file (its physical sector when larger than the DIO alignment).
   */
  readonly sectorBytes?: number
  /**
   * Bytes kept written with zeros ahead of the end of the log, so syncs overwrite written blocks
   * instead of growing the file: fdatasync then has no size or allocation to commit
   * (`scripts/sync-cost.ts` measures the difference). Done by sync rounds only, so a bulk loader never
   * writes its bytes twice. 0 turns it off; default 8 MiB or four log buffers, whichever is
   * larger. Zeros read as a clean end, so the file stays a valid fsys journal; a failing zero
   * write only turns preallocation off.
   */
  readonly preallocateBytes?: number
  /**
   * When recovery cannot read a sector (EIO): "fail" (default) refuses with `JournalUnreadable`,
   * naming the offset, and changes nothing; "truncate" keeps the records before it, saving the
   * rest to the sidecar (unreadable bytes as zeros) — see docs/CRASH-SAFETY.md.
   */
  readonly onReadError?: "fail" | "truncate"
  /**
   * Whether a second group-commit round may start while one is in the kernel (buffered mode
   * only: a Direct journal's consecutive writes share a sector). "never" (default): one round in
   * flight; "adaptive": a lone cohort splits in two alternating halves while a round's IO takes
   * longer than the cohort's CPU, re-measured every 256 rounds; "always": every lone cohort of two
   * or more splits. Overlap can pay where fdatasync is slow and CPU is cheap (network or spinning
   * disks); on the VM disk we measure it lost (docs/BENCHMARKS.md, "Overlap").
   */
  readonly overlapRounds?: OverlapRounds
  /**
   * Buffered mode: hand the log's completed unsynced writes to the kernel's writeback every this
   * many bytes (sync_file_range WRITE), so a bulk load's final sync does not write all of it and
   * the device works while the producers append. A hint, not a sync: nothing becomes durable
   * sooner. 0 (default) leaves writeback to the kernel and the next fdatasync; otherwise a
   * multiple of 64 KiB up to 1 GiB (1 MiB is a good start). It costs kernel CPU while the log is
   * written: on the 2-vCPU VM it raised a CPU-bound 100 B producer's event-loop p99 from ≈ 3.5 to
   * ≈ 6 ms, while 1 MiB records gained (docs/BENCHMARKS.md, "Large records, two writes deep").
   * Ignored in Direct mode (no page cache).
   */
  readonly writebackBytes?: number
  /**
   * How a group-commit round is made durable. `"fdatasync"` (default): the round's write, then
   * fdatasync (over io_uring one linked WRITE→FSYNC). `"dsync"`: the round's write carries
   * RWF_DSYNC and is durable when it completes, with no second operation, wherever every byte
   * before the round is already durable (the first round after open, and one after an unsynced
   * write, still use fdatasync, which covers them). io_uring only: over pwrite (Node's `fs.write`
   * takes no flags) every round uses fdatasync, and `info().syncMethod` says which is in effect.
   * Faster or slower by machine: 1.1–1.5× the records of `"fdatasync"` on one VM's virtio disk
   * (one producer to 64, 100 B to 4 KiB, and batches), slower on another's (docs/BENCHMARKS.md, "Rounds as RWF_DSYNC writes"); measure yours with
   * `fsys bench --only fsys-direct-io_uring,fsys-direct-dsync`.
   */
  readonly syncMethod?: SyncMethod
}

/** How a round is made durable (`Options.syncMethod`). */
export type SyncMethod = "fdatasync" | "dsync"

export interface Resolved {
  readonly mode: "direct" | "buffered"
  readonly logBufferBytes: number
  readonly windowMicros: number
  readonly maxBatch: number
  readonly backend: BackendChoice
  readonly legacyGaps: boolean
  readonly sectorBytes: number | undefined
  readonly preallocateBytes: number
  readonly onReadError: "fail" | "truncate"
  readonly overlapRounds: OverlapRounds
  readonly writebackBytes: number
  readonly syncMethod: SyncMethod
}

/**
 * 4 MiB per slot (8 MiB per journal): a group-commit flush writes only the sectors it needs, so
 * the size only matters for large records and bulk appends, where 4 MiB writes doubled the
 * throughput of 1 MiB records compared with 1 MiB slots (records as large as a slot take the
 * slower oversize path).
 */
export const LOG_BUFFER_BYTES_DEFAULT = 4 * 1024 * 1024
/**
 * No window by default: rounds run back to back and concurrent producers batch behind the round
 * in flight, so a lone producer never pays a timer (fsys waits 500 µs).
 */
export const WINDOW_MICROS_DEFAULT = 0
/** A window never exceeds one second: a longer wait is a configuration mistake. */
export const WINDOW_MICROS_MAX = 1_000_000
/**
 * Bytes kept written with zeros ahead of the log: syncs then overwrite written blocks
 * (`scripts/sync-cost.ts`, one run here: 512 B O_DIRECT write + fdatasync ≈ 327 µs into written
 * zeros, 492 µs growing the file). The default is 8 MiB or four log buffers, whichever is larger.
 */
export const PREALLOCATE_BYTES_DEFAULT = 8 * 1024 * 1024
export const PREALLOCATE_BYTES_MAX = 1024 * 1024 * 1024
/** The largest `writebackBytes`. */
export const WRITEBACK_BYTES_MAX = 1024 * 1024 * 1024
export const GROUP_COMMIT_BATCH_DEFAULT = 64
export const GROUP_COMMIT_BATCH_MAX = 1_000_000

const invalid = (option: string, reason: string) => new InvalidOptions({ option, reason })

const ON_READ_ERROR: ReadonlyArray<unknown> = ["fail", "truncate"]
const OVERLAP_ROUNDS: ReadonlyArray<unknown> = ["never", "adaptive", "always"]
const SYNC_METHODS: ReadonlyArray<unknown> = ["fdatasync", "dsync"]
/** `must be "a", "b" or "c", got x`. */
const notOneOf = (option: string, choices: ReadonlyArray<unknown>, got: unknown) => {
  const quoted = choices.map((choice) => `"${String(choice)}"`)
  return invalid(option, `must be ${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}, got ${String(got)}`)
}

/** A journal's path: a non-empty string without NUL (node:fs throws on one: a defect). */
export const checkPath = (path: unknown): InvalidOptions | undefined => {
  if (typeof path !== "string" || path.length === 0) return invalid("path", "must be a non-empty string")
  if (path.includes("\0")) return invalid("path", "must not contain a NUL byte")
  return undefined
}

const describe = (value: unknown): string => {
  try {
    return typeof value === "object" ? JSON.stringify(value) : String(value)
  } catch {
    return typeof value
  }
}

/** The fields of Effect's `DurationObject`; an object with none of them (or others) is a mistake. */
const DURATION_FIELDS: ReadonlySet<string> = new Set([
  "weeks",
  "days",
  "hours",
  "minutes",
  "seconds",
  "milliseconds",
  "microseconds",
  "nanoseconds",
])

const isFiniteNumber = (value: unknown): boolean => typeof value === "number" && Number.isFinite(value)

/** `preallocateBytes` and `writebackBytes`: byte counts checked against the slot size. */
const resolveSizes = (
  given: Options,
  logBufferBytes: number,
): { readonly preallocateBytes: number; readonly writebackBytes: number } | InvalidOptions => {
  const preallocateBytes = given.preallocateBytes ?? Math.max(PREALLOCATE_BYTES_DEFAULT, 4 * logBufferBytes)
  if (
    !Number.isInteger(preallocateBytes) ||
    preallocateBytes < 0 ||
    preallocateBytes > PREALLOCATE_BYTES_MAX ||
    preallocateBytes % 65536 !== 0 ||
    (preallocateBytes > 0 && preallocateBytes < 2 * logBufferBytes)
  ) {
    return invalid(
      "preallocateBytes",
      `must be 0 or a multiple of 64 KiB between two log buffers (${2 * logBufferBytes}) and ${PREALLOCATE_BYTES_MAX}, got ${preallocateBytes}`,
    )
  }
  const writebackBytes = given.writebackBytes ?? 0
  if (
    !Number.isInteger(writebackBytes) ||
    writebackBytes < 0 ||
    writebackBytes > WRITEBACK_BYTES_MAX ||
    writebackBytes % 65536 !== 0
  ) {
    return invalid(
      "writebackBytes",
      `must be 0 or a multiple of 64 KiB up to ${WRITEBACK_BYTES_MAX}, got ${writebackBytes}`,
    )
  }
  return { preallocateBytes, writebackBytes }
}

/** A `Duration.Input` Effect decodes to what it says (no NaN, no empty or unknown object). */
const isDurationInput = (value: unknown): boolean => {
  if (typeof value === "number") return !Number.isNaN(value)
  if (typeof value === "bigint" || typeof value === "string") return true
  if (Duration.isDuration(value)) return true
  if (Array.isArray(value)) return value.length === 2 && value.every(isFiniteNumber)
  if (typeof value !== "object" || value === null) return false
  const fields = Object.entries(value).filter(([, field]) => field !== undefined)
  return fields.length > 0 && fields.every(([key, field]) => DURATION_FIELDS.has(key) && isFiniteNumber(field))
}

export const resolve = (options: Options | undefined): Resolved | InvalidOptions => {
  const given = options ?? {}
  if (typeof given !== "object") return invalid("options", "must be an object")
  const mode = given.mode ?? "direct"
  if (mode !== "direct" && mode !== "buffered")
    return invalid("mode", `must be "direct" or "buffered", got ${String(mode)}`)
  const logBufferBytes = given.logBufferBytes ?? LOG_BUFFER_BYTES_DEFAULT
  const badSlot = validateSlotBytes("logBufferBytes", logBufferBytes, 1)
  if (badSlot !== undefined) return badSlot
  let windowMicros = WINDOW_MICROS_DEFAULT
  if (given.groupCommitWindow !== undefined) {
    // Duration.fromInput reads NaN and {} as 0: a typo would silently turn the window off.
    if (!isDurationInput(given.groupCommitWindow)) {
      return invalid("groupCommitWindow", `is not a duration: ${describe(given.groupCommitWindow)}`)
    }
    const window = Duration.fromInput(given.groupCommitWindow)
    if (Option.isNone(window)) return invalid("groupCommitWindow", "is not a duration")
    windowMicros = Duration.toMillis(window.value) * 1000
    if (!Number.isFinite(windowMicros) || windowMicros < 0 || windowMicros > WINDOW_MICROS_MAX) {
      return invalid("groupCommitWindow", `must be between 0 and ${WINDOW_MICROS_MAX} µs`)
    }
  }
  const maxBatch = given.groupCommitMaxBatch ?? GROUP_COMMIT_BATCH_DEFAULT
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > GROUP_COMMIT_BATCH_MAX) {
    return invalid("groupCommitMaxBatch", `must be an integer between 1 and ${GROUP_COMMIT_BATCH_MAX}, got ${maxBatch}`)
  }
  const backend = given.backend ?? "auto"
  if (!isBackendChoice(backend))
    return invalid("backend", `must be "auto", "io_uring" or "pwrite", got ${String(backend)}`)
  const legacyGaps = given.legacyGaps ?? false
  if (typeof legacyGaps !== "boolean") return invalid("legacyGaps", "must be a boolean")
  const sectorBytes = given.sectorBytes
  if (sectorBytes !== undefined && (!isValidSectorBytes(sectorBytes) || sectorBytes < 512)) {
    return invalid("sectorBytes", `must be a power of two between 512 and 65536, got ${sectorBytes}`)
  }
  const badSlotForSector =
    sectorBytes === undefined ? undefined : validateSlotBytes("logBufferBytes", logBufferBytes, sectorBytes)
  if (badSlotForSector !== undefined) return badSlotForSector
  const sizes = resolveSizes(given, logBufferBytes)
  if (sizes instanceof InvalidOptions) return sizes
  const { preallocateBytes, writebackBytes } = sizes
  const onReadError = given.onReadError ?? "fail"
  if (!ON_READ_ERROR.includes(onReadError)) return notOneOf("onReadError", ON_READ_ERROR, onReadError)
  const overlapRounds = given.overlapRounds ?? "never"
  if (!OVERLAP_ROUNDS.includes(overlapRounds)) return notOneOf("overlapRounds", OVERLAP_ROUNDS, overlapRounds)
  const syncMethod = given.syncMethod ?? "fdatasync"
  if (!SYNC_METHODS.includes(syncMethod)) return notOneOf("syncMethod", SYNC_METHODS, syncMethod)
  return {
    mode,
    logBufferBytes,
    windowMicros,
    maxBatch,
    backend,
    legacyGaps,
    sectorBytes,
    preallocateBytes,
    onReadError,
    overlapRounds,
    writebackBytes,
    syncMethod,
  }
}
