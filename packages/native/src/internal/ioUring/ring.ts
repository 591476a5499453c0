/**
 * The io_uring ring itself: plain synchronous code on the event loop, no threads, no Effects.
 *
 * Life of an operation (`Op`):
 *
 *   start ──► queued (no room) ──► prepared (SQE written, tail stored) ──► submitted (io_uring_enter)
 *                 │                                                          │
 *                 └── abandoned (fiber interrupted while queued)             ▼
 *                                                            reaped (CQE read from shared memory)
 *                                                                            │
 *                                                    finished: holds released, then `complete`
 *
 * - Batching: SQEs prepared during one event-loop turn are submitted together by ONE
 *   io_uring_enter, from a `setImmediate` scheduled by the first of them.
 * - Completions: the ring fd is watched with `koffi.node.poll`; it turns readable when CQEs exist,
 *   and `reap` reads them from shared memory without a syscall. The poll handle is ref'ed only
 *   while operations are in flight, so an idle ring never keeps the process alive.
 * - Backpressure: at most `capacity` SQEs are in flight (prepared or submitted, not yet reaped).
 *   The CQ ring holds `2 × capacity` entries, so it cannot overflow; should the kernel still flag
 *   an overflow, `reap` flushes it with io_uring_enter(GETEVENTS). Operations that do not fit wait
 *   in a FIFO of at most `QUEUED_OPS_MAX` entries (`waitQueue.ts`: O(1) removal on interrupt).
 * - Partial submissions: should io_uring_enter consume fewer SQEs than asked and stop between a
 *   linked WRITE and its FSYNC, the FSYNC is turned into a NOP before the next enter
 *   (`unlinkSplitPair`) and the op reports its sync as not done: an FSYNC submitted apart from
 *   its WRITE is not ordered after it.
 * - Shared memory: the SQ words live in `submissionQueue.ts`, the CQ words in
 *   `completionQueue.ts`; this file never computes a word offset.
 * - Kernel cancels: an op io-wq cancelled unrun (-ECANCELED while we are not closing) goes back in
 *   line, at most `RESUBMITS_MAX` times (`resubmit.ts`).
 * - Fixed buffers: a table shared by every caller of the ring, which also promotes (`buffers.ts`).
 * - Memory safety: an op retains the `InFlight` of its memory (and of its fixed-buffer group)
 *   from `start` until its CQE is reaped (or until it is abandoned while still queued, when the kernel never saw it).
 *   Every piece of ring bookkeeping (slots, counters, CQ head) is done BEFORE any `complete`
 *   callback runs, because completing resumes a fiber synchronously and that fiber may free
 *   memory or close this very ring.
 *
 * @internal
 */
import { type Native, nativeUnsafe } from "../libc/bindings.ts"
import type * as Memory from "../memory.ts"
import * as Abi from "./abi.ts"
import { BufferTable, type Group } from "./buffers.ts"
import { CompletionQueue } from "./completionQueue.ts"
import { finishAll, releaseHolds, retainHolds } from "./holds.ts"
import { DONE, emptyStats, makeOp, type Op, PREPARED, QUEUED, type Stats } from "./op.ts"
import { supportedOpcodes } from "./probe.ts"
import { takeCancelledUnrun } from "./resubmit.ts"
import * as Setup from "./setup.ts"
import { SlotTable } from "./slotTable.ts"
import { SubmissionQueue } from "./submissionQueue.ts"
import { WaitQueue } from "./waitQueue.ts"
import { type FlushTiming, QUEUED_OPS_MAX, type Seams } from "./ringOptions.ts"

export { makeOp, type Op, type OpSpec, type Stats } from "./op.ts"

/** Bound on io_uring_enter attempts in one flush (EINTR / partial submission). */
const ENTER_ATTEMPTS_MAX = 8
/** Delay before retrying a submission the kernel refused for lack of resources (EAGAIN/EBUSY). */
const ENTER_RETRY_MILLIS = 1
/** Bound on CQ sweeps in one reap (each sweep drains everything visible). */
const REAP_ROUNDS_MAX = 4

type PollHandle = ReturnType<Native["koffi"]["node"]["poll"]>

export class Ring {
  readonly fd: number
  readonly sqEntries: number
  readonly cqEntries: number
  readonly features: number
  readonly setupFlags: number
  /** Invariant: SQEs in flight never exceed this = min(sqEntries, cqEntries - 1): the CQ always has room. */
  readonly capacity: number
  readonly stats: Stats = emptyStats()

