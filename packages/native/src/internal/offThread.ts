/**
 * The dispatcher of koffi `.async` calls: a bounded number in flight, the rest wait their turn.
 *
 * Why: koffi runs `.async` calls on the libuv threadpool and refuses (throws synchronously) past
 * about 256 outstanding calls in the process. Without a bound, 300 journals syncing at once got
 * `EAGAIN` for 45 of their fdatasyncs and were poisoned for good, although nothing had gone
 * wrong with the disk. So at most `CALLS_IN_FLIGHT_MAX` of our calls are outstanding (the pool
 * has 4 threads: more in flight only wait inside libuv instead of here), further calls wait in a
 * FIFO of at most `QUEUED_CALLS_MAX`, and a refusal by koffi (another koffi user in the process
 * filled its queue) is not an IO error — the call never started — so it is retried after
 * `REFUSED_RETRY_MILLIS`, at most `REFUSED_ATTEMPTS_MAX` times, before the caller is told `EAGAIN`.
 *
 * Plain callbacks, no Effects: the caller (`Libc`) wraps one task per system call.
 *
 * @internal
 */

/** Our koffi async calls outstanding at once: half of koffi's 256, the rest left to others. */
export const CALLS_IN_FLIGHT_MAX = 128
/** Calls waiting for a turn; past this a call is refused at once (a runaway caller). */
export const QUEUED_CALLS_MAX = 1 << 16
/** Delay before retrying a call koffi refused because its own queue was full. */
export const REFUSED_RETRY_MILLIS = 1
/** Attempts of one refused call before it fails (≈ 10 s at `REFUSED_RETRY_MILLIS`). */
export const REFUSED_ATTEMPTS_MAX = 10_000

export interface Task {
  /** Starts the koffi call; throws when koffi refuses it. Calls `finished` once the thread returned. */
  readonly start: (finished: () => void) => void
  /** The call could not be started: the queue was full, or koffi kept refusing. */
  readonly refused: (cause: unknown) => void
  /** Internal: attempts koffi refused so far. */
  refusals: number
  /** Internal: queue links; `queued` is true while the task waits. */
  queued: boolean
  prev: Task | undefined
  next: Task | undefined
}

export const makeTask = (start: Task["start"], refused: Task["refused"]): Task => ({
  start,
  refused,
  refusals: 0,
  queued: false,
  prev: undefined,
  next: undefined,
})

/** Counters for tests. */
export const stats = { inFlight: 0, inFlightHigh: 0, queued: 0, refusedRetries: 0 }

let head: Task | undefined
let tail: Task | undefined
let retryTimer: ReturnType<typeof setTimeout> | undefined

const enqueue = (task: Task, atHead: boolean): void => {
  task.queued = true
  if (atHead) {
    task.next = head
    task.prev = undefined
    if (head === undefined) tail = task
    else head.prev = task
    head = task
  } else {
    task.prev = tail
    task.next = undefined
    if (tail === undefined) head = task
    else tail.next = task
    tail = task
  }
  stats.queued += 1
}

const unlink = (task: Task): void => {
  if (task.prev === undefined) head = task.next
  else task.prev.next = task.next
  if (task.next === undefined) tail = task.prev
  else task.next.prev = task.prev
  task.prev = undefined
  task.next = undefined
  task.queued = false
  stats.queued -= 1
}

const finished = (): void => {
  stats.inFlight -= 1
  drain()
}

/** Starts `task` now; false when koffi refused it (then nothing started). */
const launch = (task: Task): boolean => {
  stats.inFlight += 1
  if (stats.inFlight > stats.inFlightHigh) stats.inFlightHigh = stats.inFlight
  try {
    task.start(finished)
    return true
  } catch (cause) {
    stats.inFlight -= 1
    task.refusals += 1
    if (task.refusals >= REFUSED_ATTEMPTS_MAX) {
      task.refused(cause)
      return true // settled: not requeued
    }
    return false
  }
}

const scheduleRetry = (): void => {
  if (retryTimer !== undefined) return
  stats.refusedRetries += 1
  retryTimer = setTimeout(() => {
    retryTimer = undefined
    drain()
  }, REFUSED_RETRY_MILLIS)
}

/** Starts waiting tasks while there is room. Bounded: each turn starts or settles one task, or stops. */
const drain = (): void => {
  while (head !== undefined && stats.inFlight < CALLS_IN_FLIGHT_MAX) {
    const task = head
    unlink(task)
    if (!launch(task)) {
      enqueue(task, true)
      // With none of ours in flight nothing else would wake the queue.
      scheduleRetry()
      return
    }
  }
}

/** Runs `task` now when there is room, else queues it (FIFO). */
export const submit = (task: Task): void => {
  if (head === undefined && stats.inFlight < CALLS_IN_FLIGHT_MAX) {
    if (launch(task)) return
    enqueue(task, true)
    scheduleRetry()
    return
  }
  if (stats.queued >= QUEUED_CALLS_MAX) {
    task.refused(new Error(`more than ${QUEUED_CALLS_MAX} off-thread calls waiting`))
    return
  }
  enqueue(task, false)
}

/** Forgets a task that has not started (its caller was interrupted); false once it started. */
export const cancel = (task: Task): boolean => {
  if (!task.queued) return false
  unlink(task)
  return true
}
