/**
 * `floor`: what the bench's own driver costs per durable record, with no store behind it. The
 * driver's producers take their records from the same `Source` (a fresh record, filled), await
 * each one as every subject's producers do, and go through the same group commit the node:fs and
 * SQLite subjects use; a round's "IO" is one event-loop turn (`setImmediate`), the least any
 * completion arriving from the kernel or the threadpool costs. No encoding, no file, no copy.
 *
 * Why it exists: issue 12 asks for ≤ 1.0 µs of CPU per durable record in the CPU-bound workload,
 * measured by this bench. The driver alone costs more than that here (its row says how much),
 * so every subject's CPU per record reads as this floor plus what the store itself adds.
 *
 * A yardstick, not a store: runs only in the CPU-bound durable workload (`runsIn`), nothing is
 * written and nothing read back.
 *
 * @since 0.1.0
 */
import type { Session, Subject } from "../driver.ts"
import * as GroupCommit from "../groupCommit.ts"

/** One event-loop turn: what a round's completion costs at the least. */
const turn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve))

const openSession = async (): Promise<Session> => {
  const committer = GroupCommit.make<Uint8Array>(turn)
  const unsupported = (): never => {
    throw new Error("floor measures durable producers only")
  }
  return {
    detail: "the driver's producers and group commit, one event-loop turn per round, no store",
    appendDurable: (payload) => committer.submit(payload),
    appendBatchDurable: () => turn(),
    append: unsupported,
    appendBatch: unsupported,
    sync: () => turn(),
    close: async () => undefined,
  }
}

/**
 * @since 0.1.0
 */
export const subject: Subject = {
  available: async () => undefined,
  open: () => openSession(),
}
