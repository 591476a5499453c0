/**
 * Group commit over a fake log buffer: the `FlushTarget` seam lets the rounds be driven by hand
 * (no file, no writer), so each property is checked at the exact moment a round starts or ends.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { IoError } from "@fsys/native"
import { JournalClosed } from "../src/JournalError.ts"
import { type FlushTarget, GroupCommit } from "../src/internal/journal/groupCommit.ts"
import type { JobDone, JobFailure } from "../src/internal/logBuffer/writer.ts"

/** A buffer whose flushes complete only when the test says so. */
class FakeBuffer implements FlushTarget {
  nextLsn = 0
  refusal: JobFailure | undefined = undefined
  readonly closedError = new JournalClosed({ path: "/fake" })
  readonly flushes: Array<JobDone> = []
  readonly whenIdle = Effect.never
  startFlush(datasync: boolean, onDone: JobDone): number | undefined {
    assert.isTrue(datasync, "group commit always asks for an fdatasync")
    this.flushes.push(onDone)
    return this.nextLsn
  }
}

const groupCommitOver = (buffer: FakeBuffer, publishFrontierEarly = false) =>
  new GroupCommit<JobFailure>(
    {
      core: buffer,
      toError: (cause) => cause,
      windowMicros: 0,
      maxBatch: 64,
      onRound: () => {},
      publishFrontierEarly,
      // The fake's rounds take no time: overlap regardless of what it would pay.
      overlap: "always",
    },
    0,
  )

describe("GroupCommit over a FlushTarget", () => {
  it.effect("syncs that arrive together share one flush, published only when it completes", () =>
    Effect.gen(function* () {
      const buffer = new FakeBuffer()
      const commit = groupCommitOver(buffer)
      buffer.nextLsn = 100
      const first = yield* Effect.forkChild(commit.syncThrough(40))
      const second = yield* Effect.forkChild(commit.syncThrough(100))
      yield* Effect.yieldNow
      assert.strictEqual(buffer.flushes.length, 1, "one round in flight covers both")
      assert.strictEqual(commit.syncedLsn, 0, "nothing is durable before the fdatasync completed")
      buffer.flushes[0]!(undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      assert.strictEqual(commit.syncedLsn, 100)
      yield* commit.syncThrough(100)
      assert.strictEqual(buffer.flushes.length, 1, "a covered sync issues no flush")
    }),
  )

  it.effect("a failed round fails its waiters with the buffer's error", () =>
    Effect.gen(function* () {
      const buffer = new FakeBuffer()
      const commit = groupCommitOver(buffer)
      buffer.nextLsn = 10
      const waiter = yield* Effect.forkChild(commit.syncThrough(10))
      yield* Effect.yieldNow
      const failure = new IoError.IoError({ syscall: "fdatasync", path: "/fake", code: "EIO", reason: "Io" })
      buffer.refusal = failure
      buffer.flushes[0]!(failure)
      const exit = yield* Fiber.await(waiter)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(commit.syncedLsn, 0)
      const later = yield* Effect.exit(commit.syncThrough(10))
      assert.deepStrictEqual(later, Exit.fail(failure), "a poisoned buffer refuses later syncs at once")
    }),
  )

  it.effect("the publishFrontierEarly mutation is a construction option: published at the round's start", () =>
    Effect.gen(function* () {
      const buffer = new FakeBuffer()
      const commit = groupCommitOver(buffer, true)
      buffer.nextLsn = 50
      yield* Effect.forkChild(commit.syncThrough(50))
      yield* Effect.yieldNow
      assert.strictEqual(commit.syncedLsn, 50, "the mutation claims durability before the fdatasync")
      assert.strictEqual(groupCommitOver(new FakeBuffer()).syncedLsn, 0)
    }),
  )

  it.effect("a lone cohort splits in two rounds in flight; each is published in LSN order", () =>
    Effect.gen(function* () {
      const buffer = new FakeBuffer()
      const commit = groupCommitOver(buffer)
      const cohort = 8
      // Each producer: one record, then (once durable) a second one, each awaiting its durability.
      const producer = Effect.gen(function* () {
        buffer.nextLsn += 10
        yield* commit.syncThrough(buffer.nextLsn)
        buffer.nextLsn += 10
        yield* commit.syncThrough(buffer.nextLsn)
      })
      const fibers = []
      for (let index = 0; index < cohort; index++) fibers.push(yield* Effect.forkChild(producer))
      yield* Effect.yieldNow
      assert.strictEqual(buffer.flushes.length, 1, "the first record starts a round; the rest wait behind it")
      // The first round held one record; its completion leaves one round for all eight.
      buffer.flushes[0]!(undefined)
      yield* Effect.yieldNow
      assert.strictEqual(buffer.flushes.length, 2)
      // That round's completion wakes all eight: half start a round inside the wake, the other
      // half a second one at its end, both in flight at once.
      buffer.flushes[1]!(undefined)
      yield* Effect.yieldNow
      assert.strictEqual(buffer.flushes.length, 4, "the cohort split into two rounds in flight")
      // Complete the rest in order; every round publishes its own target, never a later one's.
      for (let index = 2; index < buffer.flushes.length; index++) {
        const before = commit.syncedLsn
        buffer.flushes[index]!(undefined)
        yield* Effect.yieldNow
        assert.isAtLeast(commit.syncedLsn, before)
      }
      for (const fiber of fibers) yield* Fiber.join(fiber)
      assert.strictEqual(commit.syncedLsn, buffer.nextLsn)
    }),
  )

  it.effect("two rounds in flight: the later is published only after the earlier, and fails with it", () =>
    Effect.gen(function* () {
      const buffer = new FakeBuffer()
      const commit = groupCommitOver(buffer)
      buffer.nextLsn = 10
      const first = yield* Effect.forkChild(commit.syncThrough(10))
      yield* Effect.yieldNow
      // A completion with two waiters splits them: one round starts inside the wake, the next at its end.
      buffer.nextLsn = 20
      const second = yield* Effect.forkChild(commit.syncThrough(20))
      const third = yield* Effect.forkChild(commit.syncThrough(20))
      yield* Effect.yieldNow
      buffer.flushes[0]!(undefined)
      yield* Fiber.join(first)
      assert.strictEqual(buffer.flushes.length, 2)
      buffer.nextLsn = 30
      const fourth = yield* Effect.forkChild(commit.syncThrough(30))
      yield* Effect.yieldNow
      assert.strictEqual(buffer.flushes.length, 2, "a sync outside a completion waits for the round in flight")
      const failure = new IoError.IoError({ syscall: "fdatasync", path: "/fake", code: "EIO", reason: "Io" })
      buffer.refusal = failure
      buffer.flushes[1]!(failure)
      assert.isTrue(Exit.isFailure(yield* Fiber.await(second)))
      assert.isTrue(Exit.isFailure(yield* Fiber.await(third)))
      assert.isTrue(Exit.isFailure(yield* Fiber.await(fourth)), "the round behind a failed one fails too")
      assert.strictEqual(commit.syncedLsn, 10)
    }),
  )
})
