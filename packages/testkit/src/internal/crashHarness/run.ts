/**
 * The state of one randomized crash run (see `runner.ts`): the seed's disk and journal options,
 * what the run has seen so far, and the small helpers every phase shares.
 *
 * Every random choice comes from `rng` in a fixed order, so a failing seed replays exactly: a
 * phase that is moved or split must keep its draws in the same order.
 *
 * @since 0.1.0
 */
import { Cause, Duration, Effect, Exit, Fiber, Result } from "effect"
import type { FileIo, Journal, JournalError } from "@fsys/core"
import type * as CrashHarness from "../../CrashHarness.ts"
import * as SimulatedDisk from "../../SimulatedDisk.ts"
import * as Prng from "../prng.ts"

export const JOURNAL_DIRECTORY = "/sim"
export const JOURNAL_PATH = `${JOURNAL_DIRECTORY}/journal.log`
const EPOCHS_DEFAULT = 4
const OPERATIONS_MAX_DEFAULT = 30
const WRITERS_MAX_DEFAULT = 6
const PHASE_TIMEOUT_MILLIS_DEFAULT = 20_000
/** The journal's preallocation is set in multiples of 64 KiB. */
const PREALLOCATE_GRANULE_BYTES = 65536

/** What one epoch expects of the next recovery (the checker's `Expectation`). */
export interface EpochModel {
  readonly epoch: number
  readonly base: ReadonlyArray<CrashHarness.JournalRecord>
  readonly startLsn: number
  readonly acked: Map<number, Uint8Array>
  readonly submitted: Map<string, Uint8Array>
  durableLsn: number
}

/** One run: its configuration (fixed at the start) and what it has seen (changed by phases). */
export interface Run {
  readonly seed: number
  readonly mode: CrashHarness.SeedOptions["mode"]
  readonly options: CrashHarness.SeedOptions
  readonly epochs: number
  readonly operationsMax: number
  readonly writersMax: number
  readonly useBatches: boolean
  readonly interrupts: boolean
  readonly timeout: Duration.Duration
  readonly rng: Prng.Prng
  readonly disk: SimulatedDisk.Disk
  readonly logBufferBytes: number
  readonly journalOptions: Journal.Options
  readonly failures: Array<string>
  readonly crashes: Array<string>
  readonly trace: Array<string>
  /** Every sidecar an open reported, with its bytes then. */
  readonly sidecars: Map<string, Uint8Array>
  appended: number
  lastRecovered: number
  lastCrash: string
  model: EpochModel
}

/** Draws the run's disk and journal options from the seed (in this order: replays depend on it). */
export const makeRun = Effect.fnUntraced(function* (options: CrashHarness.SeedOptions) {
  const { seed, mode } = options
  const rng = Prng.make(Prng.derive(seed, mode === "direct" ? 0xd1 : 0xb0))
  // Logical sectors of 512 bytes; physical sectors of 512 or 4096 (a 512e disk, where a Direct
  // write covering part of a physical sector may leave it unreadable after a power cut).
  const physicalSectorBytes = rng.pick([512, 4096])
  const disk = yield* SimulatedDisk.make({ seed, sectorBytes: 512, physicalSectorBytes, directAlignmentBytes: 512 })
  // Direct journals align to what the disk reports (FileIo.directAlignment), or to a forced
  // whole number of physical sectors; a slot holds ≥ 2 sectors.
  const sectorBytes = mode === "direct" && rng.chance(0.5) ? rng.pick([physicalSectorBytes, 4096]) : undefined
  const alignedBytes = mode === "direct" ? (sectorBytes ?? physicalSectorBytes) : 1
  const logBufferBytes = rng.pick([4096, 8192, 16384, 65536].filter((bytes) => bytes >= 2 * alignedBytes))
  // Preallocation (zeros written ahead of the log) is exercised, but small: the simulated disk
  // copies images on every crash, and megabytes of zeros per epoch would cost seconds per seed.
  const preallocateBytes = rng.pick([0, 0, 2 * PREALLOCATE_GRANULE_BYTES, 4 * PREALLOCATE_GRANULE_BYTES])
  const journalOptions: Journal.Options = {
    mode,
    logBufferBytes,
    preallocateBytes,
    groupCommitMaxBatch: rng.range(1, 64),
    ...(sectorBytes === undefined ? {} : { sectorBytes }),
    // Every other seed runs two rounds in flight where the mode allows it. From the seed, not the
    // rng: the draws above stay what they were, so an old seed replays the same disk and options.
    overlapRounds: seed % 2 === 0 ? "always" : "never",
    // Every other pair of seeds makes its rounds durable with RWF_DSYNC writes where the bytes
    // before them are durable (the rest with fdatasync): both overlap settings meet both methods.
    syncMethod: options.syncMethod ?? (Math.floor(seed / 2) % 2 === 1 ? "dsync" : "fdatasync"),
  }
  const run: Run = {
    seed,
    mode,
    options,
    epochs: options.epochs ?? EPOCHS_DEFAULT,
    operationsMax: options.operationsMax ?? OPERATIONS_MAX_DEFAULT,
    writersMax: options.writersMax ?? WRITERS_MAX_DEFAULT,
    useBatches: options.appendBatch ?? true,
    interrupts: options.interrupts ?? true,
    timeout: Duration.millis(options.phaseTimeoutMillis ?? PHASE_TIMEOUT_MILLIS_DEFAULT),
    rng,
    disk,
    logBufferBytes,
    journalOptions,
    failures: [],
    crashes: [],
    trace: [
      `${mode} buffer ${logBufferBytes} sector ${journalOptions.sectorBytes ?? "-"} physical ${physicalSectorBytes} preallocate ${preallocateBytes} overlap ${journalOptions.overlapRounds} sync ${journalOptions.syncMethod}`,
    ],
    sidecars: new Map(),
    appended: 0,
    lastRecovered: 0,
    lastCrash: "no crash yet",
    model: { epoch: 0, base: [], startLsn: 0, acked: new Map(), submitted: new Map(), durableLsn: 0 },
  }
  return run
})

