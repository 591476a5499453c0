import { openJournal, records } from "@fsys/core/promise"

const journal = await openJournal("app.journal") // creates it, or recovers it after a crash
const end = await journal.append(new TextEncoder().encode("hello")) // in the log buffer
await journal.syncThrough(end) // on stable storage: survives a crash from here on
await journal.close() // or `await using journal = …` (Node 24)

for await (const record of records("app.journal")) {
  console.log(record.lsn, new TextDecoder().decode(record.payload))
}
