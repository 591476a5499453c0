/**
 * `syncMethod: "dsync"` on the real disk: over io_uring the rounds after the first are RWF_DSYNC
 * writes (`stats.dsyncWrites`), every record reads back after a reopen (checked by the
 * independent `Frame.decode` oracle), and over pwrite, which has no such write, the journal says
 * it uses fdatasync. Which bytes a DSYNC write makes durable is checked under power loss on the
 * simulated disk (`packages/testkit/test/crash/DsyncRounds.test.ts`).
 */
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Frame, Journal } from "@fsys/core"
import { decodeFile, payloadFor, tempDir } from "./journalFixtures.ts"

const PRODUCERS = 8
const APPENDS_PER_PRODUCER = 40

describe.each(["direct", "buffered"] as const)("a %s journal with syncMethod dsync", (mode) => {
  it.live("over io_uring: rounds are DSYNC writes, and every record reads back after a reopen", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const path = NodePath.join(yield* tempDir, "dsync.log")
        const sizes = [100, 4096, 70_000]
        const expected = new Map<number, Uint8Array>()
        const stats = yield* Effect.scoped(
          Effect.gen(function* () {
            const journal = yield* Journal.open(path, { mode, backend: "io_uring", syncMethod: "dsync" })
            assert.strictEqual((yield* journal.info).syncMethod, "dsync")
            yield* Effect.forEach(
              Array.from({ length: PRODUCERS }, (_, producer) => producer),
              (producer) =>
                Effect.gen(function* () {
                  for (let sequence = 0; sequence < APPENDS_PER_PRODUCER; sequence++) {
                    const payload = payloadFor(producer, sequence, sizes[(producer + sequence) % sizes.length]!)
                    const end = yield* journal.appendDurable(payload)
                    expected.set(end - Frame.frameBytes(payload.byteLength), payload)
                  }
                }),
              { concurrency: "unbounded", discard: true },
            )
            return yield* journal.stats
          }),
        )
        assert.isAbove(stats.dsyncWrites, 0, "some rounds were DSYNC writes")
        assert.isAtMost(stats.dsyncWrites, 2 * stats.fdatasyncs)
        const reopened = yield* Effect.scoped(
          Effect.flatMap(Journal.open(path, { mode, backend: "io_uring", syncMethod: "dsync" }), (j) => j.nextLsn),
        )
        const decoded = decodeFile(path)
        assert.strictEqual(decoded.records.length, PRODUCERS * APPENDS_PER_PRODUCER)
        for (const record of decoded.records) assert.deepStrictEqual(record.payload, expected.get(record.lsn))
        assert.strictEqual(reopened, decoded.cleanEnd)
      }),
    ),
  )

  it.live("over pwrite: no DSYNC write, and info says fdatasync", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const path = NodePath.join(yield* tempDir, "pwrite.log")
        const journal = yield* Journal.open(path, { mode, backend: "pwrite", syncMethod: "dsync" })
        assert.strictEqual((yield* journal.info).syncMethod, "fdatasync")
        for (let index = 0; index < 5; index++) yield* journal.appendDurable(payloadFor(0, index, 100))
        assert.strictEqual((yield* journal.stats).dsyncWrites, 0)
      }),
    ),
  )
})
