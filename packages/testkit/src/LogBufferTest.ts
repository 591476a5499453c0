/**
 * An in-memory `LogBuffer` layer for applications' tests.
 *
 * It is the real log-buffer state machine (the same LSNs, rotation arithmetic, padding, oversize
 * placement and errors as `LogBufferLive`) over a `SimulatedDisk` instead of a Direct-IO file, so
 * a test gets production behaviour with no file system, and can inject faults or look at the
 * bytes through the disk it passes in.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import { FileIo, LogBuffer } from "@fsys/core"
import * as SimulatedDisk from "./SimulatedDisk.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Bytes per slot (power of two, 4 KiB–64 MiB); default 64 KiB as in fsys. */
  readonly capacityBytes?: number
  /** Default 512. */
  readonly sectorSize?: number
  /** The disk the buffer writes to; default a fresh one (seed 1). Pass one to inject faults or read bytes. */
  readonly disk?: SimulatedDisk.Disk
  /** Path of the file on the simulated disk; default "/log-buffer". */
  readonly path?: string
}

/**
 * @since 0.1.0
 * @category layers
 */
export const LogBufferTest = (options: Options = {}): Layer.Layer<LogBuffer.LogBuffer> =>
  Layer.effect(
    LogBuffer.LogBuffer,
    Effect.gen(function* () {
      const sectorBytes = options.sectorSize ?? 512
      const capacityBytes = options.capacityBytes ?? 64 * 1024
      const invalid = LogBuffer.validateCapacity(capacityBytes, sectorBytes)
      if (invalid !== undefined) return yield* Effect.die(invalid)
      const disk =
        options.disk ?? (yield* SimulatedDisk.make({ seed: 1, sectorBytes, directAlignmentBytes: sectorBytes }))
      const path = options.path ?? "/log-buffer"
      // An in-memory disk with no injected faults cannot fail to open or allocate: a failure here is a bug.
      const handle = yield* Effect.orDie(disk.fileIo.open(path, { create: true, direct: true }))
      return yield* LogBuffer.make({
        path,
        handle,
        capacityBytes,
        sectorBytes,
        startLsn: 0,
        carry: new Uint8Array(0),
      }).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo), Effect.orDie)
    }),
  )
