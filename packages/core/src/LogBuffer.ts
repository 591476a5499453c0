/**
 * The dual sector-aligned log buffer as an Effect service.
 *
 * Appends copy frames into the active slot; a full slot, a sync or an oversize record seals it
 * and hands it to the writer (jobs in LSN order, no fiber per job) while appenders keep filling the other slot (the state
 * machine and its invariants are in `internal/logBuffer/core.ts`). This module is a thin layer on
 * the internal engine (`internal/logBuffer/make.ts`, which `Journal` also builds on) and never the
 * reverse: an application that wants only the buffer provides `LogBufferLive` (alias `layer`),
 * `make` builds one over a handle it opened, and tests swap in `layerTest` (the real engine over
 * the ambient FileIo) or `LogBufferTest` from `@fsys/testkit` (the same over a simulated disk). The scope order of the engine's resources is documented in `make.ts`.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { IoError } from "@fsys/native"
import * as FileIo from "./FileIo.ts"
import * as Frame from "./Frame.ts"
import { type InvalidOptions, type JournalClosed, JournalPoisoned, RecordTooLarge } from "./JournalError.ts"
import type * as JournalError from "./JournalError.ts"
import type { AppendError, LogBufferCore } from "./internal/logBuffer/core.ts"
import { CAPACITY_BYTES_MAX, CAPACITY_BYTES_MIN } from "./internal/logBuffer/limits.ts"
import { openLive } from "./internal/logBuffer/live.ts"
import * as Engine from "./internal/logBuffer/make.ts"
import { validateCapacity } from "./internal/logBuffer/make.ts"

/**
 * An LSN range `[start, end)`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Range {
  readonly start: number
  readonly end: number
}

/**
 * Why an append failed: too large, the buffer poisoned by an IO failure, closed, or (for a
 * record bigger than a slot, copied across turns) its payload detached while it was copied.
 *
 * @since 0.1.0
 * @category models
 */
export type AppendFailure = RecordTooLarge | JournalPoisoned | JournalClosed | InvalidOptions

/**
 * @since 0.1.0
 * @category models
 */
export interface LogBufferService {
  /** Frames `payload` into the active slot; no IO unless both slots are busy. */
  readonly append: (payload: Uint8Array) => Effect.Effect<Range, AppendFailure>
  /** Frames each payload in order; one state transition while they fit the active slot. */
  readonly appendBatch: (payloads: ReadonlyArray<Uint8Array>) => Effect.Effect<Range, AppendFailure>
  /** Writes every appended record (zero-padded to the sector); returns the LSN it covered. */
  readonly flushPartial: Effect.Effect<number, JournalPoisoned | JournalClosed>
  readonly nextLsn: Effect.Effect<number>
  /** Through here records have been handed to the kernel and the write completed. */
  readonly flushedThrough: Effect.Effect<number>
  /** Bytes appended but not yet written: `nextLsn - flushedThrough`. */
  readonly bufferedBytes: Effect.Effect<number>
  /** Bytes per slot. */
  readonly capacityBytes: number
  /** The alignment every write uses (the Direct-IO alignment of the file). */
  readonly sectorBytes: number
  /** @deprecated Use `bufferedBytes` (0.1.0's name, same value). */
  readonly bufferedLen: Effect.Effect<number>
  /** @deprecated Use `capacityBytes` (0.1.0's name, same value). */
  readonly capacity: number
  /** @deprecated Use `sectorBytes` (0.1.0's name, same value). */
  readonly sectorSize: number
}

/**
 * The LogBuffer service.
 *
 * @since 0.1.0
 * @category services
 */
export class LogBuffer extends Context.Service<LogBuffer, LogBufferService>()("@fsys/core/LogBuffer") {}

/**
 * The smallest and largest slot we accept (fsys: 4 KiB–64 MiB).
 *
 * @since 0.1.0
 * @category constants
 */
export { CAPACITY_BYTES_MAX, CAPACITY_BYTES_MIN }

/**
 * Validates a slot capacity against a sector size; `undefined` when both are acceptable.
 *
 * @since 0.1.0
 * @category utils
 */
export { validateCapacity }

