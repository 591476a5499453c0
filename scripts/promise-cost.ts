/**
 * What the Promise API costs per call over the Effect API: unsynced 100-byte appends, the same
 * engine, one producer, through `yield*` in one Effect program vs `await journal.append` (one
 * `Effect.runPromise` each), plus the bare `Effect.runPromise(Effect.succeed(x))` for scale.
 *
 * Run: `node scripts/promise-cost.ts [records]` (buffered mode in a temp directory).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { Journal } from "@fsys/core"
import { openJournal } from "@fsys/core/promise"

const RECORDS = Number(process.argv[2] ?? 200_000)
const payload = new Uint8Array(100)
const dir = mkdtempSync(join(tmpdir(), "fsys-promise-cost-"))

const perRecordMicros = (startNanos: bigint): string =>
  (Number(process.hrtime.bigint() - startNanos) / 1000 / RECORDS).toFixed(3)

try {
  for (let round = 0; round < 2; round++) {
    const effectPath = join(dir, `effect-${round}.journal`)
    const effectMicros = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(effectPath, { mode: "buffered" })
          const start = process.hrtime.bigint()
          for (let i = 0; i < RECORDS; i++) yield* journal.append(payload)
          return perRecordMicros(start)
        }),
      ),
    )

    const journal = await openJournal(join(dir, `promise-${round}.journal`), { mode: "buffered" })
    let start = process.hrtime.bigint()
    for (let i = 0; i < RECORDS; i++) await journal.append(payload)
    const promiseMicros = perRecordMicros(start)
    await journal.close()

    start = process.hrtime.bigint()
    for (let i = 0; i < RECORDS; i++) await Effect.runPromise(Effect.succeed(i))
    const runPromiseMicros = perRecordMicros(start)
    console.log(
      `round ${round}: Effect append ${effectMicros} µs/record, Promise append ${promiseMicros} µs/record, bare Effect.runPromise ${runPromiseMicros} µs`,
    )
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
