/**
 * Runs the demo's child writer (`crashWriter.ts`) through @fsys/testkit's `KillNineHarness` and
 * kills it with SIGKILL mid-stream, once it has acknowledged enough durable records or after a
 * time limit, and returns the ids it acknowledged before it died — read from the child's log
 * file after the kill (the harness's evidence), not from its stdout pipe (only the trigger).
 */
import { extname } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { KillNineHarness } from "@fsys/testkit"
import * as Failure from "../failure.ts"

/** The writer sits next to this module: `.ts` when run from the sources, `.js` when built. */
const WRITER_PATH = fileURLToPath(new URL(`./crashWriter${extname(import.meta.url)}`, import.meta.url))
/** If the child never becomes ready (or hangs), give up after this long. */
const STARTUP_TIMEOUT_MILLIS = 20_000

/** The child's lines (protocol in `crashWriter.ts`). */
export const READY_LINE = "ready"
export const ACK_PREFIX = "ack "

export interface CrashResult {
  /** Ids the child logged durable before the kill. */
  readonly acknowledged: ReadonlyArray<number>
  /** How long it ran after opening the journal. */
  readonly ranMillis: number
  readonly signal: string | null
}

const lastLine = (stderr: string, code: number | null): string => {
  const line = stderr.trim().split("\n").pop() ?? ""
  return line === "" ? `exit code ${code}` : line
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
): Effect.Effect<CrashResult, Failure.CliFailure> => {
  let echoedAcks = 0
  return KillNineHarness.run({
    script: WRITER_PATH,
    args: [path, String(options.killAfterAcks * 100)],
    readyPrefix: READY_LINE,
    killAfterMillis: options.killAfterMillis,
    readyTimeoutMillis: STARTUP_TIMEOUT_MILLIS,
    onLine: (line) => {
      if (!line.startsWith(ACK_PREFIX)) return
      echoedAcks++
      options.onAck(echoedAcks)
    },
    // Kill mid-stream: the child is still appending while we pull the plug.
    killWhen: () => echoedAcks >= options.killAfterAcks,
  }).pipe(
    Effect.mapError((error) => Failure.failed(`the crash-test writer failed: ${error.message}`)),
    Effect.flatMap((outcome) => {
      if (!outcome.ready) {
        return Effect.fail(
          Failure.failed(`the crash-test writer did not start: ${lastLine(outcome.stderr, outcome.code)}`),
        )
      }
      if (outcome.signal !== "SIGKILL") {
        return Effect.fail(
          Failure.failed(`the crash-test writer ended before the kill: ${lastLine(outcome.stderr, outcome.code)}`),
        )
      }
      const acknowledged = outcome.lines.flatMap((line) =>
        line.startsWith(ACK_PREFIX) ? [Number(line.slice(ACK_PREFIX.length))] : [],
      )
      return Effect.succeed({ acknowledged, ranMillis: outcome.ranMillis, signal: outcome.signal })
    }),
  )
}