  private readonly lib: Native
  private readonly mappings: ReadonlyArray<Setup.Mapping>
  private readonly views: Setup.Views
  private readonly sq: SubmissionQueue
  private readonly cq: CompletionQueue
  /** slot → op; a slot is the user_data of one SQE. Size capacity + 1 (one spare for cancel). */
  private readonly slots: SlotTable
  /** SQEs prepared or submitted, not yet reaped. */
  inFlight = 0
  /** Operations waiting for room, oldest first. */
  private readonly waiting = new WaitQueue()
  private flushScheduled = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined = undefined
  private readonly poll: PollHandle
  private pollRefed = false
  private idleWaiter: (() => void) | undefined = undefined
  closing = false
  closed = false

  /** Registered buffers of every caller of this ring. */
  private readonly buffers: BufferTable
  private readonly seams: Seams
  readonly flushTiming: FlushTiming

  private readonly flushCallback = (): void => this.flush()

  /** Builds a ring; throws an `IoError` after releasing whatever it had set up. */
  static create(entries: number, seams: Seams = {}, flushTiming: FlushTiming = "immediate"): Ring {
    const lib = nativeUnsafe()
    return new Ring(lib, { ...Setup.setUp(lib, entries), seams, flushTiming })
  }

  private constructor(lib: Native, setup: Setup.SetUp & { readonly seams: Seams; readonly flushTiming: FlushTiming }) {
    const { fd, setupFlags, features, sqEntries, cqEntries, sqOff, cqOff, views, mappings } = setup
    this.seams = setup.seams
    this.flushTiming = setup.flushTiming
    this.buffers = new BufferTable(lib, fd, setup.seams.sparseBuffers !== false)
    this.lib = lib
    this.fd = fd
    this.setupFlags = setupFlags
    this.features = features
    this.sqEntries = sqEntries
    this.cqEntries = cqEntries
    this.views = views
    this.mappings = mappings
    this.sq = new SubmissionQueue(views, sqOff, sqEntries)
    this.cq = new CompletionQueue(views, cqOff)
    // Room for every CQE of what is in flight, plus the teardown's cancel.
    this.capacity = Math.min(sqEntries, cqEntries - 1)
    this.slots = new SlotTable(this.capacity + 1)
    this.poll = lib.koffi.node.poll(fd, { readable: true }, () => this.reap())
    this.poll.unref()
  }

  // -----------------------------------------------------------------------------------------------
  // Submission
  // -----------------------------------------------------------------------------------------------

  /**
   * Accepts an op: prepares its SQEs now when there is room, else queues it. Returns an errno
   * (positive) when the op cannot be accepted at all, 0 otherwise. Retains the op's holds.
   */
  start(op: Op): number {
    if (this.closing) return Abi.EBADF
    if (op.allocation?.freed === true) return Abi.EFAULT // the memory is gone
    if (this.waiting.count === 0 && this.inFlight + op.sqeCount <= this.capacity) {
      retainHolds(op)
      this.prepare(op)
      return 0
    }
    if (this.waiting.count >= QUEUED_OPS_MAX) return Abi.EAGAIN
    retainHolds(op)
    op.state = QUEUED
    this.waiting.push(op)
    this.stats.queuedWaits += 1
    return 0
  }

  /** The fiber waiting for a queued op was interrupted: forget the op (the kernel never saw it). */
  abandon(op: Op): void {
    if (op.state !== QUEUED) return // prepared: the kernel owns it, the CQE will finish it
    this.waiting.remove(op)
    op.state = DONE
    op.complete = undefined
    releaseHolds(op)
  }

  isQueued(op: Op): boolean {
    return op.state === QUEUED
  }

  /** Operations waiting for room. */
  get queuedCount(): number {
    return this.waiting.count
  }

