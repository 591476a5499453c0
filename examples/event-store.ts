/**
 * An event store on the journal: many concurrent command handlers append JSON events and each
 * waits for its own event to be durable (group commit turns their syncs into few fdatasyncs);
 * after a restart the state is rebuilt by replaying the journal.
 *
 * Run: `node examples/event-store.ts`
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Console, Effect, Stream } from "effect"
import { Journal, JournalReader } from "@fsys/core"

type Event =
  | { readonly type: "Deposited"; readonly account: string; readonly amount: number }
  | { readonly type: "Withdrew"; readonly account: string; readonly amount: number }

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Appends one event and returns once it is durable: the handler may now acknowledge it. */
const persist = (journal: Journal.Handle, event: Event) =>
  Effect.flatMap(journal.append(encoder.encode(JSON.stringify(event))), journal.syncThrough)

/** Rebuilds the balances by replaying every event in order. */
const replay = (path: string) =>
  Stream.runFold(
    JournalReader.records(path),
    () => new Map<string, number>(),
    (balances, record) => {
      const event = JSON.parse(decoder.decode(record.payload)) as Event
      const delta = event.type === "Deposited" ? event.amount : -event.amount
      balances.set(event.account, (balances.get(event.account) ?? 0) + delta)
      return balances
    },
  )

const ACCOUNTS = ["alice", "bob", "carol", "dave"]
const HANDLERS = 32
const EVENTS_PER_HANDLER = 50

const program = Effect.gen(function* () {
  const directory = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "fsys-event-store-"))),
    (path) => Effect.promise(() => rm(path, { recursive: true, force: true })),
  )
  const path = join(directory, "events.journal")

  const stats = yield* Effect.scoped(
    Effect.gen(function* () {
      const journal = yield* Journal.open(path)
      // Many concurrent command handlers, each awaiting its own event's durability.
      yield* Effect.forEach(
        Array.from({ length: HANDLERS }, (_, h) => h),
        (handler) =>
          Effect.gen(function* () {
            for (let i = 0; i < EVENTS_PER_HANDLER; i++) {
              const account = ACCOUNTS[(handler + i) % ACCOUNTS.length]!
              yield* persist(
                journal,
                i % 3 === 2 ? { type: "Withdrew", account, amount: 5 } : { type: "Deposited", account, amount: 10 },
              )
            }
          }),
        { concurrency: "unbounded", discard: true },
      )
      return yield* journal.stats
    }),
  )
  yield* Console.log(
    `${stats.appends} events durable with ${stats.fdatasyncs} fdatasyncs (group commit: ${(stats.appends / Math.max(1, stats.fdatasyncs)).toFixed(1)} events per sync)`,
  )

  // "Restart": rebuild the state from the journal alone.
  const balances = yield* replay(path)
  for (const account of ACCOUNTS) yield* Console.log(`${account}: ${balances.get(account) ?? 0}`)
  const total = [...balances.values()].reduce((a, b) => a + b, 0)
  yield* Console.log(`total ${total}`)
})

Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  console.error(String(error))
  process.exitCode = 1
})
