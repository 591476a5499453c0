/**
 * fdatasync EIO injected into the real Node (pwrite) path with strace (the checks are
 * `KillNineHarness.runStraceEio`'s, in @fsys/testkit):
 *
 *   node scripts/crash-strace.ts --mode both --when 3
 *
 * io_uring submissions cannot be injected by strace: those paths are covered by the simulated disk.
 * Exits 0 with a message (not a failure) when strace is missing or ptrace is not allowed.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { parseArgs } from "node:util"
import { KillNineHarness } from "@fsys/testkit"

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      mode: { type: "string", default: "both" },
      when: { type: "string", default: "3" },
      seed: { type: "string", default: "1" },
    },
  })
  const unavailable = KillNineHarness.straceUnavailable()
  if (unavailable !== undefined) {
    console.log(`skipped: ${unavailable}`)
    process.exit(0)
  }
  const modes = values.mode === "both" ? (["buffered", "direct"] as const) : [values.mode as "direct" | "buffered"]
  const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-strace-"))
  let failed = 0
  for (const mode of modes) {
    const result = await KillNineHarness.runStraceEio({
      mode,
      directory,
      whenNth: Number(values.when),
      seed: Number(values.seed),
    })
    console.log(result.summary)
    for (const failure of result.failures) console.log(`FAIL ${failure}`)
    failed += result.failures.length
  }
  NodeFs.rmSync(directory, { recursive: true, force: true })
  process.exit(failed === 0 ? 0 : 1)
}
