/**
 * Runs the randomized power-loss suite for as many seeds as you like and prints the failing ones.
 *
 *   node scripts/crash-seeds.ts                         # 1000 seeds per mode, from seed 1
 *   node scripts/crash-seeds.ts --seeds 20000 --from 5000 --mode direct
 *   node scripts/crash-seeds.ts --seed 1234 --mode buffered --verbose   # replay one seed
 *
 * Each seed is one `CrashHarness.runSeed`: the real Journal on a SimulatedDisk, concurrent
 * writers, power loss at random points (sometimes during recovery, sometimes with EIO / ENOSPC /
 * short writes armed), processes killed during recovery, same-boot reopens after a failed
 * fdatasync, 512e disks, reopen and check every invariant. The last line counts the runs that
 * hit each of those classes. A seed is deterministic: a failing seed
 * printed here replays exactly with `--seed`. Exit code 1 when any seed failed.
 *
 * (Run through `npx pnpm@12.4.2 exec node …` or with `node_modules/.bin/node`: it needs Node 24.)
 */
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { CrashHarness } from "@fsys/testkit"

/** A bound on one invocation: at ~50 ms per seed this is hours of work. */
const SEEDS_MAX = 1_000_000
/** Failures printed in full per seed; the rest are counted. */
const FAILURE_LINES_PER_SEED = 4

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "1000" },
    from: { type: "string", default: "1" },
    seed: { type: "string" },
    mode: { type: "string", default: "both" },
    epochs: { type: "string", default: "4" },
    verbose: { type: "boolean", default: false },
    "no-batch": { type: "boolean", default: false },
  },
})

const modes: ReadonlyArray<"direct" | "buffered"> =
  values.mode === "both" ? ["buffered", "direct"] : values.mode === "direct" ? ["direct"] : ["buffered"]
if (values.mode !== "both" && values.mode !== "direct" && values.mode !== "buffered") {
  console.error(`--mode must be both, direct or buffered (got ${values.mode})`)
  process.exit(2)
}
const first = Number(values.seed ?? values.from)
const count = values.seed === undefined ? Number(values.seeds) : 1
const epochs = Number(values.epochs)
if (!Number.isSafeInteger(first) || !Number.isSafeInteger(count) || count < 1 || count > SEEDS_MAX || !(epochs >= 1)) {
  console.error("--seeds/--from/--seed/--epochs must be positive integers")
  process.exit(2)
}

/**
 * How many runs exercised each failure class the harness injects (read from the run's trace), so
 * a report can say the classes were really hit, not only that nothing failed.
 */
const COVERAGE: ReadonlyArray<readonly [string, (trace: string, crashes: ReadonlyArray<string>) => boolean]> = [
  ["same-boot reopen after EIO", (trace) => trace.includes("same-boot reopen")],
  ["process killed in recovery", (_, crashes) => crashes.some((crash) => crash.startsWith("process killed"))],
  ["power loss in recovery", (_, crashes) => crashes.some((crash) => crash.startsWith("power loss during recovery"))],
  ["4 KiB physical sectors", (trace) => trace.includes("physical 4096")],
  ["torn tail recovered", (trace) => trace.includes("tail nonZero")],
]
const covered = new Map<string, number>(COVERAGE.map(([name]) => [name, 0]))

const failing: Array<string> = []
const startedMillis = performance.now()
let runs = 0
for (const mode of modes) {
  for (let seed = first; seed < first + count; seed++) {
    const result = await Effect.runPromise(
      CrashHarness.runSeed({ seed, mode, epochs, appendBatch: !values["no-batch"] }),
    )
    runs++
    for (const [name, hit] of COVERAGE) {
      if (hit(result.fingerprint, result.crashes)) covered.set(name, (covered.get(name) ?? 0) + 1)
    }
    if (values.verbose) {
      console.log(result.fingerprint)
      for (const crash of result.crashes) console.log(`  ${crash}`)
      console.log(`seed ${seed} ${mode}: ${result.appended} appended, ${result.recovered} recovered at the end`)
    }
    if (result.failures.length > 0) {
      failing.push(`${seed} ${mode}`)
      console.log(`FAIL seed ${seed} ${mode}`)
      for (const line of result.failures.slice(0, FAILURE_LINES_PER_SEED)) console.log(`  ${line}`)
      if (result.failures.length > FAILURE_LINES_PER_SEED) {
        console.log(`  … ${result.failures.length - FAILURE_LINES_PER_SEED} more`)
      }
    }
    if (!values.verbose && runs % 500 === 0) {
      console.log(
        `${runs} runs, ${failing.length} failing, ${((performance.now() - startedMillis) / 1000).toFixed(1)} s`,
      )
    }
  }
}
const seconds = (performance.now() - startedMillis) / 1000
console.log(
  `${runs} runs (${modes.join(" + ")}, seeds ${first}..${first + count - 1}) in ${seconds.toFixed(1)} s, ` +
    `${((seconds * 1000) / runs).toFixed(1)} ms each: ${failing.length} failing`,
)
console.log(`runs that hit each class: ${[...covered].map(([name, count]) => `${name} ${count}`).join(", ")}`)
if (failing.length > 0) {
  console.log(`failing seeds: ${failing.join(", ")}`)
  console.log("replay one with: node scripts/crash-seeds.ts --seed <n> --mode <mode> --verbose")
  process.exit(1)
}
