/**
 * The demo's child writer, killed with SIGKILL mid-stream by `fsys demo`.
 *
 * Opens the journal given in argv (recovering whatever is there), then runs `PRODUCERS` fibers
 * that append numbered events and await their durability. Only AFTER `syncThrough` returns does it
 * report an id as durable, as an `ack <id>` line of its `KillNineHarness.childLog` (a synchronous
 * write(2) to the log file the parent reads after the kill, batched per event-loop turn; echoed to
 * stdout). The parent verifies, after the kill and a reopen, that every acknowledged id is there,
 * intact. A record written but not acknowledged may or may not survive; both are correct.
 *
 * Run: `node crashWriter.ts <journal> <maxRecords> [--log <file>]`
 */
import { Effect } from "effect"
import { Journal } from "@fsys/core"
import { KillNineHarness } from "@fsys/testkit"
import * as Records from "./records.ts"

/** Concurrent producers in the child (group commit makes them cheap). */
const PRODUCERS = 16

const path = process.argv[2]
const maxRecords = Number(process.argv[3] ?? "1000000")
if (path === undefined || !Number.isInteger(maxRecords) || maxRecords <= 0) {
  process.stderr.write("usage: crashWriter.ts <journal> <maxRecords>\n")
  process.exit(2)
}

const log = KillNineHarness.childLog(KillNineHarness.logPathFrom(process.argv))

// Acks are logged with one write per event-loop turn, not one per record. An id is logged only
// after its syncThrough returned; one still pending when the kill lands is simply not checked.
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
    log.lines(ids.map((i) => `ack ${i}`))
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
    log.line("ready")
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
