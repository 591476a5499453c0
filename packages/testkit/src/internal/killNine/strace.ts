/**
 * fdatasync EIO injected into the real Node (pwrite) path with strace: the journal writer child
 * (`runWriter`) runs under
 *
 *   strace -f -e trace=fdatasync -e inject=fdatasync:error=EIO:when=<n> node journalWriter.ts …
 *
 * (`-f` because Node's fdatasync runs on threadpool threads; `when` counts per thread, so the first
 * thread to reach its nth fdatasync gets the EIO). Checked: the journal reports `JournalPoisoned`
 * (EIO) to the syncer, refuses every later append and sync, and close reports it too; strace's
 * log shows **no fdatasync on the journal's descriptor after the failed one** (never retried:
 * Linux may have dropped the dirty pages, a retry could falsely succeed); and after a reopen every
 * record acknowledged durable before the failure is present and intact.
 *
 * io_uring submissions cannot be injected by strace: those paths are covered by the simulated disk.
 * Used by the testkit's ProcessCrash suite and `scripts/crash-strace.ts`.
 *
 * @since 0.1.0
 */
import { spawnSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { Journal } from "@fsys/core"
import * as CrashHarness from "../../CrashHarness.ts"
import { expectationFor, parseWriterLog, runWriter } from "./rounds.ts"

/** Why strace cannot be used here, or undefined when it can (installed and allowed to ptrace). */
export const straceUnavailable = (): string | undefined => {
  const probe = spawnSync("strace", ["-f", "-qq", "-o", "/dev/null", "-e", "trace=none", "true"], { encoding: "utf8" })
  if (probe.error !== undefined)
    return `strace is not installed (${probe.error.message}); .ci/run installs it with apt-get`
  if (probe.status !== 0) return `strace cannot trace here (exit ${probe.status}): ${probe.stderr.trim()}`
  return undefined
}

export interface StraceOptions {
  readonly mode: "direct" | "buffered"
  readonly directory: string
  /** Per thread: the nth fdatasync a threadpool thread runs fails with EIO. */
  readonly whenNth: number
  readonly seed: number
}

export interface StraceResult {
  readonly failures: ReadonlyArray<string>
  readonly summary: string
}

/** fdatasync calls started on descriptor `fd` after the injected failure (retries). */
export const retriesAfterInjection = (
  straceLog: string,
): { readonly injected: boolean; readonly fd: string; readonly retries: number } => {
  const lines = straceLog.split("\n")
  const injectedAt = lines.findIndex((entry) => entry.includes("INJECTED"))
  if (injectedAt < 0) return { injected: false, fd: "", retries: 0 }
  const injected = lines[injectedAt] as string
  const pid = injected.split(" ")[0]
  let fd = /fdatasync\((\d+)/.exec(injected)?.[1]
  // With concurrent threads strace splits a call into "<unfinished ...>" and "<... resumed>".
  for (let index = injectedAt - 1; fd === undefined && index >= 0; index--) {
    const entry = lines[index] as string
    if (entry.startsWith(`${pid} `) && entry.includes("unfinished")) fd = /fdatasync\((\d+)/.exec(entry)?.[1]
  }
  if (fd === undefined) return { injected: true, fd: "?", retries: 0 }
  const started = new RegExp(`fdatasync\\(${fd}[)\\s]`)
  const retries = lines
    .slice(injectedAt + 1)
    .filter((entry) => started.test(entry) && !entry.includes("resumed")).length
  return { injected: true, fd, retries }
}

/** One child under strace with the nth fdatasync failing, then the checks above. */
export const runStraceEio = async (options: StraceOptions): Promise<StraceResult> => {
  const path = NodePath.join(options.directory, `strace-${options.mode}-${options.seed}.log`)
  const straceLog = NodePath.join(options.directory, `strace-${options.mode}-${options.seed}.trace`)
  const context = `${options.mode}, fdatasync #${options.whenNth} per thread fails with EIO`
  const failures: Array<string> = []
  const run = await runWriter({
    wrap: [
      "strace",
      "-f",
      "-qq",
      "-o",
      straceLog,
      "-e",
      "trace=fdatasync",
      "-e",
      `inject=fdatasync:error=EIO:when=${options.whenNth}`,
    ],
    args: [
      ...["--path", path, "--mode", options.mode, "--backend", "pwrite", "--epoch", "1", "--writers", "4"],
      ...["--seed", String(options.seed), "--records-max", "400", "--sync-probability", "0.5"],
    ],
  }).pipe(Effect.runPromise)
  const log = parseWriterLog(run.lines, 1)
  if (log.ready === undefined)
    return { failures: [`${context}: the writer never opened: ${run.stderr.slice(0, 500)}`], summary: "" }
  const trace = retriesAfterInjection(NodeFs.readFileSync(straceLog, "utf8"))
  if (!trace.injected) failures.push(`${context}: strace never injected the EIO (too few fdatasyncs?)`)
  if (trace.retries > 0)
    failures.push(`${context}: ${trace.retries} fdatasync(s) on fd ${trace.fd} after the failed one (retried)`)
  const poisonedSync = log.errors.some((error) => /sync(Through)? JournalPoisoned EIO/.test(error))
  if (trace.injected && !poisonedSync)
    failures.push(`${context}: no syncer saw JournalPoisoned(EIO): ${log.errors.join("; ")}`)
  if (trace.injected) {
    for (const required of ["main append JournalPoisoned EIO", "main sync JournalPoisoned EIO"]) {
      if (!log.errors.includes(required)) failures.push(`${context}: expected "${required}" after the failure`)
    }
    if (log.closed !== "fail JournalPoisoned EIO") failures.push(`${context}: close reported "${log.closed}"`)
  }
  // Reopen (no strace) and check what was acknowledged durable before the failure.
  const resumed = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const journal = yield* Journal.open(path, { mode: options.mode, backend: "pwrite" })
        const next = yield* journal.nextLsn
        yield* journal.close
        return next
      }),
    ),
  ).catch((error: unknown) => `failed: ${String(error)}`)
  const decoded = CrashHarness.decodeJournal(new Uint8Array(NodeFs.readFileSync(path)))
  if (resumed !== decoded.cleanEnd) failures.push(`${context}: reopened at ${resumed}, clean end ${decoded.cleanEnd}`)
  for (const violation of CrashHarness.checkRecovery(expectationFor(1, [], 0, log), decoded.records)) {
    failures.push(`${context}: ${violation}`)
  }
  const summary =
    `${context}: ${log.appended} appended, durable ${log.durableLsn} before the failure, ` +
    `${decoded.records.length} records after reopen, injected on fd ${trace.fd}, ${trace.retries} retries`
  return { failures, summary }
}
