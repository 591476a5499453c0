/**
 * Runs the demo's child writer (`crashWriter.ts`) and kills it with SIGKILL mid-stream, once it
 * has acknowledged enough durable records or after a time limit, and returns the ids it
 * acknowledged before it died.
 */
import { spawn } from "node:child_process"
import { extname } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import * as Failure from "../failure.ts"

/** The writer sits next to this module: `.ts` when run from the sources, `.js` when built. */
const WRITER_PATH = fileURLToPath(new URL(`./crashWriter${extname(import.meta.url)}`, import.meta.url))
/** If the child never becomes ready (or hangs), give up after this long. */
const STARTUP_TIMEOUT_MILLIS = 20_000

export interface CrashResult {
  /** Ids the child reported durable before the kill. */
  readonly acknowledged: ReadonlyArray<number>
  /** How long it ran after opening the journal. */
  readonly ranMillis: number
  readonly signal: string | null
}

/**
 * Starts the writer on `path` and kills it after `killAfterAcks` acknowledgements or
 * `killAfterMillis`, whichever comes first.
 */
export const run = (
  path: string,
  options: {
    readonly killAfterAcks: number
    readonly killAfterMillis: number
    readonly onAck: (count: number) => void
  },
): Effect.Effect<CrashResult, Failure.CliFailure> =>
  Effect.callback<CrashResult, Failure.CliFailure>((resume, signal) => {
    const child = spawn(process.execPath, [WRITER_PATH, path, String(options.killAfterAcks * 100)], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    const acknowledged: Array<number> = []
    let readyAtMillis: number | undefined
    let killTimer: NodeJS.Timeout | undefined
    let buffered = ""
    let stderr = ""
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    }
    const startupTimer = setTimeout(kill, STARTUP_TIMEOUT_MILLIS)
    signal.addEventListener("abort", kill)
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk
    })
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk
      const lines = buffered.split("\n")
      buffered = lines.pop() ?? ""
      for (const line of lines) {
        if (line === "ready") {
          readyAtMillis = performance.now()
          clearTimeout(startupTimer)
          killTimer = setTimeout(kill, options.killAfterMillis)
        } else if (line.startsWith("ack ")) {
          acknowledged.push(Number(line.slice(4)))
        }
      }
      options.onAck(acknowledged.length)
      // Kill mid-stream: the child is still appending while we pull the plug.
      if (acknowledged.length >= options.killAfterAcks) kill()
    })
    child.on("error", (error) => {
      clearTimeout(startupTimer)
      resume(Effect.fail(Failure.failed(`cannot start the crash-test writer: ${error.message}`)))
    })
    child.on("close", (code, killedBy) => {
      clearTimeout(startupTimer)
      clearTimeout(killTimer)
      if (readyAtMillis === undefined) {
        const why = stderr.trim().split("\n").pop() ?? `exit code ${code}`
        return resume(Effect.fail(Failure.failed(`the crash-test writer did not start: ${why}`)))
      }
      if (killedBy !== "SIGKILL") {
        const why = stderr.trim().split("\n").pop() ?? `exit code ${code}`
        return resume(Effect.fail(Failure.failed(`the crash-test writer ended before the kill: ${why}`)))
      }
      resume(Effect.succeed({ acknowledged, ranMillis: performance.now() - readyAtMillis, signal: killedBy }))
    })
  })
