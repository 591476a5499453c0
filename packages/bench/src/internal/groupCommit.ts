/**
 * Application-level group commit for the bench's promise-based subjects (node:fs, better-sqlite3,
 * classic-level): what a careful user of those libraries writes when many producers each await
 * their own durability. Producers enqueue; one committer takes everything queued, makes it durable
 * with one `commit` (one write + fdatasync, one transaction, one synced batch), then wakes exactly
 * the producers whose items were in it. While a commit runs, new items queue for the next one.
 *
 * Giving the peers the same batching as our journal keeps the comparison about the IO path, not
 * about who batches.
 *
 * @since 0.1.0
 */

/** A bound on one commit, so a flood of producers cannot build an unbounded transaction. */
const ITEMS_PER_COMMIT_MAX = 64 * 1024

interface Waiter {
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

/**
 * Makes a group committer around `commit`, which must make every item it is given durable.
 */
export const make = <A>(commit: (items: ReadonlyArray<A>) => Promise<void> | void) => {
  let queue: Array<A> = []
  let waiters: Array<Waiter> = []
  let running = false

  const drain = async (): Promise<void> => {
    running = true
    try {
      while (queue.length > 0) {
        const take = Math.min(queue.length, ITEMS_PER_COMMIT_MAX)
        const items = queue.length === take ? queue : queue.slice(0, take)
        const woken = waiters.length === take ? waiters : waiters.slice(0, take)
        queue = queue.length === take ? [] : queue.slice(take)
        waiters = waiters.length === take ? [] : waiters.slice(take)
        try {
          await commit(items)
          for (const waiter of woken) waiter.resolve()
        } catch (error) {
          for (const waiter of woken) waiter.reject(error)
        }
      }
    } finally {
      running = false
    }
  }

  /** Resolves once `item` is durable. */
  const submit = (item: A): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      queue.push(item)
      waiters.push({ resolve, reject })
      // Start the committer on the next microtask so producers that run in the same tick join
      // the same commit.
      if (!running) {
        running = true
        queueMicrotask(() => void drain())
      }
    })

  return { submit }
}
