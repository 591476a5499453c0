/**
 * Where the bench's records come from and how they are checked on read-back: a `Source` hands out
 * records with dense ids until the count or the deadline, a `Verifier` checks that every
 * acknowledged record came back exactly once, intact. Every subject is fed and checked by these.
 *
 * @since 0.1.0
 */

/** Records carry their id in the first 4 bytes; the rest is filled with `id & 0xff`. */
const ID_BYTES = 4
/** The smallest record the bench writes: the id plus at least one fill byte to check. */
export const RECORD_BYTES_MIN = ID_BYTES + 1
/** Deadline checks cost a clock read; producers check once per this many records. */
const DEADLINE_CHECK_EVERY = 16
/**
 * Records up to `POOLED_RECORD_BYTES_MAX` are views into a shared `POOL_BYTES` block, the way
 * Node's own `Buffer.allocUnsafe` and `Buffer.from` slice small buffers from a pool (and the way
 * `nextBatch` already cut batches). A fresh `new Uint8Array(100)` per record is the most expensive
 * way there is to make one (an off-heap backing store each, which the collector must also free):
 * it was 14–22 % of every subject's main-thread samples and most of `floor`'s 1.6–2.5 µs per
 * record, so it hid what the stores themselves cost. A block is reused only once every record cut
 * from it was handed back with `release` (see `BlockPool`); one a subject still holds a view of
 * (a queued group commit does) is never written again.
 */
const POOL_BYTES = 64 * 1024
const POOLED_RECORD_BYTES_MAX = 4 * 1024
/**
 * Larger records handed back with `release` that are kept to back later ones. A fresh 1 MiB
 * `Uint8Array` per record (a zeroed mapping, its page faults, the fill, the collector freeing it)
 * was what the 1 MiB row measured: every subject stayed at 295–355 MB/s while the O_DIRECT
 * reference read 729 MB/s, and one reused payload let the journal write at the reference's rate
 * (docs/BENCHMARKS.md, "What else the producer's memory costs"). A producer of large records
 * reuses its buffers; one that makes each anew pays for that, whatever store it writes to. One
 * appender needs one; the bound keeps the list small whoever calls `release`.
 */
export const RELEASED_RECORDS_MAX = 4
/**
 * Full blocks whose records are not all back yet that `BlockPool` still watches. A block that
 * falls off this list (its records held for long) is simply forgotten: the collector frees it.
 */
export const WATCHED_BLOCKS_MAX = 8
/** Blocks whose records all came back, kept to be cut again. */
export const FREE_BLOCKS_MAX = 4

/** A `POOL_BYTES` block and which of its records are still out. */
interface Block {
  readonly bytes: Uint8Array
  /** One flag per record slot: 1 while the record cut there is out (handed out, not released). */
  readonly out: Uint8Array
  outCount: number
}

/**
 * The small records' blocks. Reuse matters as much as pooling at 4 KiB: 200 K records/s cut from
 * fresh blocks are 800 MB/s of off-heap allocation, and the collections that frees were most of
 * the unsynced 4 KiB row's event-loop p99 (3.6–7.5 ms for every subject, node:fs included;
 * `scripts/loop-gaps.ts 4096 3 direct 0 fresh|reused`, docs/BENCHMARKS.md).
 *
 * Invariant: a block is cut again only when `outCount === 0` — every record cut from it was
 * released exactly once (a second release of a slot is ignored, not counted).
 */
class BlockPool {
  private readonly recordBytes: number
  private readonly slots: number
  private current: Block
  private used: number
  private readonly watched: Array<Block> = []
  private readonly free: Array<Block> = []

  constructor(recordBytes: number) {
    this.recordBytes = recordBytes
    this.slots = Math.floor(POOL_BYTES / recordBytes)
    this.current = this.makeBlock()
    this.used = 0
  }

  /** The next record's memory: a view no other record that is out overlaps. */
  cut(): Uint8Array {
    if (this.used === this.slots) this.retire()
    const slot = this.used++
    const block = this.current
    block.out[slot] = 1
    block.outCount++
    return block.bytes.subarray(slot * this.recordBytes, (slot + 1) * this.recordBytes)
  }