/**
 * What `make` needs: an open file, its path (for errors), where to resume and how big the slots are.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions extends Engine.MakeOptions {
  readonly path: string
}

/** The engine as the public service: adds the size check and the typed poison error. */
const toService = (core: LogBufferCore, path: string): LogBufferService => {
  // Only an IoError poisons; a closed buffer or a payload detached mid-copy is reported as such.
  const poisoned = (cause: AppendError): JournalPoisoned | JournalClosed | InvalidOptions =>
    cause._tag === "IoError" ? new JournalPoisoned({ path, cause }) : cause
  const tooLarge = (payload: Uint8Array) =>
    payload.byteLength > Frame.PAYLOAD_BYTES_MAX
      ? new RecordTooLarge({ payloadBytes: payload.byteLength, maxPayloadBytes: Frame.PAYLOAD_BYTES_MAX })
      : undefined
  return LogBuffer.of({
    append: (payload) =>
      Effect.suspend((): Effect.Effect<Range, AppendFailure> => {
        const error = tooLarge(payload)
        if (error !== undefined) return Effect.fail(error)
        return core.append(payload).pipe(
          Effect.map((end) => ({ start: end - Frame.frameBytes(payload.byteLength), end })),
          Effect.mapError(poisoned),
        )
      }),
    appendBatch: (payloads) =>
      Effect.suspend((): Effect.Effect<Range, AppendFailure> => {
        for (const payload of payloads) {
          const error = tooLarge(payload)
          if (error !== undefined) return Effect.fail(error)
        }
        let batchBytes = 0
        for (const payload of payloads) batchBytes += Frame.frameBytes(payload.byteLength)
        // A batch is one contiguous range, so its start is its end minus its bytes.
        return core.appendBatch(payloads).pipe(
          Effect.map((end) => ({ start: end - batchBytes, end })),
          Effect.mapError(poisoned),
        )
      }),
    flushPartial: Effect.mapError(core.flush(false), (cause) =>
      cause._tag === "IoError" ? new JournalPoisoned({ path, cause }) : cause,
    ),
    nextLsn: Effect.sync(() => core.nextLsn),
    flushedThrough: Effect.sync(() => core.flushedThrough),
    bufferedBytes: Effect.sync(() => core.nextLsn - core.flushedThrough),
    capacityBytes: core.capacityBytes,
    sectorBytes: core.sectorBytes,
    bufferedLen: Effect.sync(() => core.nextLsn - core.flushedThrough),
    capacity: core.capacityBytes,
    sectorSize: core.sectorBytes,
  })
}

/**
 * Builds a log buffer over an already open handle with the ambient `FileIo`: two slots from the
 * layer's aligned memory, registered for fixed-buffer IO, and the writer's drain — all released
 * with the Scope, in reverse. The caller validated the sizes (`validateCapacity`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: MakeOptions): Effect.Effect<LogBufferService, IoError.IoError, Scope.Scope> =>
  Effect.map(Engine.make(options), (core) => toService(core, options.path))

/**
 * @since 0.1.0
 * @category models
 */
export interface LiveOptions {
  readonly path: string
  /** Bytes per slot: a power of two, 4 KiB–64 MiB. */
  readonly capacityBytes: number
  /** Defaults to `FileIo.directAlignment` of the open file (the physical sector when larger). */
  readonly sectorBytes?: number
  /** @deprecated Use `sectorBytes` (0.1.0's name); ignored when `sectorBytes` is given. */
  readonly sectorSize?: number
  readonly backend?: "auto" | "io_uring" | "pwrite"
}

/**
 * A log buffer over its own Direct-IO file: opens (creating) `path` with O_DIRECT, resumes at the
 * clean end, and releases everything with the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const LogBufferLive = (options: LiveOptions): Layer.Layer<LogBuffer, JournalError.JournalError> =>
  Layer.effect(
    LogBuffer,
    Effect.map(
      openLive({
        path: options.path,
        capacityBytes: options.capacityBytes,
        backend: options.backend ?? "auto",
        ...((options.sectorBytes ?? options.sectorSize) === undefined
          ? {}
          : { sectorBytes: options.sectorBytes ?? options.sectorSize }),
      }),
      (core) => toService(core, options.path),
    ),
  )

/**
 * `LogBufferLive` under Effect 4's layer naming (`LogBufferLive` stays the documented name).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: LiveOptions) => Layer.Layer<LogBuffer, JournalError.JournalError> = LogBufferLive

/**
 * @since 0.1.0
 * @category models
 */
export interface TestOptions {
  /** Path of the (fresh) file on the ambient FileIo; default "/log-buffer". */
  readonly path?: string
  /** Bytes per slot (power of two, 4 KiB–64 MiB); default 64 KiB as in fsys. */
  readonly capacityBytes?: number
  /** Default 512. */
  readonly sectorBytes?: number
}

/**
 * A log buffer for tests: the real engine over a fresh file of the **ambient** `FileIo`, starting
 * at LSN 0, with no recovery. Provide the testkit's `SimulatedDisk.layer` (or use the testkit's
 * `LogBufferTest`, which does) to get production behaviour with no file system, faults included.
 * Invalid sizes fail the layer with `InvalidOptions`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (options: TestOptions = {}): Layer.Layer<LogBuffer, IoError.IoError | InvalidOptions> =>
  Layer.effect(
    LogBuffer,
    Effect.gen(function* () {
      const path = options.path ?? "/log-buffer"
      const sectorBytes = options.sectorBytes ?? 512
      const capacityBytes = options.capacityBytes ?? 64 * 1024
      const invalid = validateCapacity(capacityBytes, sectorBytes)
      if (invalid !== undefined) return yield* Effect.fail(invalid)
      const fileIo = yield* FileIo.FileIo
      const handle = yield* fileIo.open(path, { create: true, direct: true })
      const core = yield* Engine.make({ handle, capacityBytes, sectorBytes, startLsn: 0, carry: new Uint8Array(0) })
      return toService(core, path)
    }),
  )
