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
 *   in a FIFO of at most `QUEUED_OPS_MAX` entries (a linked list: O(1) removal on interrupt).
 * - Partial submissions: should io_uring_enter consume fewer SQEs than asked and stop between a
 *   linked WRITE and its FSYNC, the FSYNC is turned into a NOP before the next enter
 *   (`unlinkSplitPair`) and the op reports its sync as not done: an FSYNC submitted apart from
 *   its WRITE is not ordered after it.
 * - Fixed buffers: a table shared by every caller of the ring (`buffers.ts`).
 * - Memory safety: an op retains the `InFlight` of its memory (and of its fixed-buffer group)
 *   from `start` until its CQE is reaped (or until it is abandoned while still queued, when the kernel never saw it).
 *   Every piece of ring bookkeeping (slots, counters, CQ head) is done BEFORE any `complete`
 *   callback runs, because completing resumes a fiber synchronously and that fiber may free
 *   memory or close this very ring.
 *
 * @internal
 */
import * as InFlight from "../../InFlight.ts"
import * as Libc from "../../Libc.ts"
import type * as Memory from "../memory.ts"
import * as Abi from "./abi.ts"
import { BufferTable, type Group } from "./buffers.ts"
import { DONE, makeOp, type Op, PREPARED, QUEUED, type Stats } from "./op.ts"
import * as Setup from "./setup.ts"

export { makeOp, type Op, type OpSpec, type Stats } from "./op.ts"

/** Most operations that may wait for room at once; past this `start` fails with `Busy`. */
export const QUEUED_OPS_MAX = 1 << 16
/** Bound on io_uring_enter attempts in one flush (EINTR / partial submission). */
const ENTER_ATTEMPTS_MAX = 8
/** Delay before retrying a submission the kernel refused for lack of resources (EAGAIN/EBUSY). */
const ENTER_RETRY_MILLIS = 1
/** Bound on CQ sweeps in one reap (each sweep drains everything visible). */
const REAP_ROUNDS_MAX = 4
/** Smallest and largest ring sizes accepted. */
export const ENTRIES_MIN = 2
export const ENTRIES_MAX = 4096
/** Registered buffers per ring, over all callers (see `buffers.ts`). */
export { TABLE_ENTRIES as REGISTERED_BUFFERS_MAX } from "./buffers.ts"

const TWO_POW_32 = 4294967296

type PollHandle = ReturnType<Libc.Native["koffi"]["node"]["poll"]>

/** Test seams: behaviours of other kernels and rare kernel answers, on demand. */
export interface Seams {
  /** false: behave as on kernels without sparse buffer tables (< 5.19). */
  readonly sparseBuffers?: boolean
  /** How many of the `unsubmitted` SQEs to pass to one io_uring_enter (the kernel may take fewer). */
  readonly submitCount?: (unsubmitted: number) => number
}

interface SqeFields {
  readonly opcode: number
  readonly flags: number
  readonly fd: number
  readonly offsetBytes: number
  readonly address: number
  readonly lengthBytes: number
  readonly opFlags: number
  readonly bufIndex: number
  /** The SQE's place in its op: 0 for the first, 1 for a linked FSYNC (user_data's high word). */
  readonly position: number
}

export class Ring {
  readonly fd: number
  readonly sqEntries: number
  readonly cqEntries: number
  readonly features: number
  readonly setupFlags: number
  /** Invariant: SQEs in flight never exceed this = min(sqEntries, cqEntries - 1): the CQ always has room. */
  readonly capacity: number
  readonly stats: Stats = {
    enters: 0,
    sqesSubmitted: 0,
    cqesReaped: 0,
    queuedWaits: 0,
    fixedSqes: 0,
    overflowFlushes: 0,
    enterRetries: 0,
    linkSplits: 0,
    inFlightHigh: 0,
  }

  private readonly lib: Libc.Native
  private readonly mappings: ReadonlyArray<Setup.Mapping>
  private views: Setup.Views
  // Word indexes into the views, read once from the params the kernel filled.
  private readonly sqHead: number
  private readonly sqTailWord: number
  private readonly sqFlags: number
  private readonly sqMask: number
  private readonly cqHead: number
  private readonly cqTail: number
  private readonly cqMask: number
  private readonly cqes: number

