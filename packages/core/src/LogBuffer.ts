/**
 * The dual sector-aligned log buffer as an Effect service.
 *
 * Appends copy frames into the active slot; a full slot, a sync or an oversize record seals it
 * and hands it to a single writer fiber while appenders keep filling the other slot (the state
 * machine and its invariants are in `internal/logBuffer/core.ts`). The Direct-mode `Journal`
 * builds its buffer with `make` over its own file handle; an application that wants only the
 * buffer provides `LogBufferLive`, and its tests swap in `LogBufferTest` from `@fsys/testkit`.
 *
 * Scope order (load-bearing): the FileIo layer (the io_uring ring) is acquired before the slots,
 * the slots before their registration with the ring, and the writer last; release runs in
 * reverse — drain the writer, unregister, free the slots, close the file, close the ring — so the
 * kernel never holds or reads pages that were freed.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { IoError } from "@fsys/native"
import * as FileIo from "./FileIo.ts"
import * as Frame from "./Frame.ts"
import { InvalidOptions, type JournalClosed, JournalPoisoned, RecordTooLarge } from "./JournalError.ts"
import type * as JournalError from "./JournalError.ts"
import { type AppendError, LogBufferCore } from "./internal/logBuffer/core.ts"
import { CAPACITY_BYTES_MAX, CAPACITY_BYTES_MIN } from "./internal/logBuffer/limits.ts"
import { isValidSectorBytes } from "./internal/logBuffer/sectors.ts"
import { openForAppend } from "./internal/journal/resume.ts"

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
  readonly bufferedLen: Effect.Effect<number>
  /** Bytes per slot. */
  readonly capacity: number
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
 * What `make` needs: an open file, where to resume and how big the slots are.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  readonly handle: FileIo.Handle
  readonly capacityBytes: number
  /** 1 for a buffered file; the DIO alignment for a Direct one. */
  readonly sectorBytes: number
  /** The clean end of the file, where appends resume. */
  readonly startLsn: number
  /** Bytes `[roundDown(startLsn, sectorBytes), startLsn)` as they are on disk. */
  readonly carry: Uint8Array
  /** Keep this many zero-filled bytes ahead of the log (0 = off); see `Journal.Options`. */
  readonly preallocateBytes?: number
  /** The file's size at open (zeros past the clean end count as preallocated). */
  readonly fileSizeBytes?: number
  /** Told what the layer did with the slots (fixed buffers or why not), for `Journal.info`. */
  readonly onRegistered?: (registration: FileIo.Registration) => void
}

/**
 * Validates a slot capacity against a sector size.
 *
 * @since 0.1.0
 * @category utils
 */
export const validateCapacity = (capacityBytes: number, sectorBytes: number): InvalidOptions | undefined => {
  if (!isValidSectorBytes(sectorBytes)) {
    return new InvalidOptions({
      option: "sectorSize",
      reason: `${sectorBytes} is not a power of two between 1 and 65536`,
    })
  }
  if (
    !Number.isInteger(capacityBytes) ||
    capacityBytes < CAPACITY_BYTES_MIN ||
    capacityBytes > CAPACITY_BYTES_MAX ||
    (capacityBytes & (capacityBytes - 1)) !== 0
  ) {
    return new InvalidOptions({
      option: "capacityBytes",
      reason: `${capacityBytes} is not a power of two between ${CAPACITY_BYTES_MIN} and ${CAPACITY_BYTES_MAX}`,
    })
  }
  if (capacityBytes < 2 * sectorBytes) {
    return new InvalidOptions({
      option: "capacityBytes",
      reason: `a slot must hold at least two ${sectorBytes}-byte sectors`,
    })
  }
  return undefined
}

/** Preallocation writes zeros 1 MiB at a time from one aligned buffer. */
const ZEROS_BYTES = 1024 * 1024