  /** Takes back a record `cut` handed out; anything else is ignored. */
  release(payload: Uint8Array): void {
    const block = this.owner(payload.buffer)
    if (block === undefined || payload.byteLength !== this.recordBytes) return
    if (payload.byteOffset % this.recordBytes !== 0) return
    const slot = payload.byteOffset / this.recordBytes
    if (slot >= this.slots || block.out[slot] !== 1) return
    block.out[slot] = 0
    block.outCount--
    if (block.outCount > 0 || block === this.current) return
    this.watched.splice(this.watched.indexOf(block), 1)
    if (this.free.length < FREE_BLOCKS_MAX) this.free.push(block)
  }

  /** The full current block goes back to be cut again, or to be watched, and another takes over. */
  private retire(): void {
    const full = this.current
    this.used = 0
    if (full.outCount === 0) return // every record came back already: cut it again
    this.watched.push(full)
    if (this.watched.length > WATCHED_BLOCKS_MAX) this.watched.shift()
    this.current = this.free.pop() ?? this.makeBlock()
  }

  private owner(buffer: ArrayBufferLike): Block | undefined {
    if (this.current.bytes.buffer === buffer) return this.current
    for (let i = this.watched.length - 1; i >= 0; i--) {
      if (this.watched[i]!.bytes.buffer === buffer) return this.watched[i]
    }
    return undefined
  }

  private makeBlock(): Block {
    return { bytes: new Uint8Array(this.slots * this.recordBytes), out: new Uint8Array(this.slots), outCount: 0 }
  }
}

/**
 * Hands out records until the count or the deadline is reached. Ids are dense from 0, so the
 * verifier can tell a missing, duplicated or foreign record from a bitmap.
 */
export class Source {
  readonly recordBytes: number
  readonly maxRecords: number
  issued = 0
  private deadlineMillis = Number.POSITIVE_INFINITY
  private exhausted = false
  /** Where small records are cut from (absent for large records). */
  private readonly blocks: BlockPool | undefined
  /** Large records' memory handed back by `release`, at most `RELEASED_RECORDS_MAX`. */
  private readonly released: Array<Uint8Array> = []

  constructor(recordBytes: number, maxRecords: number) {
    if (!(Number.isInteger(recordBytes) && recordBytes >= RECORD_BYTES_MIN)) {
      throw new RangeError(`recordBytes must be an integer ≥ ${RECORD_BYTES_MIN}, got ${recordBytes}`)
    }
    if (!(Number.isInteger(maxRecords) && maxRecords > 0 && maxRecords <= 0xffff_ffff)) {
      throw new RangeError(`maxRecords must be in [1, 2^32), got ${maxRecords}`)
    }
    this.recordBytes = recordBytes
    this.maxRecords = maxRecords
    this.blocks = recordBytes <= POOLED_RECORD_BYTES_MAX ? new BlockPool(recordBytes) : undefined
  }

  /** Starts the clock: producers stop taking records `durationMillis` from now. */
  start(durationMillis: number): void {
    this.deadlineMillis = performance.now() + durationMillis
  }

  /**
   * The next record, or `undefined` when the workload is over: a view of its own bytes, which
   * no other record overlaps (small ones share a block, see `POOL_BYTES`).
   */
  next(): Uint8Array | undefined {
    if (!this.take(1)) return undefined
    const id = this.issued++
    const size = this.recordBytes
    const payload = this.blocks?.cut() ?? this.released.pop() ?? new Uint8Array(size)
    fillRecord(payload, id)
    return payload
  }

