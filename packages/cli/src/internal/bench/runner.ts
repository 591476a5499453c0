/**
 * Runs the bench's child processes (`@fsys/bench/worker`) one after another, so the
 * machine's two cores are never shared between subjects. A full run starts one process per
 * (workload, subject), so each measurement (throughput, event-loop delay, peak RSS) belongs to
 * that pair alone; `--quick` starts one per subject. Each process gets a fresh temporary
 * directory, removed afterwards.
 */
import { spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import type { Outcome, ReferenceTask, SubjectName, Task, Workload } from "@fsys/bench/Protocol"

/**
 * Where the worker lives, resolved through the package by name (the bench peers are dependencies
 * of `@fsys/bench` only, so the worker must run from there to find them).
 */
export const WORKER_PATH = createRequire(import.meta.url).resolve("@fsys/bench/worker")

/** A worker that does not answer within its workload's time plus this is killed. */
const TASK_GRACE_MILLIS = 180_000
/** Bound on the worker output kept (its last line is the outcome). */
const OUTPUT_LIMIT_BYTES = 1024 * 1024

const runWorker = (task: Task | ReferenceTask, count: number, timeoutMillis: number): Effect.Effect<Array<Outcome>> =>
  Effect.callback<Array<Outcome>>((resume, signal) => {
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
      resume(Effect.succeed(failAll(count, `cannot start the worker: ${error.message}`)))
    })
    child.on("close", (code, killedBy) => {
      clearTimeout(timer)
      const last = stdout.trimEnd().split("\n").pop() ?? ""
      let outcomes: Array<Outcome> | undefined
      try {
        const parsed: unknown = JSON.parse(last)
        if (Array.isArray(parsed) && parsed.length === count) outcomes = parsed as Array<Outcome>
      } catch {
        outcomes = undefined
      }
      if (outcomes !== undefined) return resume(Effect.succeed(outcomes))
      const why = killedBy !== null ? `killed by ${killedBy}` : `exit code ${code}`
      const detail =
        stderr
          .trim()
          .split("\n")
          .filter((line) => line.trim() !== "")
          .pop() ?? "no output"
      resume(Effect.succeed(failAll(count, `worker ${why}: ${detail}`)))
    })
  })

const failAll = (count: number, reason: string): Array<Outcome> =>
  Array.from({ length: count }, () => ({ _tag: "Failed", reason }) as const)

/** Where the workloads marked `onTmpfs` run. */
export const TMPFS_ROOT = "/dev/shm"

/** The default root for the other workloads' directories (`--dir` overrides it). */
export const defaultRoot = (): string => tmpdir()

const withDirectory = <A>(root: string, use: (directory: string) => Effect.Effect<A>): Effect.Effect<A> =>
  Effect.acquireUseRelease(
    Effect.promise(() => mkdtemp(join(root, "fsys-bench-"))),
    use,
    (directory) => Effect.promise(() => rm(directory, { recursive: true, force: true })),
  )

/**
 * Runs workloads for one subject in a fresh process and a fresh directory under `root` (and one
 * under `TMPFS_ROOT` for the workloads marked `onTmpfs`); one outcome per workload.
 */
export const runTask = (
  subject: SubjectName,
  workloads: ReadonlyArray<Workload>,
  root: string,
): Effect.Effect<Array<Outcome>> => {
  const run = (task: Task) =>
    runWorker(task, workloads.length, workloads.reduce((total, w) => total + w.durationMillis, 0) + TASK_GRACE_MILLIS)
  return withDirectory(root, (directory) =>
    workloads.some((w) => w.onTmpfs)
      ? withDirectory(TMPFS_ROOT, (tmpfsDirectory) => run({ subject, workloads, directory, tmpfsDirectory }))
      : run({ subject, workloads, directory }),
  )
}

/** Measures the disk's O_DIRECT bandwidth for `totalBytes` in 1 MiB writes. */
export const runODirectReference = (totalBytes: number, root: string): Effect.Effect<Outcome> =>
  withDirectory(root, (directory) =>
    Effect.map(
      runWorker({ reference: "o_direct", directory, totalBytes, chunkBytes: 1024 * 1024 }, 1, TASK_GRACE_MILLIS),
      (outcomes) => outcomes[0]!,
    ),
  )
