/**
 * The completion side of the shared ring memory: reading the CQEs the kernel posted between our
 * head and its tail, and handing the slots back. Kept apart from `ring.ts` so every CQ word
 * offset lives in one small place and the ring's `reap` reads as policy (overflow, admission,
 * completion order), not as word arithmetic.
 *
 * @internal
 */
import * as Abi from "./abi.ts"
import type { Views } from "./setup.ts"

export class CompletionQueue {
  private readonly cq: Uint32Array
  private readonly cqRes: Int32Array
  // Word indexes into `cq`, read once from the params the kernel filled.
  private readonly headWord: number
  private readonly tailWord: number
  private readonly mask: number
  private readonly cqesWord: number

  constructor(views: Views, cqOff: (field: number) => number) {
    this.cq = views.cq
    this.cqRes = views.cqRes
    this.headWord = cqOff(Abi.CQ_OFF_HEAD) / 4
    this.tailWord = cqOff(Abi.CQ_OFF_TAIL) / 4
    this.mask = views.cq[cqOff(Abi.CQ_OFF_RING_MASK) / 4]
    this.cqesWord = cqOff(Abi.CQ_OFF_CQES) / 4
  }

  /**
   * Hands every CQE visible now to `visit` (slot, position, result) and returns how many there
   * were. The CQ slots go back to the kernel only after every CQE was read.
   */
  drain(visit: (slot: number, position: number, result: number) => void): number {
    const { cq, cqRes } = this
    let head = cq[this.headWord]
    const tail = Atomics.load(cq, this.tailWord)
    if (head === tail) return 0
    let count = 0
    while (head !== tail) {
      const w = this.cqesWord + (head & this.mask) * Abi.CQE_WORDS
      visit(cq[w + Abi.CQE_WORD_USER_DATA_LO], cq[w + Abi.CQE_WORD_USER_DATA_HI], cqRes[w + Abi.CQE_WORD_RES])
      head = (head + 1) >>> 0
      count += 1
    }
    Atomics.store(cq, this.headWord, head)
    return count
  }
}
