/**
 * Requests the kernel cancelled without running them: io-wq cancels every request waiting for a
 * worker when it cannot create one (a signal pending on the submitting thread, e.g. a profiler's
 * SIGPROF), and they complete with -ECANCELED. The ring submits them again (`resubmit.ts`); these
 * tests answer -ECANCELED through the ring's `completionResult` seam, the way that kernel does.
 */
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { AlignedMemory, type IoError, IoUring, Libc } from "@fsys/native"
import * as Abi from "../src/internal/ioUring/abi.ts"
import { RESUBMITS_MAX } from "../src/internal/ioUring/resubmit.ts"
import { openFd, readFile, tempDir } from "./helpers.ts"

const ECANCELED = -Abi.ECANCELED

/** A seam that cancels the first `times` CQEs matching (opcode, position), and counts them. */
const cancelling = (opcodes: ReadonlyArray<number>, position: number, times: number) => {
  const state = { cancelled: 0 }
  const completionResult = (opcode: number, at: number, result: number): number => {
    if (at !== position || !opcodes.includes(opcode) || state.cancelled >= times) return result
    state.cancelled++
    return ECANCELED
  }
  return { state, seams: { completionResult } }
}

const failureOf = <A>(exit: Exit.Exit<A, IoError.IoError>): IoError.IoError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (reason === undefined || reason._tag !== "Fail") throw new Error(`expected a typed failure: ${exit.cause}`)
  return reason.error
}

const WRITES = [Abi.IORING_OP_WRITE, Abi.IORING_OP_WRITE_FIXED]