/** Records a violation of the run (it stops after the epoch that found one). */
export const fail = (run: Run, epoch: number, message: string): void => {
  run.failures.push(`seed ${run.seed} ${run.mode} epoch ${epoch}: ${message} [after ${run.lastCrash}]`)
}

/** A FileIo that claims durability it never provides: the `lyingDatasync` sabotage. */
const lyingFileIo = (io: FileIo.FileIoService): FileIo.FileIoService => ({
  ...io,
  datasync: () => Effect.void,
  sync: () => Effect.void,
  writeAtThenDatasync: (handle, bytes, offsetBytes) => io.writeAt(handle, bytes, offsetBytes),
  writeAtDsync: (handle, bytes, offsetBytes) => io.writeAt(handle, bytes, offsetBytes),
})

/** A FileIo whose linked write→datasync syncs before it writes: the `syncBeforeWrite` sabotage. */
const syncFirstFileIo = (io: FileIo.FileIoService): FileIo.FileIoService => ({
  ...io,
  writeAtThenDatasync: (handle, bytes, offsetBytes) =>
    Effect.andThen(io.datasync(handle), io.writeAt(handle, bytes, offsetBytes)),
})

/** The FileIo a journal of this run opens with: the disk's, or a sabotaged one. */
export const fileIoOf = (run: Run): FileIo.FileIoService =>
  run.options.sabotage === "lyingDatasync"
    ? lyingFileIo(run.disk.fileIo)
    : run.options.sabotage === "syncBeforeWrite"
      ? syncFirstFileIo(run.disk.fileIo)
      : run.disk.fileIo

export const yieldTimes = (times: number): Effect.Effect<void> =>
  times <= 0
    ? Effect.void
    : Effect.andThen(
        Effect.yieldNow,
        Effect.suspend(() => yieldTimes(times - 1)),
      )

/**
 * Runs `effect`, or (when `interrupt`) forks it, lets `yields` scheduler turns pass and interrupts
 * it. `undefined` means the interrupt won: the call's outcome is unknown to its caller.
 */
export const maybeInterrupted = <A, E>(
  effect: Effect.Effect<A, E>,
  interrupt: boolean,
  yields: number,
): Effect.Effect<Result.Result<A, E> | undefined> =>
  interrupt
    ? Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(effect, { startImmediately: true })
        yield* yieldTimes(yields)
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        if (Exit.isSuccess(exit)) return Result.succeed(exit.value)
        if (Cause.hasInterruptsOnly(exit.cause)) return undefined
        return yield* Effect.result(Effect.failCause(exit.cause))
      })
    : Effect.result(effect)

export const errorTag = (error: JournalError.JournalError): string =>
  error._tag === "JournalPoisoned" ? `JournalPoisoned(${error.cause.code} in ${error.cause.syscall})` : error._tag
