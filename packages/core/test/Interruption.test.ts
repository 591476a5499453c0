/**
 * Interrupt safety of the journal's own state (issue 10 items 2 and 5), on the Node layer in a
 * temp dir: a call interrupted at any scheduler yield must leave the journal usable.
 *
 * Each test runs the call with a tiny `MaxOpsBeforeYield` (so the fiber yields between almost
 * every pair of operations) and interrupts it after `k` yields of the driver, for every `k` until
 * the call completes uninterrupted. The full matrix over every call and every FileIo op lives in
 * `@fsys/testkit`'s `Interruption` suite; these are the targeted regressions.
 */
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scheduler, Scope } from "effect"
import { Journal } from "@fsys/core"
import { decodeFile, payloadFor, tempDir } from "./journalFixtures.ts"

/** Effect's own run loop hangs below 3; the testkit suite runs 3…16, these regressions need only the smallest. */
const OPS_BEFORE_YIELD = [3, 4] as const
/** Bounds the sweep over interrupt points: a call that needs more yields is a test bug. */
const YIELDS_MAX = 400
/** A journal that does not answer within this is wedged. */
const WEDGED_AFTER = "5 seconds"

/** Runs `effect` with `ops` before each yield, interrupts it after `yields` driver yields. */
const interruptAfter = <A, E>(effect: Effect.Effect<A, E>, ops: number, yields: number) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(Effect.provideService(effect, Scheduler.MaxOpsBeforeYield, ops), {
      startImmediately: true,
    })
    for (let i = 0; i < yields; i++) yield* Effect.yieldNow
    yield* Fiber.interrupt(fiber)
    return yield* Fiber.await(fiber)
  })

/**
 * Runs `effect` in a detached fiber and fails the test if it does not answer in time. Detached,
 * because a wedged journal also wedges its (uninterruptible) finalizers: timing out the effect
 * itself would wait for them forever instead of reporting.
 */
const mustAnswer = <A, E>(what: string, effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkDetach(effect)
    const exit = yield* Effect.timeoutOrElse(Fiber.await(fiber), {
      duration: WEDGED_AFTER,
      orElse: () => Effect.die(new Error(`wedged: ${what}`)),
    })
    return yield* exit
  })

/**
 * For each ops setting and each interrupt point: `setup` opens a journal, `call` is interrupted,
 * then `check` must find the journal working. Stops at the first `k` whose call completed.
 */
const sweep = (
  name: string,
  call: (journal: Journal.Handle) => Effect.Effect<unknown, unknown>,
  check: (journal: Journal.Handle, path: string) => Effect.Effect<void, unknown>,
) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    for (const ops of OPS_BEFORE_YIELD) {
      for (let k = 0; k < YIELDS_MAX; k++) {
        const path = NodePath.join(dir, `${name}-${ops}-${k}.log`)
        const completed = yield* mustAnswer(
          `${name} ops=${ops} k=${k}`,
          Effect.scoped(
            Effect.gen(function* () {
              const journal = yield* Journal.open(path, { mode: "buffered", logBufferBytes: 4096, preallocateBytes: 0 })
              const exit = yield* interruptAfter(call(journal), ops, k)
              yield* check(journal, path)
              return Exit.isSuccess(exit) || !Exit.hasInterrupts(exit)
            }),
          ),
        )
        // The journal reopens (the lock was released) with what was synced.
        yield* mustAnswer(`${name} reopen ops=${ops} k=${k}`, Effect.scoped(Journal.open(path)))
        if (completed) break
        assert.isBelow(k, YIELDS_MAX - 1, "the call completes within the sweep")
      }
    }
  })

const appendAndSync = (journal: Journal.Handle) =>
  Effect.gen(function* () {
    const end = yield* journal.append(payloadFor(9, 9, 100))
    yield* journal.syncThrough(end)
    assert.strictEqual(yield* journal.syncedLsn, end)
  })

describe("Journal calls interrupted at every scheduler yield", () => {
  it.live(
    "an interrupted syncThrough never leaves the journal without a committer",
    () =>
      sweep(
        "sync",
        (journal) => Effect.flatMap(journal.append(payloadFor(1, 1, 10)), journal.syncThrough),
        (journal) => appendAndSync(journal),
      ),
    60_000,
  )

  it.live(
    "an interrupted appendBatch that waits for a slot releases its batch gate",
    () =>
      sweep(
        "batch",
        // 20 records of 500 bytes do not fit one 4 KiB slot: the batch takes the gate and waits.
        (journal) => journal.appendBatch(Array.from({ length: 20 }, (_, i) => payloadFor(2, i, 500))),
        (journal) => appendAndSync(journal),
      ),
    60_000,
  )

  it.live(
    "an interrupted close still releases the file: the scope ends and a reopen is not locked",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        for (const ops of OPS_BEFORE_YIELD) {
          for (let k = 0; k < YIELDS_MAX; k++) {
            const path = NodePath.join(dir, `close-${ops}-${k}.log`)
            const scope = yield* Scope.make()
            const journal = yield* Scope.provide(Journal.open(path, { mode: "buffered", preallocateBytes: 0 }), scope)
            const end = yield* journal.append(payloadFor(3, k, 50))
            yield* journal.syncThrough(end)
            const exit = yield* interruptAfter(journal.close, ops, k)
            yield* mustAnswer(`scope close ops=${ops} k=${k}`, Scope.close(scope, Exit.void))
            const reopened = yield* mustAnswer(
              `reopen ops=${ops} k=${k}`,
              Effect.scoped(Effect.flatMap(Journal.open(path), (j) => j.nextLsn)),
            )
            assert.strictEqual(reopened, end, "the synced record survived")
            if (Exit.isSuccess(exit)) break
          }
        }
      }),
    60_000,
  )
})

describe("an oversize append whose payload is detached while it waits", () => {
  it.live("fails with a typed error, writes nothing, and a later oversize append works", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "detach.log")
      const first = payloadFor(4, 1, 10_000)
      const third = payloadFor(4, 3, 10_000)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, { mode: "buffered", logBufferBytes: 4096, preallocateBytes: 0 })
          // The first oversize record's scratch write is in flight: the second must wait for it.
          yield* journal.append(first)
          const second = payloadFor(4, 2, 10_000)
          const waiting = yield* Effect.forkChild(journal.append(second), { startImmediately: true })
          assert.isUndefined(waiting.pollUnsafe(), "the second oversize append waits for the scratch")
          ;(second.buffer as ArrayBuffer).transfer()
          const exit = yield* Fiber.await(waiting)
          assert.isTrue(Exit.isFailure(exit))
          if (Exit.isFailure(exit)) {
            const error = exit.cause.reasons.find((r) => r._tag === "Fail")
            assert.strictEqual(
              error?._tag === "Fail" ? (error.error as { _tag: string })._tag : "none",
              "InvalidOptions",
            )
          }
          const end = yield* mustAnswer("a later oversize append", journal.append(third))
          yield* mustAnswer("sync", journal.syncThrough(end))
        }),
      )
      const decoded = decodeFile(path)
      assert.deepStrictEqual(
        decoded.records.map((r) => r.payload),
        [first, third],
      )
      assert.strictEqual(decoded.cleanEnd, decoded.size)
    }),
  )
})