/**
 * Builds the buffer's engine over an open handle: two slots from the layer's aligned memory,
 * registered for fixed-buffer IO, and the writer fiber — all released with the Scope, in reverse.
 * The Journal uses the engine directly (its hot path returns plain end LSNs).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCore = Effect.fnUntraced(function* (
  options: MakeOptions,
): Effect.fn.Return<LogBufferCore, IoError.IoError, FileIo.FileIo | Scope.Scope> {
  const fileIo = yield* FileIo.FileIo
  const alignmentBytes = Math.max(options.sectorBytes, 4096)
  const first = yield* fileIo.allocateAligned(options.capacityBytes, alignmentBytes)
  const second = yield* fileIo.allocateAligned(options.capacityBytes, alignmentBytes)
  const preallocateBytes = options.preallocateBytes ?? 0
  const zeros =
    preallocateBytes > 0 ? (yield* fileIo.allocateAligned(ZEROS_BYTES, alignmentBytes)).bytes.fill(0) : undefined
  const registration = yield* fileIo.registerBuffers([first, second])
  options.onRegistered?.(registration)
  const core = new LogBufferCore({
    fileIo,
    handle: options.handle,
    slots: [first, second],
    capacityBytes: options.capacityBytes,
    sectorBytes: options.sectorBytes,
    startLsn: options.startLsn,
    carry: options.carry,
    preallocateBytes,
    fileSizeBytes: options.fileSizeBytes ?? options.startLsn,
    zeros,
  })
  yield* Effect.forkScoped(core.writer)
  // Registered after the writer: runs before its interruption and before the slots are freed.
  // Appenders still waiting are refused first, then the writes in the kernel's hands finish.
  yield* Effect.addFinalizer(() =>
    Effect.andThen(
      Effect.sync(() => core.shutdown()),
      core.drain,
    ),
  )
  return core
})

/**
 * Wraps an engine as the public service (adds the size check and the typed poison error).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCore = (core: LogBufferCore, path: string): LogBufferService => {
  // Only an IoError poisons; a closed buffer or a payload detached mid-copy is reported as such.
  const poisoned = (cause: AppendError): JournalPoisoned | JournalClosed | InvalidOptions =>
    cause._tag === "IoError" ? new JournalPoisoned({ path, cause }) : cause
  const tooLarge = (payload: Uint8Array) =>
    payload.byteLength > Frame.MAX_PAYLOAD
      ? new RecordTooLarge({ payloadBytes: payload.byteLength, maxPayloadBytes: Frame.MAX_PAYLOAD })
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
    bufferedLen: Effect.sync(() => core.nextLsn - core.flushedThrough),
    capacity: core.capacityBytes,
    sectorSize: core.sectorBytes,
  })
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LiveOptions {
  readonly path: string
  /** Bytes per slot: a power of two, 4 KiB–64 MiB. */
  readonly capacityBytes: number
  /** Defaults to the DIO alignment probed on the file after it exists. */
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
    Effect.gen(function* () {
      const opened = yield* openForAppend(options.path, {
        mode: "direct",
        requireDirect: true,
        backend: options.backend ?? "auto",
        legacyGaps: false,
        ...(options.sectorSize === undefined ? {} : { sectorBytes: options.sectorSize }),
      })
      const invalid = validateCapacity(options.capacityBytes, opened.sectorBytes)
      if (invalid !== undefined) return yield* Effect.fail(invalid)
      const core = yield* makeCore({
        handle: opened.handle,
        capacityBytes: options.capacityBytes,
        sectorBytes: opened.sectorBytes,
        startLsn: opened.cleanEnd,
        carry: opened.carry,
      }).pipe(Effect.provideService(FileIo.FileIo, opened.fileIo))
      return fromCore(core, options.path)
    }),
  )

/**
 * The engine `makeCore` builds and `fromCore` wraps (its methods are internal).
 *
 * @since 0.1.0
 * @category models
 */
export type { LogBufferCore }
