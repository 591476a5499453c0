import { Console, Effect, Stream } from "effect"
import { Journal, JournalReader } from "@fsys/core"

const encode = (text: string) => new TextEncoder().encode(text)

const writing = Effect.scoped(
  Effect.gen(function* () {
    // Scoped: closing the scope syncs and releases the file, buffers and ring.
    const journal = yield* Journal.open("events.journal") // mode "direct" by default
    const end = yield* journal.append(encode("hello")) // end LSN, not yet durable
    yield* journal.syncThrough(end) // durable now
    yield* journal.appendBatch([encode("a"), encode("b"), encode("c")]) // one reservation, in order
    const durable = yield* journal.sync // everything appended so far
    const info = yield* journal.info // { mode, directActive, backend, sectorBytes, logBufferBytes, reason, … }
    yield* Console.log(`durable through LSN ${durable}; ${info.mode} over ${info.backend}`)
  }),
)

// Reading needs no open journal: records carry their start LSN.
const reading = Effect.gen(function* () {
  const scan = yield* JournalReader.scan("events.journal") // { records, cleanEnd, tailState, fileSize }
  yield* Console.log(`${scan.records} records, clean end ${scan.cleanEnd}, tail ${scan.tailState}`)
  const records = yield* Stream.runCollect(JournalReader.records("events.journal", { from: 0, follow: false }))
  yield* Console.log(records.map((record) => `${record.lsn}:${new TextDecoder().decode(record.payload)}`).join(" "))
})

Effect.runPromise(Effect.andThen(writing, reading))
