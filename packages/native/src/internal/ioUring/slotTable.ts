/**
 * The slot table: which op each SQE in flight belongs to. A slot number is an SQE's user_data
 * (low word), so a CQE finds its op in O(1) without a map or an allocation; free slots are a
 * stack. Sized by the ring (its capacity plus one spare for the teardown's cancel), which never
 * takes more slots than it has room for in flight. Kept apart so `ring.ts` holds no index juggling.
 *
 * @internal
 */
import type { Op } from "./op.ts"

export class SlotTable {
  /** slot → op. */
  private readonly ops: Array<Op | undefined>
  private readonly free: Int32Array
  private freeCount: number

  constructor(slotCount: number) {
    this.ops = new Array<Op | undefined>(slotCount).fill(undefined)
    this.free = new Int32Array(slotCount)
    for (let i = 0; i < slotCount; i++) this.free[i] = slotCount - 1 - i
    this.freeCount = slotCount
  }

  /** Gives `op` a slot; the caller guarantees one is free (in flight ≤ slots). */
  take(op: Op): number {
    if (this.freeCount === 0) throw new Error("io_uring: no free slot")
    const slot = this.free[--this.freeCount]
    this.ops[slot] = op
    return slot
  }

  /** The op in `slot`, or undefined when the slot is free. */
  get(slot: number): Op | undefined {
    return this.ops[slot]
  }

  /** Frees `slot` and returns its op; a CQE for an empty slot is a broken invariant. */
  release(slot: number): Op {
    const op = this.ops[slot]
    if (op === undefined) throw new Error(`io_uring: completion for empty slot ${slot}`)
    this.ops[slot] = undefined
    this.free[this.freeCount++] = slot
    return op
  }
}
