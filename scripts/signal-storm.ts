/**
 * Journals opened and synced under a signal storm: each child process opens a journal over
 * io_uring, makes 8 × 20 records durable and closes it, while V8's CPU profiler signals its main
 * thread every `intervalMicros` (SIGPROF). A child's first fdatasync is where io-wq creates its
 * first worker thread, and a creation that keeps failing under pending signals makes the kernel
 * cancel the request unrun (-ECANCELED): before the ring submitted such requests again
 * (`packages/native/src/internal/ioUring/resubmit.ts`), 2 of 20 children failed to open here at
 * 20 µs (and 2 of 40 at 50 µs, opening through the bench subject in a throwaway script); the deterministic test of the same answer is the ring's
 * `completionResult` seam (`IoUringResubmit.test.ts`, `CallbackIo.test.ts`).
 *
 * Run: `node_modules/.bin/node scripts/signal-storm.ts [children=20] [intervalMicros=20] [direct|buffered]`
 * (each child takes ≈ 1.4 s here). Exits 1 when any child failed.
 */
import * as ChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { openJournal } from "@fsys/core/promise"

const CHILD_FLAG = "--child"
const PRODUCERS = 8
const RECORDS_PER_PRODUCER = 20

const child = async (mode: "direct" | "buffered"): Promise<void> => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-storm-"))
  let phase = "open"
  try {
    const journal = await openJournal(NodePath.join(dir, "storm.journal"), { mode, backend: "io_uring" })
    phase = "appendDurable"
    const producer = async (): Promise<void> => {
      for (let i = 0; i < RECORDS_PER_PRODUCER; i++) await journal.appendDurable(new Uint8Array(100).fill(i))
    }
    await Promise.all(Array.from({ length: PRODUCERS }, producer))
    phase = "close"
    await journal.close()
    console.log("ok")
  } catch (error) {
    console.log(`failed in ${phase}: ${String(error)}`)
    process.exitCode = 1
  } finally {
    NodeFs.rmSync(dir, { recursive: true, force: true })
  }
}

const parent = (children: number, intervalMicros: number, mode: string): void => {
  const profiles = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-storm-prof-"))
  let failed = 0
  const started = performance.now()
  for (let i = 0; i < children; i++) {
    const run = ChildProcess.spawnSync(
      process.execPath,
      [
        "--cpu-prof",
        `--cpu-prof-interval=${intervalMicros}`,
        `--cpu-prof-dir=${profiles}`,
        process.argv[1]!,
        CHILD_FLAG,
        mode,
      ],
      { encoding: "utf8", timeout: 60_000 },
    )
    const said = `${run.stdout}${run.stderr}`.trim().split("\n").at(-1) ?? ""
    if (run.status !== 0 || said !== "ok") {
      failed++
      console.log(`child ${i}: ${said || `exit ${run.status}`}`)
    }
  }
  NodeFs.rmSync(profiles, { recursive: true, force: true })
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  console.log(
    `signal-storm: ${failed} of ${children} children failed (${mode}, SIGPROF every ${intervalMicros} µs, ${seconds} s)`,
  )
  if (failed > 0) process.exitCode = 1
}

if (process.argv[2] === CHILD_FLAG) await child(process.argv[3] === "buffered" ? "buffered" : "direct")
else parent(Number(process.argv[2] ?? 20), Number(process.argv[3] ?? 20), process.argv[4] ?? "direct")
