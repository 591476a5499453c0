/**
 * The submission side of the shared ring memory: our copy of the SQ tail, the SQE words, the
 * count of SQEs prepared but not yet consumed by io_uring_enter, and the two repairs a failed or
 * partial submission needs. Kept apart from `ring.ts` so the ring reads as op bookkeeping
 * (slots, backpressure, completion order) while every word offset of the SQ lives here.
 *
 * The SQ array maps ring positions to SQE indexes; SQE i is always used for position i, so the
 * array is written once, at construction, and never again. The kernel reads the tail and the SQEs
 * only inside io_uring_enter (no SQPOLL), so an SQE not yet consumed is still ours to rewrite.
 *
 * @internal
 */
import * as Abi from "./abi.ts"
import type { Op } from "./op.ts"
import type { Views } from "./setup.ts"
import type { SlotTable } from "./slotTable.ts"

const TWO_POW_32 = 4294967296

/** The fields of one SQE fsys writes; the rest of the 64 bytes is zeroed. */
export interface SqeFields {
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

export class SubmissionQueue {
  readonly entries: number
  /** SQEs prepared, not yet consumed by io_uring_enter. Invariant: ≤ the ring's in-flight count. */
  unsubmitted = 0
  private readonly sq: Uint32Array
  private readonly sqes: Uint32Array
  // Word indexes into `sq`, read once from the params the kernel filled.
  private readonly headWord: number
  private readonly tailWord: number
  private readonly flagsWord: number
  private readonly mask: number
  /** Our copy of the SQ tail (only we write it); stored to shared memory by `publish`. */
  private tail: number

  constructor(views: Views, sqOff: (field: number) => number, entries: number) {
    this.entries = entries
    this.sq = views.sq
    this.sqes = views.sqes
    this.headWord = sqOff(Abi.SQ_OFF_HEAD) / 4
    this.tailWord = sqOff(Abi.SQ_OFF_TAIL) / 4
    this.flagsWord = sqOff(Abi.SQ_OFF_FLAGS) / 4
    this.mask = views.sq[sqOff(Abi.SQ_OFF_RING_MASK) / 4]
    const arrayWord = sqOff(Abi.SQ_OFF_ARRAY) / 4
    for (let i = 0; i < entries; i++) views.sq[arrayWord + i] = i
    this.tail = views.sq[this.tailWord]
  }

  /** Pair assertion: the SQ ring itself has room (unconsumed SQEs ≤ in flight ≤ capacity ≤ entries). */
  assertRoom(sqeCount: number): void {
    const unconsumed = (this.tail - Atomics.load(this.sq, this.headWord)) >>> 0
    if (unconsumed + sqeCount > this.entries) {
      throw new Error(`io_uring: SQ ring full (${unconsumed} unconsumed + ${sqeCount} > ${this.entries})`)
    }
  }

  /** Writes one SQE at the tail, tagged with `slot` (user_data's low word); not yet published. */
  push(sqe: SqeFields, slot: number): void {
    const s = this.sqes
    const w = (this.tail & this.mask) * Abi.SQE_WORDS
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
    this.tail = (this.tail + 1) >>> 0
    this.unsubmitted += 1
  }

  /**
   * Writes the op's SQEs, each in a slot taken from `slots`: the first with `opcode` (after
   * fixed-buffer promotion) and `bufIndex`, then, for a linked pair, its FSYNC, IO_LINKed to the
   * first so the kernel starts it only after the write completed in full.
   */
  pushOp(op: Op, opcode: number, bufIndex: number, slots: SlotTable): void {
    const linked = op.linkedFsyncFlags >= 0
    this.push(
      {
        opcode,
        flags: (linked ? Abi.IOSQE_IO_LINK : 0) | op.sqeFlags,
        fd: op.fd,
        offsetBytes: op.offsetBytes,
        address: op.address,
        lengthBytes: op.lengthBytes,
        opFlags: op.opFlags,
        bufIndex,
        position: 0,
      },
      slots.take(op),
    )
    if (!linked) return
    this.push(
      {
        opcode: Abi.IORING_OP_FSYNC,
        flags: 0,
        fd: op.fd,
        offsetBytes: 0,
        address: 0,
        lengthBytes: 0,
        opFlags: op.linkedFsyncFlags,
        bufIndex: 0,
        position: 1,
      },
      slots.take(op),
    )
  }

  /** Releases the pushed SQEs to the kernel: it reads the tail only inside io_uring_enter. */
  publish(): void {
    Atomics.store(this.sq, this.tailWord, this.tail)
  }

  /** io_uring_enter consumed `submitted` SQEs. */
  consumed(submitted: number): void {
    this.unsubmitted -= Math.min(submitted, this.unsubmitted)
  }

  /** The kernel flagged a CQ overflow: it kept CQEs aside that io_uring_enter(GETEVENTS) flushes. */
  cqOverflowFlagged(): boolean {
    return (Atomics.load(this.sq, this.flagsWord) & Abi.IORING_SQ_CQ_OVERFLOW) !== 0
  }

  /**
   * After a partial submission: when the first SQE the kernel did not consume is the FSYNC of a
   * linked pair, the kernel already queued the pair's WRITE alone, and the FSYNC, submitted by
   * the next io_uring_enter, would no longer be ordered after it (it could complete first and
   * "sync" nothing). Rewrites it into a NOP while it is still ours and returns the slot of its
   * op, so the ring can report that op's sync as not done; undefined when there is no such SQE.
   */
  neutralizeSplitFsync(): number | undefined {
    if (this.unsubmitted === 0) return undefined
    const s = this.sqes
    const w = (((this.tail - this.unsubmitted) >>> 0) & this.mask) * Abi.SQE_WORDS
    if (s[w + Abi.SQE_WORD_USER_DATA_HI] !== 1) return undefined
    s[w + Abi.SQE_WORD_OPCODE_FLAGS] = Abi.IORING_OP_NOP
    s[w + Abi.SQE_WORD_FD] = 0xffffffff
    s[w + Abi.SQE_WORD_OP_FLAGS] = 0
    return s[w + Abi.SQE_WORD_USER_DATA_LO]
  }

  /**
   * io_uring_enter failed for good: hands each SQE it did not consume to `visit` (slot and
   * position), then takes them back by rewinding the tail.
   */
  takeBackUnsubmitted(visit: (slot: number, position: number) => void): void {
    const s = this.sqes
    for (let i = 0; i < this.unsubmitted; i++) {
      const position = (this.tail - this.unsubmitted + i) >>> 0
      const w = (position & this.mask) * Abi.SQE_WORDS
      visit(s[w + Abi.SQE_WORD_USER_DATA_LO], s[w + Abi.SQE_WORD_USER_DATA_HI])
    }
    this.tail = (this.tail - this.unsubmitted) >>> 0
    this.publish()
    this.unsubmitted = 0
  }
}
