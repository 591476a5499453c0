/**
 * Real process crashes, on demand: `KillNineHarness.runKillRounds` (in @fsys/testkit) runs the
 * journal writer child on a real file, SIGKILLs it at a random moment, and checks what the file
 * holds against what the child logged before it died — then the next child reopens the same
 * file, recovers and writes on, and so on. `ProcessCrash.test.ts` runs a few rounds in CI.
 *
 *   node scripts/crash-kill9.ts --rounds 20 --mode both --seed 1
 *
 * Checked after every kill (CrashHarness.checkRecovery on an independent decode of the file):
 * every record below the last `D` (acknowledged durable) line is present and intact, in order;
 * what follows is a contiguous prefix of what the child submitted, nothing else; the next
 * child's open resumes exactly at the clean end with `syncedLsn` = clean end. A process crash
 * keeps the page cache, so this tests the journal's logic under concurrency and partial writes,
 * not power loss (that is the SimulatedDisk suites' job). Exit code 1 on any failure.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { KillNineHarness } from "@fsys/testkit"

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "20" },
      mode: { type: "string", default: "both" },
      seed: { type: "string", default: "1" },
      verbose: { type: "boolean", default: false },
    },
  })
  const modes = values.mode === "both" ? (["buffered", "direct"] as const) : [values.mode as "direct" | "buffered"]
  const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-kill9-"))
  let failed = 0
  const started = performance.now()
  for (const mode of modes) {
    const result = await Effect.runPromise(
      KillNineHarness.runKillRounds({ mode, rounds: Number(values.rounds), seed: Number(values.seed), directory }),
    )
    if (values.verbose) for (const summary of result.summaries) console.log(summary)
    for (const failure of result.failures) console.log(`FAIL ${failure}`)
    failed += result.failures.length
    console.log(`${mode}: ${result.summaries.length} kills, ${result.failures.length} failures`)
  }
  NodeFs.rmSync(directory, { recursive: true, force: true })
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  process.exit(failed === 0 ? 0 : 1)
}
