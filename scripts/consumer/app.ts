// An Effect user's TypeScript app against the packed packages: type-checked by the user's own
// tsc (a `tsc --init` nodenext config with skipLibCheck off), compiled, and run with
// `node dist/app.js <journal path>` by scripts/consumer-test.ts.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Stream } from "effect"
import { Journal, type JournalError, JournalReader } from "@fsys/core"

const path = process.argv[2] ?? "app.journal"
const encoder = new TextEncoder()

const appendAll = (
  journal: Journal.Handle,
  words: ReadonlyArray<string>,
): Effect.Effect<number, JournalError.JournalError> => journal.appendBatch(words.map((word) => encoder.encode(word)))

const program = Effect.gen(function* () {
  const journal = yield* Journal.Journal
  const info: Journal.Info = yield* journal.info
  yield* Console.log(
    `${process.version}: ${info.mode} journal over ${info.backend}, ${info.recoveredRecords} records recovered`,
  )
  const end = yield* appendAll(journal, ["and", "from", "a", "typed", "Effect", "app"])
  yield* journal.syncThrough(end)
  // The error channel is typed: a bad LSN is an LsnOutOfRange the compiler knows about.
  const refused = yield* journal.syncThrough(end + 1).pipe(
    Effect.as("accepted"),
    Effect.catchTag("LsnOutOfRange", (error) => Effect.succeed(`${error._tag} (next LSN ${error.nextLsn})`)),
  )
  yield* Console.log(`syncThrough beyond the end: ${refused}`)
})

const readBack = Effect.gen(function* () {
  const records = yield* Stream.runCollect(JournalReader.records(path, { from: 0 }))
  const last = records[records.length - 1]
  yield* Console.log(`${records.length} records, the last at LSN ${last?.lsn}`)
})

NodeRuntime.runMain(program.pipe(Effect.provide(Journal.layer(path)), Effect.andThen(readBack)))