  /** Our copy of the SQ tail (only we write it); stored to shared memory after each op. */
  private sqTail: number
  /** slot → op; a slot is the user_data of one SQE. Size capacity + 1 (one spare for cancel). */
  private readonly slots: Array<Op | undefined>
  private readonly freeSlots: Int32Array
  private freeSlotCount: number
  /** SQEs prepared or submitted, not yet reaped. */
  inFlight = 0
  /** SQEs prepared, not yet consumed by io_uring_enter. Invariant: ≤ inFlight. */
  private unsubmitted = 0
  private queueHead: Op | undefined = undefined
  private queueTail: Op | undefined = undefined
  queuedCount = 0
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

  private readonly flushCallback = (): void => this.flush()

  /** Builds a ring; throws an `IoError` after releasing whatever it had set up. */
  static create(entries: number, seams: Seams = {}): Ring {
    const lib = Libc.nativeUnsafe()
    return new Ring(lib, { ...Setup.setUp(lib, entries), seams })
  }

  private constructor(lib: Libc.Native, setup: Setup.SetUp & { readonly seams: Seams }) {
    const { fd, setupFlags, features, sqEntries, cqEntries, sqOff, cqOff, views, mappings } = setup
    this.seams = setup.seams
    this.buffers = new BufferTable(lib, fd, setup.seams.sparseBuffers !== false)
    this.lib = lib
    this.fd = fd
    this.setupFlags = setupFlags
    this.features = features
    this.sqEntries = sqEntries
    this.cqEntries = cqEntries
    this.views = views
    this.mappings = mappings
    this.sqHead = sqOff(Abi.SQ_OFF_HEAD) / 4
    this.sqTailWord = sqOff(Abi.SQ_OFF_TAIL) / 4
    this.sqFlags = sqOff(Abi.SQ_OFF_FLAGS) / 4
    this.sqMask = views.sq[sqOff(Abi.SQ_OFF_RING_MASK) / 4]
    this.cqHead = cqOff(Abi.CQ_OFF_HEAD) / 4
    this.cqTail = cqOff(Abi.CQ_OFF_TAIL) / 4
    this.cqMask = views.cq[cqOff(Abi.CQ_OFF_RING_MASK) / 4]
    this.cqes = cqOff(Abi.CQ_OFF_CQES) / 4
    // The SQ array maps ring positions to SQE indexes; we always use SQE i for position i, so it is
    // written once here and never again.
    const arrayWord = sqOff(Abi.SQ_OFF_ARRAY) / 4
    for (let i = 0; i < sqEntries; i++) views.sq[arrayWord + i] = i
    this.sqTail = views.sq[this.sqTailWord]
    // Room for every CQE of what is in flight, plus the teardown's cancel.
    this.capacity = Math.min(sqEntries, cqEntries - 1)
    this.slots = new Array<Op | undefined>(this.capacity + 1).fill(undefined)
    this.freeSlots = new Int32Array(this.capacity + 1)
    for (let i = 0; i <= this.capacity; i++) this.freeSlots[i] = this.capacity - i
    this.freeSlotCount = this.capacity + 1
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
    if (this.queuedCount === 0 && this.inFlight + op.sqeCount <= this.capacity) {
      this.retainHolds(op)
      this.prepare(op)
      return 0
    }
    if (this.queuedCount >= QUEUED_OPS_MAX) return Abi.EAGAIN
    this.retainHolds(op)
    op.state = QUEUED
    op.prev = this.queueTail
    op.next = undefined
    if (this.queueTail === undefined) this.queueHead = op
    else this.queueTail.next = op
    this.queueTail = op
    this.queuedCount += 1
    this.stats.queuedWaits += 1
    return 0
  }

  /** The fiber waiting for a queued op was interrupted: forget the op (the kernel never saw it). */
  abandon(op: Op): void {
    if (op.state !== QUEUED) return // prepared: the kernel owns it, the CQE will finish it
    this.unlink(op)
    op.state = DONE
    op.complete = undefined
    this.releaseHolds(op)
  }

  isQueued(op: Op): boolean {
    return op.state === QUEUED
  }

  private unlink(op: Op): void {
    if (op.prev === undefined) this.queueHead = op.next
    else op.prev.next = op.next
    if (op.next === undefined) this.queueTail = op.prev
    else op.next.prev = op.prev
    op.prev = undefined
    op.next = undefined
    this.queuedCount -= 1
  }

  private retainHolds(op: Op): void {
    if (op.allocation !== undefined) InFlight.retain(op.allocation.inFlight)
    if (op.hold !== undefined) InFlight.retain(op.hold)
  }

