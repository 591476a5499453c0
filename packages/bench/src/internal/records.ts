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
 * record, so it hid what the stores themselves cost. A block is never reused: a subject may keep a
 * view (a queued group commit does) for as long as it likes.
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
 * Hands out records until the count or the deadline is reached. Ids are dense from 0, so the
 * verifier can tell a missing, duplicated or foreign record from a bitmap.
 */
export class Source {
  readonly recordBytes: number
  readonly maxRecords: number
  issued = 0
  private deadlineMillis = Number.POSITIVE_INFINITY
  private exhausted = false
  /** The block small records are cut from; `poolUsed === POOL_BYTES` means "take a new one". */
  private pool = new Uint8Array(0)
  private poolUsed = POOL_BYTES
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
    let payload: Uint8Array
    if (size <= POOLED_RECORD_BYTES_MAX) {
      if (this.poolUsed + size > POOL_BYTES) {
        this.pool = new Uint8Array(POOL_BYTES)
        this.poolUsed = 0
      }
      payload = this.pool.subarray(this.poolUsed, this.poolUsed + size)
      this.poolUsed += size
    } else {
      payload = this.released.pop() ?? new Uint8Array(size)
    }
    fillRecord(payload, id)
    return payload
  }

  /**
   * The caller is done with `payload`, a record `next` handed out, and so is the subject it was
   * given to: a later record may be written into its memory. Only for a subject that has let go
   * of the bytes when its append returned or resolved (`Session.keepsPayloads` unset): a subject
   * that still read them would write a later record's bytes, which the verifier reports as a
   * missing and a duplicated id. Small records are never reused (they share blocks).
   */
  release(payload: Uint8Array): void {
    if (payload.byteLength !== this.recordBytes || payload.byteLength <= POOLED_RECORD_BYTES_MAX) return
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