  /** Writes the op's SQE(s) and publishes the tail. Precondition: room for op.sqeCount. */
  private prepare(op: Op): void {
    if (this.inFlight + op.sqeCount > this.capacity + (op.opcode === Abi.IORING_OP_ASYNC_CANCEL ? 1 : 0)) {
      throw new Error(`io_uring: prepare without room (${this.inFlight} + ${op.sqeCount} > ${this.capacity})`)
    }
    this.sq.assertRoom(op.sqeCount)
    const bufIndex = this.buffers.promote(op)
    if (op.fixedGroup !== undefined) this.stats.fixedSqes += 1
    if ((op.sqeFlags & Abi.IOSQE_ASYNC) !== 0) this.stats.offloadedSqes += 1
    op.state = PREPARED
    op.pending = op.sqeCount
    this.sq.pushOp(op, op.submittedOpcode, bufIndex, this.slots)
    // Release the SQEs to the kernel: it reads the tail only inside io_uring_enter (no SQPOLL).
    this.sq.publish()
    this.seams.observer?.onPrepare?.()
    if (this.inFlight === 0) this.refPoll()
    this.inFlight += op.sqeCount
    if (this.inFlight > this.stats.inFlightHigh) this.stats.inFlightHigh = this.inFlight
    if (!this.flushScheduled) {
      this.flushScheduled = true
      if (this.flushTiming === "microtask") queueMicrotask(this.flushCallback)
      else setImmediate(this.flushCallback)
    }
  }