  private releaseHolds(op: Op): void {
    if (op.fixedGroup !== undefined) InFlight.release(op.fixedGroup.fixedInFlight)
    op.fixedGroup = undefined
    if (op.allocation !== undefined) InFlight.release(op.allocation.inFlight)
    if (op.hold !== undefined) InFlight.release(op.hold)
    op.hold = undefined
    op.keepalive = undefined
    this.settled(op)
  }

  /** Runs the op's `onSettled` once; also for ops refused before any hold was retained. */
  settled(op: Op): void {
    const onSettled = op.onSettled
    op.onSettled = undefined
    if (onSettled !== undefined) onSettled()
  }

  /** Writes the op's SQE(s) and publishes the tail. Precondition: room for op.sqeCount. */
  private prepare(op: Op): void {
    if (this.inFlight + op.sqeCount > this.capacity + (op.opcode === Abi.IORING_OP_ASYNC_CANCEL ? 1 : 0)) {
      throw new Error(`io_uring: prepare without room (${this.inFlight} + ${op.sqeCount} > ${this.capacity})`)
    }
    // Pair assertion: the SQ ring itself has room (unconsumed SQEs ≤ in flight ≤ capacity ≤ entries).
    const unconsumed = (this.sqTail - Atomics.load(this.views.sq, this.sqHead)) >>> 0
    if (unconsumed + op.sqeCount > this.sqEntries) {
      throw new Error(`io_uring: SQ ring full (${unconsumed} unconsumed + ${op.sqeCount} > ${this.sqEntries})`)
    }
    let opcode = op.opcode
    let bufIndex = 0
    const entry = op.allocation === undefined ? undefined : this.buffers.lookup(op.allocation)
    if (entry !== undefined && (opcode === Abi.IORING_OP_WRITE || opcode === Abi.IORING_OP_READ)) {
      opcode = opcode === Abi.IORING_OP_WRITE ? Abi.IORING_OP_WRITE_FIXED : Abi.IORING_OP_READ_FIXED
      bufIndex = entry.index
      op.fixedGroup = entry.group
      InFlight.retain(entry.group.fixedInFlight)
      this.stats.fixedSqes += 1
    }
    op.submittedOpcode = opcode
    op.state = PREPARED
    op.pending = op.sqeCount
    const linked = op.linkedFsyncFlags >= 0
    this.writeSqe(op, {
      opcode,
      flags: linked ? Abi.IOSQE_IO_LINK : 0,
      fd: op.fd,
      offsetBytes: op.offsetBytes,
      address: op.address,
      lengthBytes: op.lengthBytes,
      opFlags: op.opFlags,
      bufIndex,
      position: 0,
    })
    if (linked) {
      this.writeSqe(op, {
        opcode: Abi.IORING_OP_FSYNC,
        flags: 0,
        fd: op.fd,
        offsetBytes: 0,
        address: 0,
        lengthBytes: 0,
        opFlags: op.linkedFsyncFlags,
        bufIndex: 0,
        position: 1,
      })
    }
    // Release the SQEs to the kernel: it reads the tail only inside io_uring_enter (no SQPOLL).
    Atomics.store(this.views.sq, this.sqTailWord, this.sqTail)
    if (this.inFlight === 0) this.refPoll()
    this.inFlight += op.sqeCount
    this.unsubmitted += op.sqeCount
    if (this.inFlight > this.stats.inFlightHigh) this.stats.inFlightHigh = this.inFlight
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flushCallback)
    }
  }

  private writeSqe(op: Op, sqe: SqeFields): void {
    const slot = this.freeSlots[--this.freeSlotCount]
    this.slots[slot] = op
    const s = this.views.sqes
    const w = (this.sqTail & this.sqMask) * Abi.SQE_WORDS
    s[w + Abi.SQE_WORD_OPCODE_FLAGS] = sqe.opcode | (sqe.flags << 8)
    s[w + Abi.SQE_WORD_FD] = sqe.fd
    s[w + Abi.SQE_WORD_OFF_LO] = sqe.offsetBytes >>> 0
    s[w + Abi.SQE_WORD_OFF_HI] = Math.floor(sqe.offsetBytes / TWO_POW_32)
    s[w + Abi.SQE_WORD_ADDR_LO] = sqe.address >>> 0
    s[w + Abi.SQE_WORD_ADDR_HI] = Math.floor(sqe.address / TWO_POW_32)
    s[w + Abi.SQE_WORD_LEN] = sqe.lengthBytes
    s[w + Abi.SQE_WORD_OP_FLAGS] = sqe.opFlags
    s[w + Abi.SQE_WORD_USER_DATA_LO] = slot
    s[w + Abi.SQE_WORD_USER_DATA_HI] = sqe.position
    s[w + Abi.SQE_WORD_BUF_INDEX] = sqe.bufIndex
    for (let i = Abi.SQE_WORD_BUF_INDEX + 1; i < Abi.SQE_WORDS; i++) s[w + i] = 0
    this.sqTail = (this.sqTail + 1) >>> 0
  }

  /** Submits every prepared SQE: one io_uring_enter for the whole batch (more only on EINTR/partial). */
  flush(): void {
    this.flushScheduled = false
    if (this.closed || this.unsubmitted === 0) return
    const failed: Array<Op> = []
    for (let attempt = 0; this.unsubmitted > 0 && attempt < ENTER_ATTEMPTS_MAX; attempt++) {
      const toSubmit = Math.min(this.unsubmitted, this.seams.submitCount?.(this.unsubmitted) ?? this.unsubmitted)
      const submitted = this.lib.ioUringEnter(this.fd, toSubmit, 0, 0, null, 0)
      this.stats.enters += 1
      if (submitted > 0) {
        this.unsubmitted -= Math.min(submitted, this.unsubmitted)
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
    if (this.unsubmitted > 0 && this.retryTimer === undefined) {
      this.stats.enterRetries += 1
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined
        this.flush()
      }, ENTER_RETRY_MILLIS)
    }
    this.finishAll(failed)
  }

  /**
   * After a partial submission: when the first SQE the kernel did not consume is the FSYNC of a
   * linked pair, the kernel already queued the pair's WRITE alone, and the FSYNC, submitted by
   * the next io_uring_enter, would no longer be ordered after it (it could complete first and
   * "sync" nothing). Rewrite it into a NOP while it is still ours (the kernel reads an SQE only
   * when it consumes it; no SQPOLL) and mark the op: its sync is reported as not done, and the
   * FileIo layer syncs again once the write completed.
   */
  private unlinkSplitPair(): void {
    if (this.unsubmitted === 0) return
    const s = this.views.sqes
    const w = (((this.sqTail - this.unsubmitted) >>> 0) & this.sqMask) * Abi.SQE_WORDS
    if (s[w + Abi.SQE_WORD_USER_DATA_HI] !== 1) return
    const op = this.slots[s[w + Abi.SQE_WORD_USER_DATA_LO]!]
    if (op === undefined) throw new Error("io_uring: unconsumed SQE without an op")
    op.linkSplit = true
    this.stats.linkSplits += 1
    s[w + Abi.SQE_WORD_OPCODE_FLAGS] = Abi.IORING_OP_NOP
    s[w + Abi.SQE_WORD_FD] = 0xffffffff
    s[w + Abi.SQE_WORD_OP_FLAGS] = 0
  }

  /** io_uring_enter failed for good: take back the SQEs it did not consume and fail their ops. */
  private abortUnsubmitted(negativeErrno: number, failed: Array<Op>): void {
    const s = this.views.sqes
    for (let i = 0; i < this.unsubmitted; i++) {
      const position = (this.sqTail - this.unsubmitted + i) >>> 0
      const w = (position & this.sqMask) * Abi.SQE_WORDS
      this.settle(s[w + Abi.SQE_WORD_USER_DATA_LO], s[w + Abi.SQE_WORD_USER_DATA_HI], negativeErrno, failed)
    }
    this.sqTail = (this.sqTail - this.unsubmitted) >>> 0
    Atomics.store(this.views.sq, this.sqTailWord, this.sqTail)
    this.unsubmitted = 0
    if (this.inFlight === 0) this.unrefPoll()
  }

  // -----------------------------------------------------------------------------------------------
  // Completion
  // -----------------------------------------------------------------------------------------------

  /** Records one SQE's result; pushes the op to `done` once all its SQEs have results. */
  private settle(slot: number, position: number, result: number, done: Array<Op>): void {
    const op = this.slots[slot]
    if (op === undefined) throw new Error(`io_uring: completion for empty slot ${slot}`)
    this.slots[slot] = undefined
    this.freeSlots[this.freeSlotCount++] = slot
    this.inFlight -= 1
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
    const done: Array<Op> = []
    const { cq, cqRes } = this.views
    for (let round = 0; round < REAP_ROUNDS_MAX; round++) {
      let head = cq[this.cqHead]
      const tail = Atomics.load(cq, this.cqTail)
      if (head === tail) {
        if ((Atomics.load(this.views.sq, this.sqFlags) & Abi.IORING_SQ_CQ_OVERFLOW) === 0) break
        // The kernel kept CQEs aside: ask it to move them into the ring, then sweep again.
        this.stats.overflowFlushes += 1
        this.lib.ioUringEnter(this.fd, 0, 0, Abi.IORING_ENTER_GETEVENTS, null, 0)
        continue
      }
      while (head !== tail) {
        const w = this.cqes + (head & this.cqMask) * Abi.CQE_WORDS
        this.settle(
          cq[w + Abi.CQE_WORD_USER_DATA_LO],
          cq[w + Abi.CQE_WORD_USER_DATA_HI],
          cqRes[w + Abi.CQE_WORD_RES],
          done,
        )
        head = (head + 1) >>> 0
        this.stats.cqesReaped += 1
      }
      // Hand the CQ slots back to the kernel only after every CQE was read.
      Atomics.store(cq, this.cqHead, head)
    }
    this.admitQueued()
    if (this.inFlight === 0) this.unrefPoll()
    this.finishAll(done)
    // Nothing below may touch ring memory: `finishAll` may have closed the ring.
    if (this.inFlight === 0 && this.idleWaiter !== undefined) {
      const wake = this.idleWaiter
      this.idleWaiter = undefined
      wake()
    }
  }

  private admitQueued(): void {
    while (this.queueHead !== undefined && !this.closing) {
      const op = this.queueHead
      if (this.inFlight + op.sqeCount > this.capacity) return
      this.unlink(op)
      this.prepare(op)
    }
  }

  /** Releases holds and completes, in order. Runs after all bookkeeping; tolerates throwing callbacks. */
  private finishAll(done: ReadonlyArray<Op>): void {
    let failure: unknown
    for (const op of done) {
      this.releaseHolds(op)
      const complete = op.complete
      op.complete = undefined
      if (complete === undefined) continue
      try {
        complete(op)
      } catch (error) {
        failure ??= error
      }
    }
    if (failure !== undefined) {
      queueMicrotask(() => {
        throw failure
      })
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
    const probe = new Uint8Array(Abi.PROBE_HEADER_BYTES + Abi.PROBE_OPS_MAX * Abi.PROBE_OP_BYTES)
    if (this.lib.ioUringRegister(this.fd, Abi.IORING_REGISTER_PROBE, probe, Abi.PROBE_OPS_MAX) < 0) return undefined
    const opsLength = Math.min(probe[1]!, Abi.PROBE_OPS_MAX)
    const supported: Array<number> = []
    for (let i = 0; i < opsLength; i++) {
      const base = Abi.PROBE_HEADER_BYTES + i * Abi.PROBE_OP_BYTES
      const flags = probe[base + 2]! | (probe[base + 3]! << 8)
      if ((flags & Abi.IO_URING_OP_SUPPORTED) !== 0) supported.push(probe[base]!)
    }
    return supported
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
    while (this.queueHead !== undefined) {
      const op = this.queueHead
      this.unlink(op)
      op.state = DONE
      op.result0 = -Abi.ECANCELED
      op.result1 = -Abi.ECANCELED
      cancelled.push(op)
    }
    this.flush()
    // The cancel needs one free SQ entry; with every entry still unsubmitted (the kernel refused
    // them for now) skip it: those ops complete on their own.
    if (this.inFlight > 0 && this.unsubmitted < this.sqEntries) {
      const cancel = makeOp({ opcode: Abi.IORING_OP_ASYNC_CANCEL, opFlags: Abi.IORING_ASYNC_CANCEL_ANY })
      this.prepare(cancel)
      this.flush()
    }
    this.finishAll(cancelled)
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
    // Detach every view before unmapping so a stray access reads nothing instead of faulting.
    const buffers = new Set<ArrayBuffer>([
      this.views.sq.buffer as ArrayBuffer,
      this.views.cq.buffer as ArrayBuffer,
      this.views.sqes.buffer as ArrayBuffer,
    ])
    for (const buffer of buffers) if (!buffer.detached) buffer.transfer(0)
    for (const mapping of this.mappings) this.lib.munmap(mapping.address, mapping.lengthBytes)
    this.lib.closeNonBlocking(this.fd)
  }
}