describe("IoUring: requests the kernel cancelled unrun", () => {
  it.live("an FSYNC cancelled unrun is submitted again and succeeds", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "f"), Libc.O_RDWR | Libc.O_CREAT)
      const { state, seams } = cancelling([Abi.IORING_OP_FSYNC], 0, 3)
      const ring = yield* IoUring.make({ entries: 8, seams })
      yield* IoUring.fsync(ring, fd)
      assert.strictEqual(state.cancelled, 3)
      assert.strictEqual(ring.stats().resubmits, 3)
      assert.strictEqual(ring.stats().sqesSubmitted, 4, "the FSYNC went to the kernel four times")
      assert.strictEqual(ring.inFlight(), 0)
    }),
  )

  it.live("past RESUBMITS_MAX the caller gets the ECANCELED, typed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "f"), Libc.O_RDWR | Libc.O_CREAT)
      const { seams } = cancelling([Abi.IORING_OP_FSYNC], 0, Number.POSITIVE_INFINITY)
      const ring = yield* IoUring.make({ entries: 8, seams })
      const error = failureOf(yield* Effect.exit(IoUring.fsync(ring, fd)))
      assert.strictEqual(error.code, "ECANCELED")
      assert.strictEqual(error.syscall, "io_uring:FSYNC")
      assert.strictEqual(ring.stats().resubmits, RESUBMITS_MAX)
      assert.strictEqual(ring.inFlight(), 0)
    }),
  )

  it.live("a linked WRITE cancelled unrun: the pair runs again, written and synced", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "pair")
      const fd = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT)
      const buffer = yield* AlignedMemory.allocate(64 * 1024, 4096)
      buffer.bytes.fill(0x5c)
      const { state, seams } = cancelling(WRITES, 0, 1)
      const ring = yield* IoUring.make({ entries: 8, seams })
      // Registered memory: the fixed-buffer hold must be dropped and taken again, not leaked (the
      // registration's release at the end of the test waits for it).
      yield* IoUring.registerBuffers(ring, [buffer])
      const result = yield* IoUring.writeThenFsync(ring, fd, buffer.bytes, 0)
      assert.deepStrictEqual(result, { writtenBytes: 64 * 1024, synced: true })
      assert.strictEqual(state.cancelled, 1)
      assert.strictEqual(ring.stats().resubmits, 1)
      assert.strictEqual(ring.stats().fixedSqes, 2, "WRITE_FIXED both times")
      assert.strictEqual(AlignedMemory.inFlightCount(buffer.bytes), 0)
      const onDisk = yield* readFile(path)
      assert.strictEqual(onDisk.length, 64 * 1024)
      assert.strictEqual(onDisk[64 * 1024 - 1], 0x5c)
    }),
  )

  it.live("a linked FSYNC cancelled unrun after a whole WRITE: the pair runs again and reports synced", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "pair"), Libc.O_RDWR | Libc.O_CREAT)
      const { state, seams } = cancelling(WRITES, 1, 1)
      const ring = yield* IoUring.make({ entries: 8, seams })
      const result = yield* IoUring.writeThenFsync(ring, fd, new Uint8Array(4096).fill(3), 0)
      assert.deepStrictEqual(result, { writtenBytes: 4096, synced: true })
      assert.strictEqual(state.cancelled, 1)
      assert.strictEqual(ring.stats().resubmits, 1)
    }),
  )

  it.live("a pair split by a partial submission whose WRITE was cancelled runs again whole, and reports synced", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "split"), Libc.O_RDWR | Libc.O_CREAT)
      // The first io_uring_enter takes only the WRITE (its FSYNC becomes a NOP), and that WRITE is
      // cancelled unrun; the resubmitted pair goes in whole.
      let firstEnter = true
      const submitCount = (unsubmitted: number): number => {
        if (!firstEnter) return unsubmitted
        firstEnter = false
        return 1
      }
      const { state, seams } = cancelling(WRITES, 0, 1)
      const ring = yield* IoUring.make({ entries: 8, seams: { ...seams, submitCount } })
      const result = yield* IoUring.writeThenFsync(ring, fd, new Uint8Array(4096).fill(4), 0)
      assert.strictEqual(ring.stats().linkSplits, 1, "the first submission really was split")
      assert.strictEqual(state.cancelled, 1)
      assert.deepStrictEqual(result, { writtenBytes: 4096, synced: true })
    }),
  )

  it.live("interrupted while its cancelled WRITE waits to run again: the memory stays held until the rerun's CQE", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "interrupted")
      const fd = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT)
      let interruptNow: (() => void) | undefined
      let cancelled = 0
      // Cancels the first WRITE completion and interrupts the waiting fiber right there, inside the
      // reap, before the ring has put the op back in line.
      const completionResult = (opcode: number, _position: number, result: number): number => {
        if (!WRITES.includes(opcode) || cancelled > 0) return result
        cancelled++
        interruptNow?.()
        return ECANCELED
      }
      const ring = yield* IoUring.make({ entries: 8, seams: { completionResult } })
      const bufferScope = yield* Scope.make()
      const buffer = yield* Scope.provide(AlignedMemory.allocate(1 << 20, 4096), bufferScope)
      buffer.bytes.fill(0x6b)
      const fiber = yield* Effect.forkChild(IoUring.write(ring, fd, buffer.bytes, 0))
      interruptNow = () => {
        Effect.runFork(Fiber.interrupt(fiber))
      }
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.hasInterrupts(exit), "the fiber ended interrupted")
      assert.strictEqual(AlignedMemory.inFlightCount(buffer.bytes), 1, "the rerun still holds the memory")
      assert.strictEqual(cancelled, 1)
      // The kernel never ran the first submission; the ring runs it again and holds the memory
      // until that CQE: the free waits for it, and the write lands whole.
      yield* Scope.close(bufferScope, Exit.void)
      assert.strictEqual(ring.inFlight(), 0)
      assert.strictEqual(ring.queued(), 0)
      assert.strictEqual(ring.stats().resubmits, 1)
      assert.strictEqual(buffer.bytes.byteLength, 0, "freed after the rerun")
      const onDisk = yield* readFile(path)
      assert.strictEqual(onDisk.length, 1 << 20)
      assert.strictEqual(onDisk[(1 << 20) - 1], 0x6b)
    }),
  )

  it.live("a short WRITE breaks its link: the cancelled FSYNC is reported unsynced, not run again", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "short"), Libc.O_RDWR | Libc.O_CREAT)
      // The kernel wrote 1 KiB of 4 and cancelled the FSYNC linked behind it.
      const completionResult = (opcode: number, at: number, result: number): number =>
        !WRITES.includes(opcode) ? result : at === 0 ? 1024 : ECANCELED
      const ring = yield* IoUring.make({ entries: 8, seams: { completionResult } })
      const result = yield* IoUring.writeThenFsync(ring, fd, new Uint8Array(4096).fill(3), 0)
      assert.deepStrictEqual(result, { writtenBytes: 1024, synced: false })
      assert.strictEqual(ring.stats().resubmits, 0)
    }),
  )
})
