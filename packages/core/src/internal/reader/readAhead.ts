/**
 * Read-ahead for a whole-file scan (`scanHandle`: `Journal.open`'s recovery, `JournalReader.scan`):
 * while the cursor checks one window, the next chunk of the file is already being read into a
 * second buffer. A warm scan read 4 MiB (a kernel copy, ≈ 0.8 ms here) and then checked it
 * (≈ 2 ms of CRCs for 4 KiB frames) in series; the read runs on another thread (the threadpool, or
 * io_uring's worker), so with the two overlapped a chunk costs about the larger of the two.
 *
 * Two buffers of `CARRY_BYTES_MAX + CHUNK_BYTES`, allocated on the first read-ahead (a file that
 * fits one chunk never gets them). A read-ahead started for the window [windowStart, windowEnd)
 * reads file bytes [windowEnd, windowEnd + n) into the buffer the window does not live in, after
 * `CARRY_BYTES_MAX` bytes of headroom. When the cursor runs out of window at `p` (a frame cut by
 * the window's end starts there), the cut head [p, windowEnd) is copied into the headroom right
 * before the new bytes, so the next window is contiguous from `p`. A head longer than the headroom,
 * an oversize frame, or a file that shrank underneath falls back to one plain read from `p`.
 *
 * Invariants (the state is `ReadAhead`):
 * - At most one read is in flight (`pending`), and it never targets the buffer the cursor's window
 *   lives in (`windowBuffer`): the cursor, and a visitor's payload view, read only the window.
 * - A pending read is joined or interrupted (which awaits it: reads are uninterruptible) before
 *   another read starts and before the scan returns, on every exit, interruption included: until
 *   then the kernel may be writing into its buffer. Only an interrupted scan interrupts it.
 * - `pending` is recorded in the same uninterruptible step that forks the read, so no interrupt can
 *   fall between them and leave a read that the scan's finalizer does not know about.
 *
 * @internal
 */
import { Effect, Exit, Fiber } from "effect"
import type { IoError } from "@fsys/native"
import type { FileIoService, Handle } from "../../FileIo.ts"
import * as Cursor from "./cursor.ts"

/**
 * The longest cut frame head a read-ahead carries over. Frames up to this size (the bench's 1 MiB
 * records included) never cost a serial read at a window's end; longer ones fall back to one.
 */
export const CARRY_BYTES_MAX = 1024 * 1024

interface Pending {
  /** Which of `buffers` the read fills (never `windowBuffer`). */
  readonly index: 0 | 1
  /** File offset of the first byte read: the end of the window it was started for. */
  readonly from: number
  readonly wantedBytes: number
  readonly fiber: Fiber.Fiber<number, IoError.IoError>
}

/** @internal */
export interface ReadAhead {
  readonly buffers: [Uint8Array | undefined, Uint8Array | undefined]
  /** Which of `buffers` holds the cursor's window, or -1 (the first window, or an oversize frame's). */
  windowBuffer: -1 | 0 | 1
  pending: Pending | undefined
}

const make = (): ReadAhead => ({ buffers: [undefined, undefined], windowBuffer: -1, pending: undefined })

const bufferAt = (ahead: ReadAhead, index: 0 | 1): Uint8Array => {
  const existing = ahead.buffers[index]
  if (existing !== undefined) return existing
  const created = new Uint8Array(CARRY_BYTES_MAX + Cursor.CHUNK_BYTES)
  ahead.buffers[index] = created
  return created
}

const windowEnd = (cursor: Cursor.Cursor): number => cursor.windowStart + cursor.windowLength

/** Starts reading the chunk after the window, unless the window reaches the end of the file. */
const start = (fileIo: FileIoService, handle: Handle, cursor: Cursor.Cursor, ahead: ReadAhead) => {
  const from = windowEnd(cursor)
  if (from >= cursor.fileEnd) return Effect.void
  const index = ahead.windowBuffer === 0 ? 1 : 0
  const wantedBytes = Math.min(Cursor.CHUNK_BYTES, cursor.fileEnd - from)
  const into = bufferAt(ahead, index).subarray(CARRY_BYTES_MAX, CARRY_BYTES_MAX + wantedBytes)
  return Effect.uninterruptible(
    Effect.map(Effect.forkChild(fileIo.readAt(handle, into, from), { startImmediately: true }), (fiber) => {
      ahead.pending = { index, from, wantedBytes, fiber }
    }),
  )
}

/** Whether the cursor's need can be met by the pending read plus a carried head. */
const covers = (cursor: Cursor.Cursor, pending: Pending): boolean => {
  const from = cursor.needFrom
  return (
    pending.from === windowEnd(cursor) &&
    from >= cursor.windowStart &&
    from <= pending.from &&
    pending.from - from <= CARRY_BYTES_MAX &&
    cursor.needBytes <= Cursor.CHUNK_BYTES
  )
}

