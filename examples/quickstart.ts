/**
 * Quickstart: open a journal, append records, make them durable, read them back.
 *
 * Run: `node examples/quickstart.ts` (Node 24; through pnpm: `npx pnpm@12.4.2 exec node examples/quickstart.ts`)
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Console, Effect, Stream } from "effect"
import { Journal, JournalReader } from "@fsys/core"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const program = Effect.gen(function* () {
  const directory = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "fsys-quickstart-"))),
    (path) => Effect.promise(() => rm(path, { recursive: true, force: true })),
  )
  const path = join(directory, "app.journal")

  // The journal lives as long as this scope: closing it syncs and releases the file.
  yield* Effect.scoped(
    Effect.gen(function* () {
      const journal = yield* Journal.open(path)
      const info = yield* journal.info
      yield* Console.log(`opened ${info.mode} journal over ${info.backend} (${info.reason})`)

      // append returns the record's end LSN; it is in memory, not yet durable.
      const first = yield* journal.append(encoder.encode("hello"))
      // syncThrough(lsn) returns once everything before lsn is on stable storage.
      yield* journal.syncThrough(first)

      // A batch is one reservation; sync makes everything appended so far durable.
      yield* journal.appendBatch(["world", "from", "fsys"].map((word) => encoder.encode(word)))
      const durable = yield* journal.sync
      yield* Console.log(`durable through LSN ${durable}`)
    }),
  )

  // Read it back: records carry their start LSN.
  const records = yield* Stream.runCollect(JournalReader.records(path))
  for (const record of records) yield* Console.log(`${record.lsn}\t${decoder.decode(record.payload)}`)
  const scan = yield* JournalReader.scan(path)
  yield* Console.log(`${scan.records} records, clean end ${scan.cleanEnd}, tail ${scan.tailState}`)
})

Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  console.error(String(error))
  process.exitCode = 1
})
