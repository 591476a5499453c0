/**
 * The bench worker: runs workloads for ONE subject in this (fresh) process — one workload in a
 * full run, all of them with `--quick` — and prints their `Outcome`s as a JSON array on its last
 * stdout line. Started by `fsys bench`; run it by hand with
 *
 * ```
 * node packages/bench/src/worker.ts '{"subject":"node-fs","workloads":[{…}],"directory":"/tmp/x"}'
 * ```
 *
 * A subject whose module or native binary cannot be loaded, or which cannot run here (io_uring
 * disabled, say), is reported as `Skipped` with the reason, never dropped.
 *
 * @since 0.1.0
 */
import { mkdir, rm } from "node:fs/promises"
import { join } from "node:path"
import type { Subject } from "./internal/driver.ts"
import { runWorkload, SubjectUnavailable } from "./internal/driver.ts"
import type { Outcome, ReferenceTask, SubjectName, Task } from "./Protocol.ts"

const loadSubject = async (name: SubjectName): Promise<Subject> => {
  switch (name) {
    case "fsys-direct-io_uring":
    case "fsys-direct-pwrite":
    case "fsys-direct-dsync":
    case "fsys-buffered":
    case "fsys-buffered-overlap":
      return (await import("./internal/subjects/fsys.ts")).subjects[name]
    case "fsys-promise":
      return (await import("./internal/subjects/fsysPromise.ts")).subject
    case "fsys-promise-dsync":
      return (await import("./internal/subjects/fsysPromise.ts")).subjectDsync
    case "node-fs":
      return (await import("./internal/subjects/nodeFs.ts")).subject
    case "node-sqlite":
    case "better-sqlite3":
      return (await import("./internal/subjects/sqlite.ts")).subjects[name]
    case "lmdb":
      return (await import("./internal/subjects/lmdb.ts")).subject
    case "classic-level":
      return (await import("./internal/subjects/classicLevel.ts")).subject
    case "limit":
      return (await import("./internal/subjects/limit.ts")).subject
    case "floor":
      return (await import("./internal/subjects/floor.ts")).subject
  }
}

const firstLine = (error: unknown): string => {
  const text = error instanceof Error ? error.message : String(error)
  return text.split("\n")[0] ?? text
}

const run = async (task: Task): Promise<Array<Outcome>> => {
  let subject: Subject
  try {
    subject = await loadSubject(task.subject)
    const unavailable = await subject.available()
    if (unavailable !== undefined) return task.workloads.map(() => ({ _tag: "Skipped", reason: unavailable }))
  } catch (error) {
    const reason = `cannot load: ${firstLine(error)}`
    return task.workloads.map(() => ({ _tag: "Skipped", reason }))
  }
  const outcomes: Array<Outcome> = []
  for (const [index, workload] of task.workloads.entries()) {
    const base = workload.onTmpfs && task.tmpfsDirectory !== undefined ? task.tmpfsDirectory : task.directory
    const directory = join(base, String(index))
    try {
      await mkdir(directory)
      outcomes.push({ _tag: "Measured", measurement: await runWorkload(subject, workload, directory) })
    } catch (error) {
      outcomes.push(
        error instanceof SubjectUnavailable
          ? { _tag: "Skipped", reason: error.message }
          : { _tag: "Failed", reason: firstLine(error) },
      )
    } finally {
      // Free the disk before the next workload; the parent removes the task directory anyway.
      await rm(directory, { recursive: true, force: true })
    }
  }
  return outcomes
}

const runReference = async (task: ReferenceTask): Promise<Outcome> => {
  try {
    const { measure } = await import("./internal/oDirect.ts")
    return { _tag: "Measured", measurement: await measure(task.directory, task.totalBytes, task.chunkBytes) }
  } catch (error) {
    return { _tag: "Skipped", reason: `O_DIRECT reference: ${firstLine(error)}` }
  }
}

const main = async (): Promise<void> => {
  const argument = process.argv[2]
  if (argument === undefined) {
    process.stderr.write("usage: worker.ts <task JSON>\n")
    process.exitCode = 2
    return
  }
  const task = JSON.parse(argument) as Task | ReferenceTask
  const outcome = "reference" in task ? [await runReference(task)] : await run(task)
  // Exit explicitly: a peer may keep handles (threads, timers) alive after closing.
  process.stdout.write(`\n${JSON.stringify(outcome)}\n`, () => process.exit(0))
}

await main()
