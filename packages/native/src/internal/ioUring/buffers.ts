/**
 * The ring's table of registered (fixed) buffers, shared by every caller of one ring.
 *
 * Why a table: one ring often serves several journals (an Effect app provides
 * `IoUringFileIo.layer` once), and the kernel allows one `IORING_REGISTER_BUFFERS` per ring — a
 * second journal's registration failed `EBUSY` and its open with it. So the first registration
 * creates a sparse table of `TABLE_ENTRIES` empty entries (`IORING_REGISTER_BUFFERS2` with
 * `IORING_RSRC_REGISTER_SPARSE`, Linux 5.19+), and every caller's buffers are put into free entries
 * with `IORING_REGISTER_BUFFERS_UPDATE` (one entry per call: a refusal is then exact) and emptied
 * again the same way when the caller is done. Each caller's buffers form a `Group` with its own
 * in-flight count, so retiring one journal's buffers waits only for that journal's fixed writes,
 * never for another journal that keeps writing.
 *
 * Older kernels (no sparse tables) get the legacy behaviour: one plain registration per ring,
 * later callers are refused `EBUSY`. A refusal is never fatal to the caller: fixed buffers are an
 * optimisation (they save pinning the pages on every IO), and the FileIo layer then runs the same
 * operations as plain READ/WRITE and says why. Pinned pages count against RLIMIT_MEMLOCK for
 * users without CAP_IPC_LOCK, so `ENOMEM` is the usual refusal for non-root users and containers.
 *
 * @internal
 */
import * as InFlight from "../../InFlight.ts"
import type { Native } from "../libc/bindings.ts"
import type * as Memory from "../memory.ts"
import * as Abi from "./abi.ts"
import type { Op } from "./op.ts"

/** Entries in a ring's sparse table: 512 two-slot journals; the kernel's own limit is 16384. */
export const TABLE_ENTRIES = 1024

/** The buffers one caller registered together. */
export interface Group {
  readonly allocations: ReadonlyArray<Memory.Allocation>
  readonly indexes: ReadonlyArray<number>
  /** Fixed SQEs in flight on this group's buffers; emptying the entries waits for 0. */
  readonly fixedInFlight: InFlight.InFlight
}

export interface Entry {
  readonly index: number
  readonly group: Group
}

/** What the table knows about the kernel, learned at the first registration. */
type Mode = "untried" | "sparse" | "legacy"

const iovecs = (allocations: ReadonlyArray<Memory.Allocation>): Uint8Array => {
  // An ArrayBuffer of its own: off-heap, so the address handed to the kernel is stable.
  const bytes = new Uint8Array(new ArrayBuffer(Math.max(1, allocations.length) * Abi.IOVEC_BYTES))
  const view = new DataView(bytes.buffer)
  allocations.forEach((allocation, i) => {
    view.setBigUint64(i * Abi.IOVEC_BYTES, BigInt(allocation.address), true)
    view.setBigUint64(i * Abi.IOVEC_BYTES + 8, BigInt(allocation.byteLength), true)
  })
  return bytes
}

export class BufferTable {
  private mode: Mode = "untried"
  private readonly entries = new Map<Memory.Allocation, Entry>()
  private readonly groups = new Set<Group>()
  /** Free table indexes, used as a stack (sparse mode only). */
  private readonly free: Array<number> = []

  private readonly lib: Native
  private readonly ringFd: number
  /** Test seam: false pretends the kernel has no sparse tables (Linux < 5.19). */
  private readonly sparseAllowed: boolean

  constructor(lib: Native, ringFd: number, sparseAllowed: boolean) {
    this.lib = lib
    this.ringFd = ringFd
    this.sparseAllowed = sparseAllowed
  }

  get size(): number {
    return this.entries.size
  }

  lookup(allocation: Memory.Allocation): Entry | undefined {
    return this.entries.get(allocation)
  }

  /**
   * Promotes a READ or WRITE whose memory is registered to READ_FIXED / WRITE_FIXED: sets the
   * op's submitted opcode and fixed group (retaining the group's `fixedInFlight` until the CQE)
   * and returns the buffer index for the SQE; 0 for an op left as it is.
   */
  promote(op: Op): number {
    op.submittedOpcode = op.opcode
    const entry = op.allocation === undefined ? undefined : this.entries.get(op.allocation)
    if (entry === undefined || (op.opcode !== Abi.IORING_OP_WRITE && op.opcode !== Abi.IORING_OP_READ)) return 0
    op.submittedOpcode = op.opcode === Abi.IORING_OP_WRITE ? Abi.IORING_OP_WRITE_FIXED : Abi.IORING_OP_READ_FIXED
    op.fixedGroup = entry.group
    InFlight.retain(entry.group.fixedInFlight)
    return entry.index
  }

