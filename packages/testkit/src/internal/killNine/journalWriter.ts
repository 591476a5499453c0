/**
 * The journal writer child of the process-crash suites (`KillNineHarness.runKillRounds`,
 * scripts/crash-kill9.ts, scripts/crash-strace.ts).
 *
 * Opens the journal (recovering whatever the previous child left), runs concurrent writer fibers
 * appending self-describing records (`Generators.record`) and syncing some of them, and reports
 * every step through the harness's child log (`childLog.ts`: a synchronous write(2) to the
 * `--log` file before the step goes on, echoed to stdout), so a line in the log was written
 * before the step it describes:
 *
 *   R <nextLsn> <syncedLsn> <mode> <directActive> <backend>   journal open
 *   S <writer> <sequence> <sizeBytes>                         append submitted
 *   A <writer> <sequence> <sizeBytes> <endLsn>                append returned
 *   D <lsn>                                                   [0, lsn) acknowledged durable
 *   E <who> <operation> <errorTag> <errno>                    an operation failed
 *   Z                                                         every writer finished
 *   C ok | C fail <errorTag>                                  close returned
 *
 * After a failure the failing writer stops; when all stopped, the child checks the poison from
 * the main fiber (one more append and sync, both must fail without IO) and closes.
 *
 *   node packages/testkit/src/internal/killNine/journalWriter.ts --path /tmp/j.log --mode direct --epoch 3 --writers 8 --seed 7
 *
 * @internal
 */
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { Journal, type JournalError } from "@fsys/core"
import * as Generators from "../../Generators.ts"
import * as ChildLog from "./childLog.ts"

const { values } = parseArgs({
  options: {
    path: { type: "string" },
    log: { type: "string" },
    mode: { type: "string", default: "buffered" },
    backend: { type: "string", default: "auto" },
    epoch: { type: "string", default: "1" },
    writers: { type: "string", default: "4" },
    seed: { type: "string", default: "1" },
    "records-max": { type: "string", default: "2000" },
    "sync-probability": { type: "string", default: "0.3" },
  },
})

/** The log-buffer slot size the child uses; record sizes are drawn relative to it. */
const LOG_BUFFER_BYTES = 65536

const path = values.path
const mode = values.mode
const backend = values.backend
const epoch = Number(values.epoch)
const writers = Number(values.writers)
const seed = Number(values.seed)
const recordsMax = Number(values["records-max"])
const syncProbability = Number(values["sync-probability"])
if (
  path === undefined ||
  (mode !== "direct" && mode !== "buffered") ||
  (backend !== "auto" && backend !== "pwrite" && backend !== "io_uring") ||
  ![epoch, writers, seed, recordsMax].every((value) => Number.isSafeInteger(value) && value >= 0) ||
  !(syncProbability >= 0 && syncProbability <= 1)
) {
  process.stderr.write(
    "usage: journalWriter.ts --path <file> [--mode direct|buffered] [--backend auto|pwrite|io_uring] [--epoch n] [--writers n] [--seed n] [--records-max n]\n",
  )
  process.exit(2)
}

const log = ChildLog.open(values.log)
const line = log.line

const describe = (error: JournalError.JournalError): string =>
  error._tag === "JournalPoisoned"
    ? `JournalPoisoned ${error.cause.code}`
    : error._tag === "IoError"
      ? `IoError ${error.code}`
      : `${error._tag} -`

const program = Effect.gen(function* () {
  const journal = yield* Journal.open(path, { mode, backend, logBufferBytes: LOG_BUFFER_BYTES })
  const info = yield* journal.info
  line(`R ${yield* journal.nextLsn} ${yield* journal.syncedLsn} ${info.mode} ${info.directActive} ${info.backend}`)

  const writer = (writerIndex: number) =>
    Effect.gen(function* () {
      const random = Generators.random(seed * 1009 + writerIndex)
      for (let sequence = 0; sequence < recordsMax; sequence++) {
        const sizeBytes = Generators.recordSizeBytes(random, { logBufferBytes: LOG_BUFFER_BYTES })
        const payload = Generators.record({ epoch, writer: writerIndex, sequence }, sizeBytes)
        line(`S ${writerIndex} ${sequence} ${sizeBytes}`)
        const appended = yield* Effect.result(journal.append(payload))
        if (appended._tag === "Failure") return line(`E ${writerIndex} append ${describe(appended.failure)}`)
        line(`A ${writerIndex} ${sequence} ${sizeBytes} ${appended.success}`)
        if (random.chance(syncProbability)) {
          const synced = yield* Effect.result(journal.syncThrough(appended.success))
          if (synced._tag === "Failure") return line(`E ${writerIndex} syncThrough ${describe(synced.failure)}`)
          line(`D ${appended.success}`)
        }
      }
    })

  yield* Effect.forEach(
    Array.from({ length: writers }, (_, index) => index + 1),
    writer,
    { concurrency: "unbounded", discard: true },
  )
  line("Z")
  // A poisoned journal must refuse more work without touching the disk; a healthy one accepts it.
  const probe = Generators.record({ epoch, writer: 0, sequence: 0 }, 64)
  line(`S 0 0 64`)
  const appended = yield* Effect.result(journal.append(probe))
  if (appended._tag === "Failure") line(`E main append ${describe(appended.failure)}`)
  else line(`A 0 0 64 ${appended.success}`)
  const synced = yield* Effect.result(journal.sync)
  if (synced._tag === "Failure") line(`E main sync ${describe(synced.failure)}`)
  else line(`D ${synced.success}`)
  const closed = yield* Effect.result(journal.close)
  line(closed._tag === "Success" ? "C ok" : `C fail ${describe(closed.failure)}`)
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`journalWriter: ${String(error)}\n`)
    process.exit(1)
  },
)