/** Makes the finished read (plus the carried head) the window; false if it does not hold the need. */
const adopt = (cursor: Cursor.Cursor, ahead: ReadAhead, pending: Pending, readBytes: number): boolean => {
  const from = cursor.needFrom
  if (from + cursor.needBytes > pending.from + readBytes) return false
  const headBytes = pending.from - from
  const buffer = bufferAt(ahead, pending.index)
  const headAt = from - cursor.windowStart
  buffer.set(cursor.window.subarray(headAt, headAt + headBytes), CARRY_BYTES_MAX - headBytes)
  cursor.window = buffer.subarray(CARRY_BYTES_MAX - headBytes, CARRY_BYTES_MAX + readBytes)
  cursor.windowStart = from
  cursor.windowLength = headBytes + readBytes
  ahead.windowBuffer = pending.index
  // A short read: the file shrank meanwhile, so the cursor's end moves back (as `fill` does).
  if (readBytes < pending.wantedBytes) cursor.fileEnd = pending.from + readBytes
  return true
}

/** One plain read from the need, as `fill` does, into a buffer no read is using. */
const readPlain = Effect.fnUntraced(function* (
  fileIo: FileIoService,
  handle: Handle,
  cursor: Cursor.Cursor,
  ahead: ReadAhead,
) {
  const from = cursor.needFrom
  const wantedBytes = Math.max(cursor.needBytes, Math.min(Cursor.CHUNK_BYTES, cursor.fileEnd - from))
  // An oversize frame gets exactly its bytes, dropped again at the next read (see `scan.ts`).
  const index: -1 | 0 | 1 = wantedBytes > Cursor.CHUNK_BYTES ? -1 : ahead.windowBuffer === 1 ? 1 : 0
  const into =
    index === -1
      ? new Uint8Array(wantedBytes)
      : bufferAt(ahead, index).subarray(CARRY_BYTES_MAX, CARRY_BYTES_MAX + wantedBytes)
  const readBytes = yield* fileIo.readAt(handle, into, from)
  cursor.window = into
  cursor.windowStart = from
  cursor.windowLength = readBytes
  ahead.windowBuffer = index
  if (readBytes < wantedBytes) cursor.fileEnd = from + readBytes
})

/** Answers the cursor's NEED_BYTES: from the pending read where it holds the need, else one plain read; then reads ahead. */
const refill = Effect.fnUntraced(function* (
  fileIo: FileIoService,
  handle: Handle,
  cursor: Cursor.Cursor,
  ahead: ReadAhead,
) {
  const pending = ahead.pending
  let filled = false
  if (pending !== undefined) {
    if (covers(cursor, pending)) {
      const exit = yield* Fiber.await(pending.fiber)
      ahead.pending = undefined
      // The bytes are needed: a failed read fails the scan as a plain read would.
      const readBytes = yield* exit
      filled = adopt(cursor, ahead, pending, readBytes)
    } else {
      yield* Fiber.interrupt(pending.fiber)
      ahead.pending = undefined
    }
  }
  if (!filled) yield* readPlain(fileIo, handle, cursor, ahead)
  yield* start(fileIo, handle, cursor, ahead)
})

/**
 * The scan's finalizer: waits for the pending read, if any. An interrupted scan interrupts it (a
 * read itself is uninterruptible, so this still waits for the kernel); any other exit lets it
 * finish, so what a read-ahead meets (recovery's media reader records an unreadable sector) does
 * not depend on how far it got when the cursor stopped: the chunk after the one a scan stops in
 * is always read whole.
 */
const settle = (ahead: ReadAhead, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const pending = ahead.pending
    if (pending === undefined) return Effect.void
    const done = Exit.hasInterrupts(exit) ? Fiber.interrupt(pending.fiber) : Effect.asVoid(Fiber.await(pending.fiber))
    return Effect.andThen(
      done,
      Effect.sync(() => {
        ahead.pending = undefined
      }),
    )
  })

/**
 * Runs `cursor` to its tail like `runToEnd`, reading the next chunk while the current one is
 * checked. For a cursor whose file holds more than one chunk after it; `runToEnd` for the rest.
 *
 * @internal
 */
export const runToEnd = (
  fileIo: FileIoService,
  handle: Handle,
  cursor: Cursor.Cursor,
  legacyGaps: boolean,
  visit: Cursor.Visit | undefined,
): Effect.Effect<void, IoError.IoError> =>
  Effect.suspend(() => {
    const ahead = make()
    const walk = Effect.gen(function* () {
      // Bounded by the file: every step moves the cursor forward (or stops it).
      for (;;) {
        const stepped = Cursor.step(cursor, legacyGaps, visit)
        if (stepped === Cursor.STOPPED) return
        if (stepped === Cursor.NEED_BYTES) yield* refill(fileIo, handle, cursor, ahead)
        else if (stepped === Cursor.TURN_SPENT) yield* Effect.yieldNow
      }
    })
    return Effect.onExit(walk, (exit) => settle(ahead, exit))
  })
