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
 * The zeros are written in the background (issue 12 item 5): the job only starts them, and the
 * round queued behind it goes on at once. Written in the writer's queue, one 1 MiB chunk at a
 * time, 16 MiB stalled the next round 16–100 ms here (each chunk ≈ 1 ms of device latency or
 * more), once every 64 rounds of 256 KiB: a third of the Direct journal's time on a busy disk
 * (traced with perf block/io_uring events; `scripts/preallocation-cost.ts`). Ordering is kept by
 * `before`: a write that reaches into zeros still in flight waits for them, so zeros never land
 * after (over) a record. The range is fallocated first (mode 0: size and blocks in one call), so
 * the zero writes are overwrites that neither extend the file nor allocate: ext4 then runs them
 * under its shared inode lock beside the rounds' writes (an extending Direct write holds the lock
 * exclusively). Where fallocate is refused the zeros alone do it. Every chunk runs to completion
 * (no sibling is interrupted when one fails: the kernel reads `zeros` until its CQE), and
 * `settled` lets the buffer's drain wait for them before the zeros buffer is freed.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Exit } from "effect"
import type { FileIoService, Handle } from "../../FileIo.ts"
import { assert, roundUp } from "./sectors.ts"
import type { Job } from "./writer.ts"

/** A preallocation registered when its job is made; `done` completes once its zeros landed (or never will). */
interface Pending {
  readonly fromBytes: number
  readonly done: Deferred.Deferred<void>
}

/** Preallocations queued or in flight at once: one writing, one queued behind it, and slack. */
export const PREALLOCATIONS_PENDING_MAX = 4

/**
 * Zero chunks of one Direct preallocation in flight at once (16 MiB in 1 MiB chunks: 8 then 8):
 * O_DIRECT zeros cost the CPU nothing (DMA from one buffer), so depth only keeps the device busy.
 */
export const PREALLOCATION_WRITES_IN_FLIGHT_MAX = 8

/**
 * Zero chunks of one buffered preallocation in flight at once. A buffered zero write is a copy
 * into the page cache on a kernel worker thread, all CPU and no device: eight at once took both
 * cores of this 2-core VM for milliseconds and the event loop waited for a CPU.
 * `scripts/loop-gaps.ts 4096 3 buffered 64` (64 producers × 4 KiB, 3 runs each): 48–65 timers
 * over 2 ms late with 8 in flight, 23–25 with 1, 10–19 with preallocation off. One at a time the
 * copy uses one core; a round that reaches zeros still being copied waits for them (`before`), and
 * the bench's buffered rows showed no loss of throughput from it (docs/BENCHMARKS.md).
 */
export const PREALLOCATION_BUFFERED_WRITES_IN_FLIGHT_MAX = 1

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
  /**
   * Preallocations queued or in flight, oldest first: registered when the job is made (a write
   * beside the writer must wait for zeros not yet started, too), removed when their zeros landed
   * or the writer refused the job. At most `PREALLOCATIONS_PENDING_MAX`.
   */
  private readonly pending: Array<Pending> = []

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
    // The disk is far behind on zeros already: skip (the next seal asks again); never grow.
    if (this.pending.length >= PREALLOCATIONS_PENDING_MAX) return undefined
    const fromBytes = roundUp(Math.max(this.allocatedEndBytes, nextLsn), this.config.sectorBytes)
    const toBytes = fromBytes + this.preallocateBytes
    this.allocatedEndBytes = toBytes
    this.pending.push({ fromBytes, done: Deferred.makeUnsafe<void>() })
    return { kind: "preallocate", fromBytes, toBytes }
  }

  /**
   * The preallocation job's IO: starts the zeros over `[fromBytes, toBytes)` in the background
   * and returns. One preallocation at a time: a second waits for the one before it. The fork
   * and the ensuring that completes the range are one uninterruptible step.
   */
  start(fromBytes: number, toBytes: number): Effect.Effect<void> {
    return Effect.suspend(() => {
      const index = this.pending.findIndex((entry) => entry.fromBytes === fromBytes)
      assert(index >= 0, "a preallocation job was registered when it was made")
      const entry = this.pending[index]!
      const begin = Effect.uninterruptible(
        Effect.asVoid(
          Effect.forkDetach(
            Effect.uninterruptible(
              Effect.ensuring(
                this.fill(fromBytes, toBytes),
                Effect.sync(() => this.finish(entry)),
              ),
            ),
          ),
        ),
      )
      const previous = index > 0 ? this.pending[index - 1] : undefined
      return previous === undefined ? begin : Effect.andThen(Deferred.await(previous.done), begin)
    })
  }

  /** The writer refused the job (poisoned or closing): its zeros will never be written. */
  cancel(fromBytes: number): void {
    const entry = this.pending.find((pending) => pending.fromBytes === fromBytes)
    if (entry !== undefined) this.finish(entry)
  }

  /**
   * What a write ending at `endBytes` must wait for first: the zeros queued or in flight that it
   * reaches into (they must not land after it), else `undefined`.
   */
  before(endBytes: number): Effect.Effect<void> | undefined {
    const blocking = this.pending.filter((entry) => endBytes > entry.fromBytes)
    if (blocking.length === 0) return undefined
    return Effect.forEach(blocking, (entry) => Deferred.await(entry.done), { discard: true })
  }

  /** Completes once no zeros are queued or in flight (the drain, before the zeros buffer is freed). */
  readonly settled: Effect.Effect<void> = Effect.suspend(() =>
    Effect.forEach([...this.pending], (entry) => Deferred.await(entry.done), { discard: true }),
  )

  private finish(entry: Pending): void {
    const index = this.pending.indexOf(entry)
    if (index >= 0) this.pending.splice(index, 1)
    Deferred.doneUnsafe(entry.done, Exit.void)
  }

  /** fallocate, then the zeros, several chunks in flight; any failure only turns preallocation off. */
  private fill(fromBytes: number, toBytes: number): Effect.Effect<void> {
    const { fileIo, handle, zeros } = this.config
    if (zeros === undefined) return Effect.void
    const offsets: Array<number> = []
    for (let offset = fromBytes; offset < toBytes; offset += zeros.byteLength) offsets.push(offset)
    const writes = Effect.forEach(
      offsets,
      (offset) =>
        Effect.exit(fileIo.writeAt(handle, zeros.subarray(0, Math.min(zeros.byteLength, toBytes - offset)), offset)),
      {
        concurrency: handle.direct ? PREALLOCATION_WRITES_IN_FLIGHT_MAX : PREALLOCATION_BUFFERED_WRITES_IN_FLIGHT_MAX,
      },
    )
    return Effect.flatMap(Effect.exit(fileIo.allocate(handle, fromBytes, toBytes - fromBytes, "extend")), () =>
      Effect.flatMap(writes, (exits) =>
        Effect.sync(() => {
          if (exits.some(Exit.isFailure)) this.preallocateBytes = 0
        }),
      ),
    )
  }
}
