/**
 * The log buffer's preallocation policy: keep `preallocateBytes` past the end of the log written
 * with zeros, so that a sync overwrites written blocks instead of growing the file; fdatasync then
 * commits no block allocation or size change (`scripts/sync-cost.ts` measures it). Written
 * blocks, unlike fallocated (unwritten) extents, give a later fdatasync no extent conversion
 * either. Zeros past the last frame read as a clean end. Only sync rounds ask for it (a bulk
 * loader that syncs once would only write every byte twice).
 *
 * The zeros never touch a byte that holds a record: they start at `roundUp(nextLsn)` or past the
 * allocated end, whichever is further; records below `nextLsn` are in jobs queued before the
 * preallocation, records at or past it are written by jobs queued after it.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { FileIoService, Handle } from "../../FileIo.ts"
import { assert, roundUp } from "./sectors.ts"
import type { Job } from "./writer.ts"

export interface PreallocatorConfig {
  readonly fileIo: FileIoService
  readonly handle: Handle
  readonly sectorBytes: number
  readonly capacityBytes: number
  /** 0 = off. */
  readonly preallocateBytes: number
  /** A zero-filled aligned buffer (whole sectors) the zeros are written from; undefined = off. */
  readonly zeros: Uint8Array | undefined
  /** How far the file is allocated (or holds records) at open. */
  readonly allocatedEndBytes: number
}

export class Preallocator {
  /** 0 once a preallocation failed: it is an optimisation, never worth an error. */
  private preallocateBytes: number
  /** The file is allocated up to here, counting queued preallocation jobs. */
  private allocatedEndBytes: number
  private readonly config: PreallocatorConfig

  constructor(config: PreallocatorConfig) {
    assert(config.zeros === undefined || config.zeros.byteLength % config.sectorBytes === 0, "zeros are whole sectors")
    this.config = config
    this.preallocateBytes = config.zeros === undefined ? 0 : config.preallocateBytes
    this.allocatedEndBytes = config.allocatedEndBytes
  }

  /** The job to queue once the log (ending at `nextLsn`) comes within two slots of the allocated end. */
  next(nextLsn: number): Job | undefined {
    if (this.preallocateBytes === 0 || nextLsn + 2 * this.config.capacityBytes < this.allocatedEndBytes) {
      return undefined
    }
    const fromBytes = roundUp(Math.max(this.allocatedEndBytes, nextLsn), this.config.sectorBytes)
    const toBytes = fromBytes + this.preallocateBytes
    this.allocatedEndBytes = toBytes
    return { kind: "preallocate", fromBytes, toBytes }
  }

  /** Writes the zeros over `[fromBytes, toBytes)`; a failure only turns preallocation off. */
  run(fromBytes: number, toBytes: number): Effect.Effect<void> {
    const { fileIo, handle, zeros } = this.config
    if (zeros === undefined) return Effect.void
    return Effect.gen(function* () {
      for (let offset = fromBytes; offset < toBytes; offset += zeros.byteLength) {
        yield* fileIo.writeAt(handle, zeros.subarray(0, Math.min(zeros.byteLength, toBytes - offset)), offset)
      }
    }).pipe(
      Effect.catch(() =>
        Effect.sync(() => {
          this.preallocateBytes = 0
        }),
      ),
    )
  }
}
