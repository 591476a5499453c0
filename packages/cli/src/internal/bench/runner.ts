/**
 * Runs the bench: every (workload, subject) pair as its own child process
 * (`scripts/bench/worker.ts`), one after another, so each measurement (throughput, event-loop
 * delay, peak RSS) belongs to that subject alone, and the machine's two cores are not shared
 * between subjects. Each task gets a fresh temporary directory, removed afterwards.
 */
import { spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import type { Outcome, ReferenceTask, SubjectName, Task, Workload } from "../../../../../scripts/bench/protocol.ts"

/** Where the worker lives (the bench peers are dependencies of scripts/bench only). */
export const WORKER_PATH = fileURLToPath(new URL("../../../../../scripts/bench/worker.ts", import.meta.url))

/** A worker that does not answer within its workload's time plus this is killed. */
const TASK_GRACE_MILLIS = 180_000
/** Bound on the worker output kept (its last line is the outcome). */
const OUTPUT_LIMIT_BYTES = 1024 * 1024

const runWorker = (task: Task | ReferenceTask, timeoutMillis: number): Effect.Effect<Outcome> =>
  Effect.callback<Outcome>((resume, signal) => {
    const child = spawn(process.execPath, [WORKER_PATH, JSON.stringify(task)], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      if (stdout.length < OUTPUT_LIMIT_BYTES) stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      if (stderr.length < OUTPUT_LIMIT_BYTES) stderr += chunk
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMillis)
    signal.addEventListener("abort", () => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
    child.on("error", (error) => {
      clearTimeout(timer)
      resume(Effect.succeed({ _tag: "Failed", reason: `cannot start the worker: ${error.message}` }))
    })
    child.on("close", (code, killedBy) => {
      clearTimeout(timer)
      const last = stdout.trimEnd().split("\n").pop() ?? ""
      try {
        resume(Effect.succeed(JSON.parse(last) as Outcome))
      } catch {
        const why = killedBy !== null ? `killed by ${killedBy}` : `exit code ${code}`
        const detail = stderr.trim().split("\n").filter((line) => line.trim() !== "").pop() ?? "no output"
        resume(Effect.succeed({ _tag: "Failed", reason: `worker ${why}: ${detail}` }))
      }
    })
  })

const withDirectory = <A>(use: (directory: string) => Effect.Effect<A>): Effect.Effect<A> =>
  Effect.acquireUseRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "fsys-bench-"))),
    use,
    (directory) => Effect.promise(() => rm(directory, { recursive: true, force: true })),
  )

/** Runs one workload for one subject in a fresh process and directory. */
export const runTask = (subject: SubjectName, workload: Workload): Effect.Effect<Outcome> =>
  withDirectory((directory) =>
    runWorker({ subject, workload, directory }, workload.durationMillis + TASK_GRACE_MILLIS)
  )

/** Measures the disk's O_DIRECT bandwidth for `totalBytes` in 1 MiB writes. */
export const runODirectReference = (totalBytes: number): Effect.Effect<Outcome> =>
  withDirectory((directory) =>
    runWorker({ reference: "o_direct", directory, totalBytes, chunkBytes: 1024 * 1024 }, TASK_GRACE_MILLIS)
  )
