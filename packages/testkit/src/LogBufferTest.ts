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
  readonly sectorBytes?: number
  /** @deprecated Use `sectorBytes` (0.1.0's name); ignored when `sectorBytes` is given. */
  readonly sectorSize?: number
  /** The disk the buffer writes to; default a fresh one (seed 1). Pass one to inject faults or read bytes. */
  readonly disk?: SimulatedDisk.Disk
  /** Path of the file on the simulated disk; default "/log-buffer". */
  readonly path?: string
}

/**
 * `LogBuffer.layerTest` over a simulated disk (the documented name; `layerTest` below is the same
 * under Effect 4's naming). Invalid sizes are a defect: they are a bug in the test.
 *
 * @since 0.1.0
 * @category layers
 */
export const LogBufferTest = (options: Options = {}): Layer.Layer<LogBuffer.LogBuffer> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const sectorBytes = options.sectorBytes ?? options.sectorSize ?? 512
      const disk =
        options.disk ?? (yield* SimulatedDisk.make({ seed: 1, sectorBytes, directAlignmentBytes: sectorBytes }))
      const { capacityBytes, path } = options
      // An in-memory disk with no injected faults cannot fail to open or allocate: a failure here is a bug.
      return LogBuffer.layerTest({
        sectorBytes,
        ...(capacityBytes === undefined ? {} : { capacityBytes }),
        ...(path === undefined ? {} : { path }),
      }).pipe(Layer.provide(Layer.succeed(FileIo.FileIo, disk.fileIo)), Layer.orDie)
    }),
  )

/**
 * `LogBufferTest` under Effect 4's layer naming.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest: (options?: Options) => Layer.Layer<LogBuffer.LogBuffer> = LogBufferTest
