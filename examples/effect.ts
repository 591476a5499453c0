import { Console, Effect, Stream } from "effect"
import { Journal, JournalReader } from "@fsys/core"

const program = Effect.gen(function* () {
  const journal = yield* Journal.Journal
  const end = yield* journal.append(new TextEncoder().encode("hello")) // in the log buffer
  yield* journal.syncThrough(end) // on stable storage
  yield* journal.appendBatch(["from", "Effect"].map((word) => new TextEncoder().encode(word)))
}) // the layer's end syncs what is left and closes the journal

const readBack = Stream.runForEach(JournalReader.records("app.journal"), (record) =>
  Console.log(record.lsn, new TextDecoder().decode(record.payload)),
)

Effect.runPromise(program.pipe(Effect.provide(Journal.layer("app.journal")), Effect.andThen(readBack)))
