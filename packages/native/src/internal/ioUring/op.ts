/**
 * What the ring tracks per logical operation (`Op`: one SQE, or a WRITE and its linked FSYNC),
 * how one is made (`makeOp` from an `OpSpec`), and the ring's counters.
 *
 * @internal
 */
import type * as Memory from "../memory.ts"
import type * as InFlight from "../../InFlight.ts"
import type { Group } from "./buffers.ts"

/** Op states (`Op.state`). */
export const QUEUED = 0
export const PREPARED = 1
export const DONE = 2

/**
 * One logical operation: one SQE, or two for a WRITE linked to an FSYNC.
 */
export interface Op {
  /** Opcode of the first SQE before fixed-buffer promotion (WRITE, READ, FSYNC, NOP, ASYNC_CANCEL). */
  opcode: number
  fd: number
  address: number
  lengthBytes: number
  offsetBytes: number
  /** rw_flags (RWF_DSYNC), fsync_flags or cancel_flags of the first SQE. */
  opFlags: number
  /** fsync_flags of the linked FSYNC, or -1 when the op is a single SQE. */
  linkedFsyncFlags: number
  /** IOSQE_* flags of the first SQE besides the link (IOSQE_ASYNC), 0 for none. */
  sqeFlags: number
  sqeCount: number
  /** SQEs not yet reaped. */
  pending: number
  result0: number
  result1: number
  /** The opcode actually submitted for the first SQE (READ_FIXED/WRITE_FIXED when promoted). */
  submittedOpcode: number
  /** Keeps JS memory the kernel reads or writes reachable until the CQE. */
  keepalive: Uint8Array | undefined
  allocation: Memory.Allocation | undefined
  /** Called exactly once when the ring is done with the op (reaped, refused or abandoned). */
  onSettled: (() => void) | undefined
  /** The caller's hold, retained from acceptance until the op settles (tells whether the ring took it). */
  hold: InFlight.InFlight | undefined
  /** The registered group the first SQE uses as a fixed buffer, retained until the CQE. */
  fixedGroup: Group | undefined
  /**
   * The kernel consumed the WRITE of a linked pair but not its FSYNC (a partial submission): the
   * FSYNC was turned into a NOP, because submitted alone it would not be ordered after the write.
   * The op then reports its sync as not done.
   */
  linkSplit: boolean
  /** Times the ring submitted it again after the kernel cancelled it unrun (`resubmit.ts`). */
  resubmits: number
  state: number
  complete: ((op: Op) => void) | undefined
  prev: Op | undefined
  next: Op | undefined
}

/** What an op is made of; everything but `opcode` is optional (a NOP needs nothing else). */
export interface OpSpec {
  readonly opcode: number
  /** -1 for ops without a file (NOP, ASYNC_CANCEL). */
  readonly fd?: number
  /** rw_flags, fsync_flags or cancel_flags of the first SQE. */
  readonly opFlags?: number
  /** fsync_flags of a FSYNC linked after the first SQE; absent for a single SQE. */
  readonly linkedFsyncFlags?: number
  /** IOSQE_* flags of the first SQE besides the link (default 0). */
  readonly sqeFlags?: number
  /** The memory the kernel reads or writes, kept reachable until the CQE. */
  readonly bytes?: Uint8Array
  readonly address?: number
  readonly offsetBytes?: number
  readonly allocation?: Memory.Allocation | undefined
  readonly onSettled?: (() => void) | undefined
  readonly hold?: InFlight.InFlight | undefined
}

export const makeOp = (spec: OpSpec): Op => ({
  opcode: spec.opcode,
  fd: spec.fd ?? -1,
  address: spec.address ?? 0,
  lengthBytes: spec.bytes === undefined ? 0 : spec.bytes.byteLength,
  offsetBytes: spec.offsetBytes ?? 0,
  opFlags: spec.opFlags ?? 0,
  linkedFsyncFlags: spec.linkedFsyncFlags ?? -1,
  sqeFlags: spec.sqeFlags ?? 0,
  sqeCount: spec.linkedFsyncFlags !== undefined ? 2 : 1,
  pending: 0,
  result0: 0,
  result1: 0,
  submittedOpcode: spec.opcode,
  keepalive: spec.bytes,
  allocation: spec.allocation,
  onSettled: spec.onSettled,
  hold: spec.hold,
  fixedGroup: undefined,
  linkSplit: false,
  resubmits: 0,
  state: QUEUED,
  complete: undefined,
  prev: undefined,
  next: undefined,
})

/** Counters a test or a benchmark can read; they only grow. */
export interface Stats {
  /** io_uring_enter calls made to submit. */
  enters: number
  sqesSubmitted: number
  cqesReaped: number
  /** Operations that had to wait for room (backpressure). */
  queuedWaits: number
  /** SQEs submitted as READ_FIXED / WRITE_FIXED. */
  fixedSqes: number
  /** SQEs sent to the kernel's worker thread (IOSQE_ASYNC, the `offload` option). */
  offloadedSqes: number
  /** CQ overflows flushed (should stay 0: in-flight is bounded below the CQ size). */
  overflowFlushes: number
  /** Submissions retried after EAGAIN/EBUSY. */
  enterRetries: number
  /** Linked pairs the kernel accepted only the WRITE of (their FSYNC became a NOP). */
  linkSplits: number
  /** Ops submitted again after the kernel cancelled them without running them (`resubmit.ts`). */
  resubmits: number
  /** Highest number of SQEs in flight at once. */
  inFlightHigh: number
}

/** A ring's counters before its first operation. */
export const emptyStats = (): Stats => ({
  enters: 0,
  sqesSubmitted: 0,
  cqesReaped: 0,
  queuedWaits: 0,
  fixedSqes: 0,
  offloadedSqes: 0,
  overflowFlushes: 0,
  enterRetries: 0,
  linkSplits: 0,
  resubmits: 0,
  inFlightHigh: 0,
})