  /**
   * The caller is done with `payload`, a record `next` handed out, and so is the subject it was
   * given to: a later record may be written into its memory. Only for a subject that has let go
   * of the bytes when its append returned or resolved (`Session.keepsPayloads` unset): a subject
   * that still read them would write a later record's bytes, which the verifier reports as a
   * missing and a duplicated id. A small record's block is cut again once all its records are back.
   */
  release(payload: Uint8Array): void {
    if (this.blocks !== undefined) {
      this.blocks.release(payload)
      return
    }
    if (payload.byteLength !== this.recordBytes) return
    if (payload.byteOffset !== 0 || payload.buffer.byteLength !== payload.byteLength) return
    if (this.released.length < RELEASED_RECORDS_MAX && !this.released.includes(payload)) this.released.push(payload)
  }

  /**
   * Claims up to `count` record ids without building records (the `limit` yardstick writes one
   * prebuilt round): how many were claimed, 0 when the workload is over.
   */
  claim(count: number): number {
    if (!this.take(count)) return 0
    const n = Math.min(count, this.maxRecords - this.issued)
    this.issued += n
    return n
  }

  /** Up to `count` records as views into one allocation, or `undefined` when over. */
  nextBatch(count: number): Array<Uint8Array> | undefined {
    if (!this.take(count)) return undefined
    const n = Math.min(count, this.maxRecords - this.issued)
    const size = this.recordBytes
    const block = new Uint8Array(size * n)
    const batch = new Array<Uint8Array>(n)
    for (let i = 0; i < n; i++) {
      const payload = block.subarray(i * size, (i + 1) * size)
      fillRecord(payload, this.issued++)
      batch[i] = payload
    }
    return batch
  }

  private take(count: number): boolean {
    if (this.exhausted) return false
    if (this.issued >= this.maxRecords) {
      this.exhausted = true
      return false
    }
    // Check the clock every DEADLINE_CHECK_EVERY records (and on every batch).
    if ((count > 1 || this.issued % DEADLINE_CHECK_EVERY === 0) && performance.now() >= this.deadlineMillis) {
      this.exhausted = true
      return false
    }
    return true
  }
}

const fillRecord = (payload: Uint8Array, id: number): void => {
  payload.fill(id & 0xff, ID_BYTES)
  payload[0] = id & 0xff
  payload[1] = (id >>> 8) & 0xff
  payload[2] = (id >>> 16) & 0xff
  payload[3] = (id >>> 24) & 0xff
}

/**
 * Checks records read back against what was acknowledged: each id exactly once, the right size,
 * the right content at the first, middle and last fill byte.
 */
export class Verifier {
  private readonly seen: Uint8Array
  private readonly recordBytes: number
  count = 0
  payloadBytes = 0
  firstProblem: string | undefined = undefined

  constructor(recordBytes: number, acknowledged: number) {
    this.recordBytes = recordBytes
    this.seen = new Uint8Array(acknowledged)
  }

  readonly visit = (payload: Uint8Array): void => {
    this.count++
    this.payloadBytes += payload.length
    if (this.firstProblem !== undefined) return
    if (payload.length !== this.recordBytes) {
      this.firstProblem = `record ${this.count - 1} has ${payload.length} bytes, expected ${this.recordBytes}`
      return
    }
    const id = (payload[0]! | (payload[1]! << 8) | (payload[2]! << 16) | (payload[3]! << 24)) >>> 0
    if (id >= this.seen.length) {
      this.firstProblem = `record id ${id} was never acknowledged (${this.seen.length} were)`
      return
    }
    if (this.seen[id] === 1) {
      this.firstProblem = `record id ${id} read twice`
      return
    }
    this.seen[id] = 1
    const fill = id & 0xff
    const last = payload.length - 1
    if (payload[ID_BYTES] !== fill || payload[last] !== fill || payload[(ID_BYTES + last) >>> 1] !== fill) {
      this.firstProblem = `record id ${id} has wrong content`
    }
  }

  /** `undefined` when every acknowledged record was read back exactly once, intact. */
  problem(): string | undefined {
    if (this.firstProblem !== undefined) return this.firstProblem
    if (this.count !== this.seen.length) {
      return `read back ${this.count} records, ${this.seen.length} were acknowledged`
    }
    return undefined
  }
}
