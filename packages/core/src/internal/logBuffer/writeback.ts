/**
 * Early writeback for a buffered log: as each unsynced slot write completes, its range is handed
 * to the kernel's writeback (`FileIo.startWriteback`, sync_file_range with SYNC_FILE_RANGE_WRITE),
 * so the device writes the log while the producers fill the next slots. Without it a bulk load
 * (appends, one sync at the end) copies everything into the page cache first and writes it all in
 * the final fdatasync: with 512 × 1 MiB records here, ≈ 0.9 s of appends and then ≈ 0.9 s of sync
 * (`scripts/large-records.ts`), the disk idle for the first half. RocksDB's `bytes_per_sync` is
 * the same idea.
 *
 * Nothing here is a durability claim: the kernel may have written the pages or not when a crash
 * comes, and only an fdatasync moves the durable frontier. With the WRITE flag alone the call
 * does not read or advance the file's writeback-error cursor, so the next fdatasync still
 * reports an EIO of these pages. A failed call only turns the hints off.
 *
 * Opt-in (`Journal.Options.writebackBytes`, default 0): it costs kernel CPU while the log is
 * written, which on a small machine delays a CPU-bound producer's event loop (measured in
 * docs/BENCHMARKS.md, "Large records, two writes deep").
 *
 * Bounds: one call in flight; ranges that complete meanwhile are merged into one pending range
 * (the log is written in order, so the merge is the span from the lowest start to the highest
 * end), started when the call in flight returns. A range shorter than `thresholdBytes` waits to
 * be merged with the next ones, so a trickle of small flushes costs no call each. `settled`
 * lets the buffer's drain wait for the call in flight before the file is closed.
 *
 * Direct logs have no page cache to write back, and synced writes have their own fdatasync: the
 * core only reports unsynced buffered slot writes.
 *
 * @since 0.2.0
 */
import { Deferred, Effect, Exit } from "effect"
import type { Fiber } from "effect"
import type { IoError } from "@fsys/native"
import type { FileIoService, Handle } from "../../FileIo.ts"
import { assert } from "./sectors.ts"

export interface WritebackConfig {
  readonly fileIo: FileIoService
  readonly handle: Handle
  /** Completed bytes merged before a call is made (`Journal.Options.writebackBytes`); 0 = off. */
  readonly thresholdBytes: number
  /** Runs the call on its own fiber that nothing interrupts (the core's job runner). */
  readonly run: (effect: Effect.Effect<void, IoError.IoError>) => Fiber.Fiber<void, IoError.IoError>
  /** True once the buffer refuses calls (poisoned or closing): no call starts then. */
  readonly refuses: () => boolean
}

/** How many calls a drain may see start one after another before the pending range is empty. */
const SETTLE_TURNS_MAX = 3

export class Writeback {
  private readonly config: WritebackConfig
  /** False when the layer has no `startWriteback`, or once a call failed. */
  private enabled: boolean
  /** Completed writes not handed to the kernel yet: `[pendingFrom, pendingTo)`, empty when equal. */
  private pendingFrom = 0
  private pendingTo = 0
  /** Completes when the call in flight returned; `undefined` when none is. At most one. */
  private inFlight: Deferred.Deferred<void> | undefined = undefined

  constructor(config: WritebackConfig) {
    this.config = config
    this.enabled = config.thresholdBytes > 0 && config.fileIo.startWriteback !== undefined
  }

  /** A slot write over `[fromBytes, toBytes)` completed, unsynced. */
  completed(fromBytes: number, toBytes: number): void {
    assert(fromBytes <= toBytes, "a written range is ordered")
    if (!this.enabled) return
    if (this.pendingFrom === this.pendingTo) {
      this.pendingFrom = fromBytes
      this.pendingTo = toBytes
    } else {
      this.pendingFrom = Math.min(this.pendingFrom, fromBytes)
      this.pendingTo = Math.max(this.pendingTo, toBytes)
    }
    this.startPending()
  }

  /**
   * Completes once no call is in flight (the drain, before the file is closed). A call that
   * returns starts the pending range unless the buffer refuses calls, which it does by the time
   * of a drain: so at most one more call follows the one awaited.
   */
  readonly settled: Effect.Effect<void> = Effect.gen({ self: this }, function* () {
    for (let turn = 0; this.inFlight !== undefined; turn++) {
      assert(turn < SETTLE_TURNS_MAX, "writeback settles")
      yield* Deferred.await(this.inFlight)
    }
  })

  private startPending(): void {
    const startWriteback = this.config.fileIo.startWriteback
    if (
      !this.enabled ||
      startWriteback === undefined ||
      this.config.refuses() ||
      this.inFlight !== undefined ||
      this.pendingTo - this.pendingFrom < this.config.thresholdBytes
    ) {
      return
    }
    const fromBytes = this.pendingFrom
    const lengthBytes = this.pendingTo - fromBytes
    this.pendingFrom = this.pendingTo
    const done = Deferred.makeUnsafe<void>()
    this.inFlight = done
    this.config.run(startWriteback(this.config.handle, fromBytes, lengthBytes)).addObserver((exit) => {
      this.inFlight = undefined
      if (Exit.isFailure(exit)) this.enabled = false
      // The next call (if any) is in flight before a drain waiting on this one resumes.
      this.startPending()
      Deferred.doneUnsafe(done, Exit.void)
    })
  }
}