  /** Registers `allocations` as one group; returns it, or a positive errno (nothing registered). */
  register(allocations: ReadonlyArray<Memory.Allocation>): Group | number {
    if (allocations.length === 0 || allocations.length > TABLE_ENTRIES) return Abi.EINVAL
    for (const allocation of allocations) if (this.entries.has(allocation)) return Abi.EBUSY
    if (this.mode === "untried") this.mode = this.createSparseTable() ? "sparse" : "legacy"
    return this.mode === "sparse" ? this.registerSparse(allocations) : this.registerLegacy(allocations)
  }

  /** Stops new ops from using the group's entries; the caller then waits for `fixedInFlight`. */
  retire(group: Group): void {
    for (const allocation of group.allocations) {
      if (this.entries.get(allocation)?.group === group) this.entries.delete(allocation)
    }
  }

  /** Empties the group's entries once no fixed op uses them; returns a positive errno or 0. */
  unregister(group: Group): number {
    if (group.fixedInFlight.count !== 0) throw new Error("io_uring: unregister with fixed ops in flight")
    if (!this.groups.delete(group)) return 0
    this.retire(group)
    if (this.mode === "legacy") {
      return this.lib.ioUringRegister(this.ringFd, Abi.IORING_UNREGISTER_BUFFERS, null, 0) < 0 ? this.lib.errno() : 0
    }
    let failure = 0
    for (const index of group.indexes) {
      const errno = this.update(index, [])
      // An entry the kernel would not empty stays pinned until the ring closes; never reuse it.
      if (errno === 0) this.free.push(index)
      else failure ||= errno
    }
    return failure
  }

  private createSparseTable(): boolean {
    if (!this.sparseAllowed) return false
    const register = new Uint8Array(new ArrayBuffer(Abi.RSRC_STRUCT_BYTES))
    const view = new DataView(register.buffer)
    view.setUint32(0, TABLE_ENTRIES, true) // nr
    view.setUint32(4, Abi.IORING_RSRC_REGISTER_SPARSE, true) // flags; data and tags stay 0
    const result = this.lib.ioUringRegister(this.ringFd, Abi.IORING_REGISTER_BUFFERS2, register, Abi.RSRC_STRUCT_BYTES)
    if (result < 0) return false
    for (let index = TABLE_ENTRIES - 1; index >= 0; index--) this.free.push(index)
    return true
  }

  /** IORING_REGISTER_BUFFERS_UPDATE of one entry: `allocation`, or empty when none. */
  private update(index: number, allocation: ReadonlyArray<Memory.Allocation>): number {
    const vectors = iovecs(allocation)
    const update = new Uint8Array(new ArrayBuffer(Abi.RSRC_STRUCT_BYTES))
    const view = new DataView(update.buffer)
    view.setUint32(0, index, true) // offset
    view.setBigUint64(8, BigInt(this.lib.addressOf(vectors)), true) // data: the iovec
    view.setUint32(24, 1, true) // nr
    const result = this.lib.ioUringRegister(
      this.ringFd,
      Abi.IORING_REGISTER_BUFFERS_UPDATE,
      update,
      Abi.RSRC_STRUCT_BYTES,
    )
    return result < 0 ? this.lib.errno() : 0
  }

  private registerSparse(allocations: ReadonlyArray<Memory.Allocation>): Group | number {
    if (this.free.length < allocations.length) return Abi.EBUSY
    const indexes: Array<number> = []
    for (const allocation of allocations) {
      const index = this.free.pop()!
      const errno = this.update(index, [allocation])
      if (errno !== 0) {
        this.free.push(index)
        // Undo this group's entries: a refused registration leaves nothing pinned.
        for (const done of indexes) if (this.update(done, []) === 0) this.free.push(done)
        return errno
      }
      indexes.push(index)
    }
    return this.add(allocations, indexes)
  }

  private registerLegacy(allocations: ReadonlyArray<Memory.Allocation>): Group | number {
    if (this.groups.size > 0) return Abi.EBUSY
    const vectors = iovecs(allocations)
    const result = this.lib.ioUringRegister(this.ringFd, Abi.IORING_REGISTER_BUFFERS, vectors, allocations.length)
    if (result < 0) return this.lib.errno()
    return this.add(
      allocations,
      allocations.map((_, i) => i),
    )
  }

  private add(allocations: ReadonlyArray<Memory.Allocation>, indexes: ReadonlyArray<number>): Group {
    const group: Group = { allocations, indexes, fixedInFlight: InFlight.make() }
    this.groups.add(group)
    allocations.forEach((allocation, i) => {
      this.entries.set(allocation, { index: indexes[i]!, group })
    })
    return group
  }
}
