/**
 * The FIFO of operations waiting for room in the ring (backpressure): an intrusive doubly linked
 * list through `Op.prev` / `Op.next`, so an op whose fiber is interrupted leaves it in O(1), and
 * nothing is allocated per op. Bounded by the ring (`QUEUED_OPS_MAX`), which checks `count` before
 * it pushes. Kept apart so `ring.ts` holds no pointer surgery.
 *
 * @internal
 */
import type { Op } from "./op.ts"

export class WaitQueue {
  /** The oldest waiting op, admitted first. */
  head: Op | undefined = undefined
  private tail: Op | undefined = undefined
  count = 0

  /** Appends `op` (not already in a queue). */
  push(op: Op): void {
    op.prev = this.tail
    op.next = undefined
    if (this.tail === undefined) this.head = op
    else this.tail.next = op
    this.tail = op
    this.count += 1
  }

  /** Unlinks `op`, which must be in this queue. */
  remove(op: Op): void {
    if (op.prev === undefined) this.head = op.next
    else op.prev.next = op.next
    if (op.next === undefined) this.tail = op.prev
    else op.next.prev = op.prev
    op.prev = undefined
    op.next = undefined
    this.count -= 1
  }
}
