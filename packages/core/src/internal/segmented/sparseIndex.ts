/**
 * A sparse index of one segment: the local offset of one record start per `STRIDE_BYTES` of log,
 * so `read(lsn)` reads at most one stride (plus the record) instead of scanning the segment.
 *
 * Invariant: `starts` strictly increases; every entry is a record start; consecutive record starts
 * between two entries (or after the last) lie within `STRIDE_BYTES` of the earlier entry — a start
 * at least a stride past the last entry is always indexed. Memory: 8 bytes per stride (1024
 * entries for a 64 MiB segment at 64 KiB strides).
 *
 * @internal
 */

/** One entry per 64 KiB: a lookup reads at most 64 KiB + the record. */
export const STRIDE_BYTES = 64 * 1024

export class SparseIndex {
  private readonly starts: Array<number> = []

  get entries(): number {
    return this.starts.length
  }

  /** Records a record start (called in LSN order). */
  note(start: number): void {
    const last = this.starts.length === 0 ? -1 : (this.starts[this.starts.length - 1] as number)
    if (start <= last) throw new Error(`fsys: sparse index got start ${start} after ${last}`)
    if (last < 0 || start - last >= STRIDE_BYTES) this.starts.push(start)
  }

  /**
   * Records a start that may arrive out of order (appends can complete in another order than
   * their LSNs): an older start is dropped, which only makes lookups walk further.
   */
  noteTolerant(start: number): void {
    const last = this.starts.length === 0 ? -1 : (this.starts[this.starts.length - 1] as number)
    if (start > last && (last < 0 || start - last >= STRIDE_BYTES)) this.starts.push(start)
  }

  /** The greatest indexed start ≤ `offset`, or -1 when there is none. */
  floor(offset: number): number {
    let low = 0
    let high = this.starts.length - 1
    let found = -1
    while (low <= high) {
      const middle = (low + high) >>> 1
      const start = this.starts[middle] as number
      if (start <= offset) {
        found = start
        low = middle + 1
      } else {
        high = middle - 1
      }
    }
    return found
  }

  /** Drops every entry at or after `offset` (truncateBack). */
  truncate(offset: number): void {
    while (this.starts.length > 0 && (this.starts[this.starts.length - 1] as number) >= offset) this.starts.pop()
  }
}
