/**
 * Where an append whose turn's budget is spent gives the event loop back (issue 12, loop p99 of
 * large records). Appenders wake in an IO completion, the event loop's poll phase; a
 * `setImmediate` queued there runs in the same iteration's check phase, before any timer. So
 * "place, then yield with one immediate" let two or three 1 MiB appends (≈ 0.5 ms of copying and
 * CRC each) run between two timers phases: the bench's 1 MiB rows read a loop p99 of 2.4–5.5 ms.
 * Now an append that finds the budget spent yields first, through two immediates (the second
 * runs after the next timers phase), and places after. Observed without clocks: a timer that is
 * already due when the appends are called must run before the second one is placed.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Journal } from "@fsys/core"
import { openJournal } from "@fsys/core/promise"
import { tempDir } from "./journalFixtures.ts"

/** Larger than the 256 KiB a turn may copy, so one record spends a turn's budget. */
const RECORD_BYTES = 300 * 1024

/** Busy for `millis` (so that a 0 ms timer armed before is due). */
const spin = (millis: number): void => {
  const until = performance.now() + millis
  while (performance.now() < until) {
    // spinning: the test needs the timer to be due, not time to pass idle
  }
}

/**
 * In an IO callback (the poll phase, where a write's completion wakes appenders): arms a 0 ms
 * timer, lets it come due, runs `appendTwo`, and returns what `nextLsn` read when the timer ran
 * and the second append's end.
 */
const fromPollPhase = (
  dir: string,
  nextLsn: () => number,
  appendTwo: () => Promise<readonly [number, number]>,
): Promise<{ readonly atTimer: number; readonly first: number; readonly second: number }> =>
  new Promise((resolve, reject) => {
    NodeFs.stat(dir, () => {
      let atTimer = -1
      setTimeout(() => {
        atTimer = nextLsn()
      }, 0)
      spin(3)
      appendTwo().then(([first, second]) => resolve({ atTimer, first, second }), reject)
    })
  })

describe("an append whose turn's budget is spent yields before it places", () => {
  it.live("Promise API: a due timer runs before the second large append is placed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const journal = yield* Effect.promise(() =>
        openJournal(NodePath.join(dir, "promise.log"), { mode: "buffered", preallocateBytes: 0 }),
      )
      const record = new Uint8Array(RECORD_BYTES).fill(3)
      for (let round = 0; round < 3; round++) {
        const seen = yield* Effect.promise(() =>
          fromPollPhase(dir, journal.nextLsn, () => Promise.all([journal.append(record), journal.append(record)])),
        )
        assert.isAbove(seen.atTimer, -1, "the timer ran")
        assert.isBelow(seen.atTimer, seen.second, `round ${round}: both placed before a due timer ran`)
      }
      yield* Effect.promise(() => journal.close())
    }).pipe(Effect.scoped),
  )

  it.live("Effect API: a due timer runs before the second large append is placed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const handle = yield* Journal.open(NodePath.join(dir, "effect.log"), { mode: "buffered", preallocateBytes: 0 })
      const record = new Uint8Array(RECORD_BYTES).fill(4)
      const nextLsn = () => Effect.runSync(handle.nextLsn)
      const two = Effect.gen(function* () {
        const first = yield* handle.append(record)
        const second = yield* handle.append(record)
        return [first, second] as const
      })
      for (let round = 0; round < 3; round++) {
        const seen = yield* Effect.promise(() => fromPollPhase(dir, nextLsn, () => Effect.runPromise(two)))
        assert.isAbove(seen.atTimer, -1, "the timer ran")
        assert.isBelow(seen.atTimer, seen.second, `round ${round}: both placed before a due timer ran`)
      }
    }).pipe(Effect.scoped),
  )
})