  /** Submits every prepared SQE: one io_uring_enter for the whole batch (more only on EINTR/partial). */
  flush(): void {
    this.flushScheduled = false
    if (this.closed || this.sq.unsubmitted === 0) return
    const failed: Array<Op> = []
    for (let attempt = 0; this.sq.unsubmitted > 0 && attempt < ENTER_ATTEMPTS_MAX; attempt++) {
      const toSubmit = Math.min(
        this.sq.unsubmitted,
        this.seams.submitCount?.(this.sq.unsubmitted) ?? this.sq.unsubmitted,
      )
      const submitted = this.lib.ioUringEnter(this.fd, toSubmit, 0, 0, null, 0)
      this.stats.enters += 1
      if (submitted > 0) {
        this.seams.observer?.onEnter?.(submitted)
        this.sq.consumed(submitted)
        this.stats.sqesSubmitted += submitted
        this.unlinkSplitPair()
        continue
      }
      if (submitted === 0) break
      const errno = this.lib.errno()
      if (errno === Abi.EINTR) continue
      if (errno === Abi.EAGAIN || errno === Abi.EBUSY) break
      this.abortUnsubmitted(-errno, failed)
      break
    }
    if (this.sq.unsubmitted > 0 && this.retryTimer === undefined) {
      this.stats.enterRetries += 1
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined
        this.flush()
      }, ENTER_RETRY_MILLIS)
    }
    finishAll(failed)
  }

  /**
   * After a partial submission that stopped between a linked WRITE and its FSYNC, the FSYNC
   * (submitted alone it would not be ordered after the write) becomes a NOP (`SubmissionQueue.
   * neutralizeSplitFsync`) and its op is marked: its sync is reported as not done, and the
   * FileIo layer syncs again once the write completed.
   */
  private unlinkSplitPair(): void {
    const slot = this.sq.neutralizeSplitFsync()
    if (slot === undefined) return
    const op = this.slots.get(slot)
    if (op === undefined) throw new Error("io_uring: unconsumed SQE without an op")
    op.linkSplit = true
    this.stats.linkSplits += 1
  }

  /** io_uring_enter failed for good: take back the SQEs it did not consume and fail their ops. */
  private abortUnsubmitted(negativeErrno: number, failed: Array<Op>): void {
    this.sq.takeBackUnsubmitted((slot, position) => this.settle(slot, position, negativeErrno, failed))
    if (this.inFlight === 0) this.unrefPoll()
  }

  // -----------------------------------------------------------------------------------------------
  // Completion
  // -----------------------------------------------------------------------------------------------

  /** Records one SQE's result; pushes the op to `done` once all its SQEs have results. */
  private settle(slot: number, position: number, result: number, done: Array<Op>): void {
    const op = this.slots.release(slot)
    this.inFlight -= 1
    if (this.seams.completionResult !== undefined) result = this.seams.completionResult(op.opcode, position, result)
    if (position === 0) op.result0 = result
    else op.result1 = result
    op.pending -= 1
    if (op.pending === 0) {
      op.state = DONE
      done.push(op)
    }
  }

  /** The poll callback: drain the CQ, admit waiters, and only then complete operations. */
  private reap(): void {
    if (this.closed) return
    this.seams.observer?.onReap?.()
    const done: Array<Op> = []
    const settleInto = (slot: number, position: number, result: number): void =>
      this.settle(slot, position, result, done)
    for (let round = 0; round < REAP_ROUNDS_MAX; round++) {
      const reaped = this.cq.drain(settleInto)
      if (reaped === 0) {
        if (!this.sq.cqOverflowFlagged()) break
        // The kernel kept CQEs aside: ask it to move them into the ring, then sweep again.
        this.stats.overflowFlushes += 1
        this.lib.ioUringEnter(this.fd, 0, 0, Abi.IORING_ENTER_GETEVENTS, null, 0)
        continue
      }
      this.stats.cqesReaped += reaped
    }
    // An op the kernel cancelled unrun goes back in line (`resubmit.ts`); a closing ring's are its own.
    const finished = this.closing ? done : takeCancelledUnrun(done, this.waiting, this.stats)
    this.admitQueued()
    if (this.inFlight === 0) this.unrefPoll()
    finishAll(finished)
    // Nothing below may touch ring memory: `finishAll` may have closed the ring.
    if (this.inFlight === 0 && this.idleWaiter !== undefined) {
      const wake = this.idleWaiter
      this.idleWaiter = undefined
      wake()
    }
  }

  private admitQueued(): void {
    while (this.waiting.head !== undefined && !this.closing) {
      const op = this.waiting.head
      if (this.inFlight + op.sqeCount > this.capacity) return
      this.waiting.remove(op)
      this.prepare(op)
    }
  }

  private refPoll(): void {
    if (!this.pollRefed) {
      this.pollRefed = true
      this.poll.ref()
    }
  }

  private unrefPoll(): void {
    if (this.pollRefed) {
      this.pollRefed = false
      this.poll.unref()
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Registered buffers
  // -----------------------------------------------------------------------------------------------

  /** Registers `allocations` as one group (see `buffers.ts`); the group, or a positive errno. */
  registerBuffers(allocations: ReadonlyArray<Memory.Allocation>): Group | number {
    if (this.closing) return Abi.EBADF
    return this.buffers.register(allocations)
  }

  /** Stops promoting new ops to the group's buffers; the caller waits for its `fixedInFlight`. */
  retireBuffers(group: Group): void {
    this.buffers.retire(group)
  }

  /** Empties the group's entries once none of its fixed ops is in flight; a no-op on a closed ring. */
  unregisterBuffers(group: Group): number {
    if (this.closed) return 0
    return this.buffers.unregister(group)
  }

  /** Opcodes the kernel supports (IORING_REGISTER_PROBE, 5.6+), or undefined where it cannot say. */
  supportedOpcodes(): ReadonlyArray<number> | undefined {
    return supportedOpcodes(this.lib, this.fd)
  }

  get hasRegisteredBuffers(): boolean {
    return this.buffers.size > 0
  }

  // -----------------------------------------------------------------------------------------------
  // Teardown
  // -----------------------------------------------------------------------------------------------

  /**
   * Starts closing: refuses new ops, fails queued ones (the kernel never saw them), submits what
   * was prepared, and asks the kernel to cancel whatever is still in flight. `onIdle` runs once
   * every in-flight op was reaped (at once when none is).
   */
  beginClose(onIdle: () => void): void {
    if (this.closing) throw new Error("io_uring: closed twice")
    this.closing = true
    const cancelled: Array<Op> = []
    while (this.waiting.head !== undefined) {
      const op = this.waiting.head
      this.waiting.remove(op)
      op.state = DONE
      op.result0 = -Abi.ECANCELED
      op.result1 = -Abi.ECANCELED
      cancelled.push(op)
    }
    this.flush()
    // The cancel needs one free SQ entry; with every entry still unsubmitted (the kernel refused
    // them for now) skip it: those ops complete on their own.
    if (this.inFlight > 0 && this.sq.unsubmitted < this.sqEntries) {
      const cancel = makeOp({ opcode: Abi.IORING_OP_ASYNC_CANCEL, opFlags: Abi.IORING_ASYNC_CANCEL_ANY })
      this.prepare(cancel)
      this.flush()
    }
    finishAll(cancelled)
    if (this.inFlight === 0) onIdle()
    else this.idleWaiter = onIdle
  }

  /** Releases the poll handle, the mappings and the ring fd. Precondition: nothing in flight. */
  destroy(): void {
    if (this.closed) return
    if (this.inFlight !== 0) throw new Error(`io_uring: destroy with ${this.inFlight} SQEs in flight`)
    this.closed = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.poll.stop()
    this.poll.close()
    Setup.tearDown(this.lib, this.fd, this.views, this.mappings)
  }
}
