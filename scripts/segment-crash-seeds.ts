/**
 * Runs the segmented journal's power-loss suite outside vitest, for long runs:
 * `node scripts/segment-crash-seeds.ts [seedsPerMode=2000] [fromSeed=1] [mode] [ioMode]` (each seed
 * of each workload mode runs in both IO modes unless `ioMode` is given; prints failures and a
 * summary; exit 1 when any seed fails).
 */
import { Effect } from "effect"
import { ioModes, runSegmentSeed, segmentModes } from "../packages/testkit/test/crash/segmented.ts"

const seeds = Number(process.argv[2] ?? 2000)
const from = Number(process.argv[3] ?? 1)
const only = process.argv[4]
const modes = only === undefined || only === "all" ? segmentModes : segmentModes.filter((mode) => mode === only)
const onlyIo = process.argv[5]
const ios = onlyIo === undefined ? ioModes : ioModes.filter((io) => io === onlyIo)
const started = performance.now()
let failures = 0
let appended = 0
await Effect.runPromise(
  Effect.gen(function* () {
    for (const mode of modes) {
      for (const io of ios) {
        for (let seed = from; seed < from + seeds; seed++) {
          const outcome = yield* runSegmentSeed(seed, mode, io)
          appended += outcome.appended
          failures += outcome.failures.length
          for (const failure of outcome.failures) console.log(failure)
        }
      }
      console.log(`${mode}: seeds ${from}..${from + seeds - 1} done, ${failures} failures so far`)
    }
  }),
)
const seconds = (performance.now() - started) / 1000
console.log(
  `${seeds * modes.length * ios.length} runs (${seeds} seeds per workload mode and IO mode), ${appended} records appended, ${failures} failures, ${seconds.toFixed(0)} s`,
)
process.exitCode = failures === 0 ? 0 : 1
