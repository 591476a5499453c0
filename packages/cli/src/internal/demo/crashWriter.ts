/**
 * The demo's child writer, killed with SIGKILL mid-stream by `fsys demo`.
 *
 * Opens the journal given in argv (recovering whatever is there), then runs `PRODUCERS` fibers
 * that append numbered events and await their durability. Only AFTER `syncThrough` returns does it
 * report an id as durable, on stdout as `ack <id>` lines (batched per event-loop turn). The parent
 * verifies, after the kill and a reopen, that every acknowledged id is there, intact and in order.
 * A record written but not acknowledged may or may not survive; both are correct.
 *
 * Run: `node crashWriter.ts <journal> <maxRecords>`
 */
import { Effect } from "effect"
import { Journal } from "@fsys/core"
import * as Records from "./records.ts"

/** Concurrent producers in the child (group commit makes them cheap). */
const PRODUCERS = 16

const path = process.argv[2]
const maxRecords = Number(process.argv[3] ?? "1000000")
if (path === undefined || !Number.isInteger(maxRecords) || maxRecords <= 0) {
  process.stderr.write("usage: crashWriter.ts <journal> <maxRecords>\n")
  process.exit(2)
}

// Acks are written in one stdout write per event-loop turn, not one per record.
let pending: Array<number> = []
let scheduled = false
const ack = (id: number): void => {
  pending.push(id)
  if (scheduled) return
  scheduled = true
  setImmediate(() => {
    scheduled = false
    const ids = pending
    pending = []
    process.stdout.write(ids.map((i) => `ack ${i}\n`).join(""))
  })
}

let nextId = 0
const producer = (handle: Journal.Handle) =>
  Effect.gen(function* () {
    while (nextId < maxRecords) {
      const id = nextId++
      const end = yield* handle.append(Records.childEvent(id))
      yield* handle.syncThrough(end)
      ack(id)
    }
  })

const program = Effect.scoped(
  Effect.gen(function* () {
    const handle = yield* Journal.open(path)
    process.stdout.write("ready\n")
    yield* Effect.forEach(Array.from({ length: PRODUCERS }), () => producer(handle), {
      concurrency: "unbounded",
      discard: true,
    })
  }),
)

Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`crashWriter: ${String(error)}\n`)
    process.exit(1)
  },
)
