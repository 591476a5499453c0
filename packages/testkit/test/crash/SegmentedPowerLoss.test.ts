/**
 * The segmented journal's randomized power-loss suite: for each mode (rotation, truncateFront,
 * truncateBack, retention, checkpoint), `FSYS_SEGMENT_SEEDS` seeds (default 200 per mode, see the note below) from
 * `FSYS_SEGMENT_SEED_FROM` (default 1), each a workload, a power cut at a random system call,
 * and the invariants listed in `segmented.ts`.
 *
 * A seed costs about 30 ms here (several segment opens and rotations on the simulated disk), so
 * the default keeps the suite near 30 s; `node scripts/segment-crash-seeds.ts N` runs N seeds
 * per mode outside vitest for the long runs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runSegmentSeed, segmentModes } from "./segmented.ts"

const CHUNK_SEEDS = 250
const FAILURES_SHOWN = 6
const CHUNK_TIMEOUT_MILLIS = 240_000

const envInteger = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer`)
  return value
}

const seeds = envInteger("FSYS_SEGMENT_SEEDS", 200)
const from = envInteger("FSYS_SEGMENT_SEED_FROM", 1)

describe.each(segmentModes)(`segmented journal power loss, %s (${seeds} seeds)`, (mode) => {
  for (let chunkStart = from; chunkStart < from + seeds; chunkStart += CHUNK_SEEDS) {
    const chunkEnd = Math.min(chunkStart + CHUNK_SEEDS, from + seeds) - 1
    it.live(
      `seeds ${chunkStart}..${chunkEnd}`,
      () =>
        Effect.gen(function* () {
          const messages: Array<string> = []
          let appended = 0
          for (let seed = chunkStart; seed <= chunkEnd; seed++) {
            const outcome = yield* runSegmentSeed(seed, mode)
            appended += outcome.appended
            messages.push(...outcome.failures)
          }
          assert.isAbove(appended, 0, "the workloads appended nothing")
          assert.deepStrictEqual(messages.slice(0, FAILURES_SHOWN), [], `${messages.length} failures`)
        }),
      CHUNK_TIMEOUT_MILLIS,
    )
  }
})
