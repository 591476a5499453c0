/**
 * The log buffer's engine factory: two slots from the layer's aligned memory, registered for
 * fixed-buffer IO, and the writer's drain, all released with the Scope in reverse. `Journal.ts`
 * uses the engine directly (its hot path returns plain end LSNs); the public `LogBuffer` module
 * wraps it as a service. Nothing here imports a public module other than the ports it needs
 * (`FileIo`, `JournalError`), so dependencies point one way: public modules → internal engine.
 *
 * Scope order (load-bearing): the FileIo layer (the io_uring ring) is acquired before the slots,
 * the slots before their registration with the ring, and the drain last; release runs in
 * reverse — drain the writer, unregister, free the slots, close the file, close the ring — so the
 * kernel never holds or reads pages that were freed.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import type { IoError } from "@fsys/native"
import * as FileIo from "../../FileIo.ts"
import * as Cores from "../capabilities/cores.ts"
import { LogBufferCore } from "./core.ts"

/** What `make` needs: an open file, where to resume and how big the slots are. */
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
  /** Completed unsynced bytes per writeback hint (`writeback.ts`); 0 or absent = none. */
  readonly writebackBytes?: number
  /** The file's size at open (zeros past the clean end count as preallocated). */
  readonly fileSizeBytes?: number
  /** Told what the layer did with the slots (fixed buffers or why not), for `Journal.info`. */
  readonly onRegistered?: (registration: FileIo.Registration) => void
  /**
   * Open the log a second time for a second round in flight (a buffered journal with
   * `overlapRounds`); without it the writer has at most one fdatasync in flight.
   */
  readonly secondLane?: boolean
  /**
   * A buffered log's largest write in flight beside another; absent = what this machine's CPUs
   * allow (`internal/capabilities/cores.ts`).
   */
  readonly bufferedOverlapBytesMax?: number
  /** `Journal.Options.syncMethod: "dsync"`: sync rounds as RWF_DSYNC writes where allowed (`core.ts`). */
  readonly dsyncRounds?: boolean
  /** The `dsyncBeforeDurable` mutation (`internal/testing.ts`): tests only. */
  readonly dsyncBeforeDurable?: boolean
}

export { validateCapacity } from "./limits.ts"

/** Preallocation writes zeros 1 MiB at a time from one aligned buffer. */
const ZEROS_BYTES = 1024 * 1024

/** Builds the engine over an open handle with the ambient `FileIo`; released with the Scope. */
export const make = Effect.fnUntraced(function* (
  options: MakeOptions,
): Effect.fn.Return<LogBufferCore, IoError.IoError, Scope.Scope> {
  const fileIo = yield* FileIo.FileIo
  const alignmentBytes = Math.max(options.sectorBytes, 4096)
  const first = yield* fileIo.allocateAligned(options.capacityBytes, alignmentBytes)
  const second = yield* fileIo.allocateAligned(options.capacityBytes, alignmentBytes)
  const preallocateBytes = options.preallocateBytes ?? 0
  const zeros =
    preallocateBytes > 0 ? (yield* fileIo.allocateAligned(ZEROS_BYTES, alignmentBytes)).bytes.fill(0) : undefined
  // A second open file of the same log for the second round in flight (`secondLane`): a
  // writeback error is reported once per open file, so two concurrent fdatasyncs on one open file
  // could hide it from one of them (see `writer.ts`). Opened before the drain is registered: closed after the
  // drain. Without it (the default) a journal holds one descriptor for its writes.
  const secondHandle =
    options.secondLane === true && options.sectorBytes === 1
      ? yield* fileIo.open(options.handle.path, { direct: options.handle.direct })
      : undefined
  const registration = yield* fileIo.registerBuffers([first, second])
  options.onRegistered?.(registration)
  const core = new LogBufferCore({
    fileIo,
    handle: options.handle,
    secondHandle,
    slots: [first, second],
    capacityBytes: options.capacityBytes,
    sectorBytes: options.sectorBytes,
    startLsn: options.startLsn,
    carry: options.carry,
    preallocateBytes,
    writebackBytes: options.writebackBytes ?? 0,
    fileSizeBytes: options.fileSizeBytes ?? options.startLsn,
    zeros,
    context: yield* Effect.context<never>(),
    bufferedOverlapBytesMax: options.bufferedOverlapBytesMax ?? Cores.bufferedOverlapBytesMax(),
    dsyncRounds: options.dsyncRounds === true,
    dsyncBeforeDurable: options.dsyncBeforeDurable === true,
  })
  // Runs before the slots are freed: appenders still waiting are refused first, then the writes
  // in the kernel's hands finish.
  yield* Effect.addFinalizer(() =>
    Effect.andThen(
      Effect.sync(() => core.shutdown()),
      core.drain,
    ),
  )
  return core
})
