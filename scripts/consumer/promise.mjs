// A Node.js user who has never seen Effect, in a plain .mjs file: the Promise API of the packed
// @fsys/core. Run by scripts/consumer-test.ts in a fresh project outside the workspace:
// `node promise.mjs <journal path>`.
import { JournalLocked, LsnOutOfRange, openJournal, records, scan } from "@fsys/core/promise"

const path = process.argv[2]
const encoder = new TextEncoder()
const decoder = new TextDecoder()

const journal = await openJournal(path)
const info = journal.info()
console.log(`${process.version}: ${info.mode} journal (direct active: ${info.directActive}) over ${info.backend}`)

const first = await journal.append(encoder.encode("hello"))
await journal.syncThrough(first)
await journal.appendBatch(["from", "a", "plain", ".mjs"].map((word) => encoder.encode(word)))
console.log(`durable through LSN ${await journal.sync()}`)

// Errors are the tagged classes themselves.
try {
  await openJournal(path)
  throw new Error("a second open of a locked journal succeeded")
} catch (error) {
  if (!(error instanceof JournalLocked)) throw error
  console.log(`second open: ${error._tag}: ${error.message}`)
}
const refused = await journal.syncThrough(-1).catch((error) => error)
if (!(refused instanceof LsnOutOfRange)) throw new Error(`expected LsnOutOfRange, got ${refused}`)
console.log(`syncThrough(-1): ${refused._tag}: ${refused.message}`)
await journal.close()

const words = []
for await (const record of records(path)) words.push(decoder.decode(record.payload))
console.log(`records: ${words.join(" ")}`)
const result = await scan(path)
console.log(`scan: ${result.records} records, clean end ${result.cleanEnd}, tail ${result.tailState}`)
