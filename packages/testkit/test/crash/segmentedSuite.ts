/**
 * The segmented journal's randomized power-loss suite, for one IO mode: for each workload mode
 * (rotation, truncateFront, truncateBack, retention, checkpoint), `FSYS_SEGMENT_SEEDS` seeds
 * (default 200 per workload mode, so 1000 per IO mode) from `FSYS_SEGMENT_SEED_FROM` (default 1),
 * each a workload, a power cut at a random system call, and the invariants listed in
 * `segmented.ts`.
 *
 * One file per IO mode (`SegmentedPowerLossBuffered.test.ts`, `…Direct.test.ts`) so vitest runs
 * the two in parallel workers; a seed costs about 20 ms here. Each chunk also asserts what it
 * covered — rotations, the mode's own operation completed, and power cuts landing inside it — so
 * a workload change that stops exercising an operation fails instead of passing vacuously.
 * `node scripts/segment-crash-seeds.ts N` runs N seeds per mode outside vitest for long runs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type IoMode, runSegmentSeed, segmentModes } from "./segmented.ts"

const CHUNK_SEEDS = 100
const FAILURES_SHOWN = 6
const CHUNK_TIMEOUT_MILLIS = 240_000
/**
 * Coverage floors per chunk of `CHUNK_SEEDS`. Measured at seeds 1..100: 36–75 seeds rotated per
 * mode; cuts inside the mode's own operation 6–38 (truncateFront the fewest). A rotation-mode
 * batch does no IO of its own, so its cuts land in the rotations instead.
 */
const ROTATED_FRACTION_MIN = 0.2
const CUT_DURING_SPECIAL_MIN = 1
/**
 * Recycling (`recycleSegments`, on in most retention seeds and half the truncateFront ones).
 * Measured at seeds 1..200: 12–19 retention and 7–8 truncateFront seeds per chunk recycled a
 * segment; power cuts between retiring a segment and the standby taking it, 2–6 per retention
 * chunk — too few to floor per chunk, so they are counted over the whole run.
 */
const RECYCLED_SEEDS_MIN = { retention: 5, truncateFront: 2 } as const
const CUT_DURING_RECYCLE_MIN = 1

const envInteger = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer`)
  return value
}

export const segmentedPowerLossSuite = (ioMode: IoMode): void => {
  const seeds = envInteger("FSYS_SEGMENT_SEEDS", 200)
  const from = envInteger("FSYS_SEGMENT_SEED_FROM", 1)
  describe.each(segmentModes)(`segmented journal power loss, ${ioMode}, %s (${seeds} seeds)`, (mode) => {
    let cutsWhileRecycling = 0
    for (let chunkStart = from; chunkStart < from + seeds; chunkStart += CHUNK_SEEDS) {
      const chunkEnd = Math.min(chunkStart + CHUNK_SEEDS, from + seeds) - 1
      it.live(
        `seeds ${chunkStart}..${chunkEnd}`,
        () =>
          Effect.gen(function* () {
            const messages: Array<string> = []
            let appended = 0
            let rotated = 0
            let specialsDone = 0
            let cutDuringSpecial = 0
            let recycledSeeds = 0
            let cutDuringRecycle = 0
            for (let seed = chunkStart; seed <= chunkEnd; seed++) {
              const outcome = yield* runSegmentSeed(seed, mode, ioMode)
              appended += outcome.appended
              messages.push(...outcome.failures)
              if (outcome.coverage.rotated) rotated++
              specialsDone += outcome.coverage.specialsDone
              if (outcome.coverage.cutDuringSpecial) cutDuringSpecial++
              if (outcome.coverage.recycles > 0) recycledSeeds++
              if (outcome.coverage.cutDuringRecycle) {
                cutDuringRecycle++
                cutsWhileRecycling++
              }
            }
            assert.deepStrictEqual(messages.slice(0, FAILURES_SHOWN), [], `${messages.length} failures`)
            const count = chunkEnd - chunkStart + 1
            const coverage =
              `rotated ${rotated}/${count}, ${mode} done ${specialsDone}, cut inside ${cutDuringSpecial}, ` +
              `recycled in ${recycledSeeds}, cut while recycling ${cutDuringRecycle}`
            assert.isAbove(appended, 0, "the workloads appended nothing")
            if (count === CHUNK_SEEDS) {
              assert.isAtLeast(rotated, ROTATED_FRACTION_MIN * count, coverage)
              assert.isAtLeast(specialsDone, count, coverage)
              if (mode !== "rotation") assert.isAtLeast(cutDuringSpecial, CUT_DURING_SPECIAL_MIN, coverage)
              if (mode === "retention" || mode === "truncateFront") {
                assert.isAtLeast(recycledSeeds, RECYCLED_SEEDS_MIN[mode], coverage)
              }
            }
          }),
        CHUNK_TIMEOUT_MILLIS,
      )
    }
    if (mode === "retention" && seeds >= CHUNK_SEEDS) {
      // Runs after the chunks (a file's tests run in order).
      it("power cuts landed between retiring a segment and its reuse as the standby", () => {
        assert.isAtLeast(cutsWhileRecycling, CUT_DURING_RECYCLE_MIN)
      })
    }
  })
}
