/**
 * The parent side of a kill -9 run: spawn a child script with this Node binary, wait for its
 * ready line, SIGKILL it (after a time, or when an echoed line says so), and read its log FILE
 * after it is gone.
 *
 * Why a file and not the pipe: the child writes each log line with a synchronous write(2) to the
 * file before it goes on, so a line that exists was written before the step it describes, and a
 * completed write(2) survives SIGKILL in the page cache. A pipe write can sit in Node's user-space
 * buffer when the pipe is full, and die with the process (seen under CI load: records in the
 * journal whose "submitted" line never reached the parent). The child's stdout is only an echo,
 * used for timing (ready, kill triggers, progress), never as evidence.
 *
 * @internal
 */
import { spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Data, Effect } from "effect"

/** A child that has not printed its ready line by then is broken. */
export const READY_TIMEOUT_MILLIS = 30_000
/** A child still alive this long after ready (killed or not) means a stuck run. */
export const EXIT_TIMEOUT_MILLIS = 30_000
/** Stderr kept for failure messages. */
const STDERR_KEPT_BYTES = 64 * 1024
/** The argument the child gets its log path with (appended after its own arguments). */
export const LOG_FLAG = "--log"

/** @internal */
export interface RunOptions {
  /** The child script (run by `process.execPath`). */
  readonly script: string
  readonly args: ReadonlyArray<string>
  /** A command put in front, e.g. `["strace", "-f", …]`. */
  readonly wrap?: ReadonlyArray<string> | undefined
  /** The first echoed line starting with this is "ready". Default `"R "`. */
  readonly readyPrefix?: string | undefined
  /** SIGKILL this long after ready; absent: not by time. */
  readonly killAfterMillis?: number | undefined
  /** SIGKILL once this returns true for an echoed line (a trigger only: the log is the evidence). */
  readonly killWhen?: ((line: string) => boolean) | undefined
  /** Sees every echoed line (progress). */
  readonly onLine?: ((line: string) => void) | undefined
  readonly readyTimeoutMillis?: number | undefined
  readonly exitTimeoutMillis?: number | undefined
}

/** @internal */
export interface Outcome {
  /** The complete lines of the child's log file (a torn last line is dropped). */
  readonly lines: ReadonlyArray<string>
  readonly stderr: string
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** Whether the child printed its ready line. */
  readonly ready: boolean
  /** Whether this harness sent the SIGKILL (by time or trigger). */
  readonly killed: boolean
  /** From ready to exit; 0 if never ready. */
  readonly ranMillis: number
}

/** @internal */
export class ChildError extends Data.TaggedError("KillNineChildError")<{
  readonly reason: "Spawn" | "NotReady" | "NoExit"
  readonly detail: string
  readonly stderr: string
}> {
  override get message(): string {
    const last = this.stderr.trim().split("\n").pop() ?? ""
    return `kill -9 child: ${this.detail}${last === "" ? "" : `: ${last}`}`
  }
}

/** Numbers the log files of this process's runs. */
let runs = 0

/** The complete lines of `text` (everything after the last newline is a torn write). */
export const completeLines = (text: string): ReadonlyArray<string> => {
  const lines = text.split("\n")
  lines.pop()
  return lines
}

const readLog = (logPath: string): ReadonlyArray<string> => {
  try {
    const text = NodeFs.readFileSync(logPath, "utf8")
    NodeFs.rmSync(logPath, { force: true })
    return completeLines(text)
  } catch {
    // The child died before it opened its log: it did nothing.
    return []
  }
}

/** Runs the child (see the module comment); interrupting the effect SIGKILLs it. */
export const run = (options: RunOptions): Effect.Effect<Outcome, ChildError> =>
  Effect.callback<Outcome, ChildError>((resume, abort) => {
    const logPath = NodePath.join(NodeOs.tmpdir(), `fsys-kill9-${process.pid}-${++runs}.log`)
    const command = [...(options.wrap ?? []), process.execPath, options.script, ...options.args, LOG_FLAG, logPath]
    const child = spawn(command[0]!, command.slice(1), { stdio: ["ignore", "pipe", "pipe"] })
    const readyPrefix = options.readyPrefix ?? "R "
    let readyAtMillis: number | undefined
    let killed = false
    let failure: ChildError | undefined
    let stderr = ""
    let pending = ""
    const timers: Array<NodeJS.Timeout> = []
    const kill = () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      killed = true
      child.kill("SIGKILL")
    }
    const failWith = (reason: ChildError["reason"], detail: string) => {
      failure ??= new ChildError({ reason, detail, stderr })
      kill()
    }
    timers.push(
      setTimeout(
        () => readyAtMillis === undefined && failWith("NotReady", "not ready in time"),
        options.readyTimeoutMillis ?? READY_TIMEOUT_MILLIS,
      ),
    )
    abort.addEventListener("abort", kill)
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      if (stderr.length < STDERR_KEPT_BYTES) stderr += chunk
    })
    const onLine = (line: string) => {
      if (readyAtMillis === undefined && line.startsWith(readyPrefix)) {
        readyAtMillis = performance.now()
        if (options.killAfterMillis !== undefined) timers.push(setTimeout(kill, options.killAfterMillis))
        timers.push(
          setTimeout(() => failWith("NoExit", "did not exit"), options.exitTimeoutMillis ?? EXIT_TIMEOUT_MILLIS),
        )
      }
      options.onLine?.(line)
      if (readyAtMillis !== undefined && options.killWhen?.(line) === true) kill()
    }
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n")
      pending = lines.pop() ?? ""
      for (const line of lines) onLine(line)
    })
    child.on("error", (error) => failWith("Spawn", `cannot start ${options.script}: ${error.message}`))
    child.on("close", (code, signal) => {
      for (const timer of timers) clearTimeout(timer)
      const lines = readLog(logPath)
      if (failure !== undefined) {
        return resume(Effect.fail(new ChildError({ reason: failure.reason, detail: failure.detail, stderr })))
      }
      const ranMillis = readyAtMillis === undefined ? 0 : performance.now() - readyAtMillis
      resume(Effect.succeed({ lines, stderr, code, signal, ready: readyAtMillis !== undefined, killed, ranMillis }))
    })
  })
