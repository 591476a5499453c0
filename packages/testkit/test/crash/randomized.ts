/**
 * The randomized power-loss suite, split into chunks of seeds so progress shows and a failure
 * names its chunk. `FSYS_CRASH_SEEDS` (default 1000 per mode) and `FSYS_CRASH_SEED_FROM`
 * (default 1) pick the seeds; `node scripts/crash-seeds.ts` runs any number on demand.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { CrashHarness } from "@fsys/testkit"

/** Seeds per `it`: about 5–10 s of work on one core here. */
const CHUNK_SEEDS = 100
/** Failures printed per chunk: the first ones say what broke, the seed list says where. */
const FAILURES_SHOWN = 6
/** Per chunk; generous because CI shares 2 cores among test files. */
const CHUNK_TIMEOUT_MILLIS = 240_000

const envInteger = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer`)
  return value
}

export const randomizedSuite = (mode: "direct" | "buffered"): void => {
  const seeds = envInteger("FSYS_CRASH_SEEDS", 1000)
  const from = envInteger("FSYS_CRASH_SEED_FROM", 1)
  describe(`randomized power loss, ${mode} journal (${seeds} seeds from ${from})`, () => {
    for (let chunkStart = from; chunkStart < from + seeds; chunkStart += CHUNK_SEEDS) {
      const chunkEnd = Math.min(chunkStart + CHUNK_SEEDS, from + seeds) - 1
      it.live(
        `seeds ${chunkStart}..${chunkEnd}: every invariant holds after every crash`,
        () =>
          Effect.gen(function* () {
            const failing: Array<number> = []
            const messages: Array<string> = []
            let appended = 0
            for (let seed = chunkStart; seed <= chunkEnd; seed++) {
              const result = yield* CrashHarness.runSeed({ seed, mode })
              appended += result.appended
              if (result.failures.length > 0) {
                failing.push(seed)
                messages.push(...result.failures.slice(0, 2))
              }
            }
            assert.isAbove(appended, 0, "the workload appended nothing")
            assert.strictEqual(
              failing.length,
              0,
              `failing seeds (${mode}): ${failing.join(", ")}\n${messages.slice(0, FAILURES_SHOWN).join("\n")}\n` +
                `replay: node scripts/crash-seeds.ts --seed <n> --mode ${mode} --verbose`,
            )
          }),
        CHUNK_TIMEOUT_MILLIS,
      )
    }
  })
}
