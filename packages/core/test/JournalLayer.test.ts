/**
 * `Journal.layer`: the journal as a scoped service, opened when the layer is built and closed
 * (synced, released) when its scope ends.
 */
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Journal, JournalError } from "@fsys/core"
import { decodeFile, tempDir } from "./journalFixtures.ts"

describe("Journal.layer", () => {
  it.effect("provides the handle; the layer's end syncs and unlocks the file", () =>
    Effect.gen(function* () {
      const path = NodePath.join(yield* tempDir, "layer.journal")
      const program = Effect.gen(function* () {
        const journal = yield* Journal.Journal
        yield* journal.append(new TextEncoder().encode("from a layer")) // not synced here
        return yield* journal.info
      })
      const info = yield* Effect.provide(program, Journal.layer(path, { mode: "buffered" }))
      assert.strictEqual(info.path, path)
      assert.strictEqual(info.mode, "buffered")
      // The layer closed the journal: the unsynced record is on disk and the lock is free.
      assert.strictEqual(decodeFile(path).records.length, 1)
      const reopened = yield* Effect.provide(
        Effect.flatMap(Journal.Journal, (journal) => journal.info),
        Journal.layer(path),
      )
      assert.strictEqual(reopened.recoveredRecords, 1)
    }),
  )

  it.live("fails to build with the journal's typed error (the file is locked by an open handle)", () =>
    Effect.gen(function* () {
      const path = NodePath.join(yield* tempDir, "locked.journal")
      yield* Journal.open(path) // held until the test's scope ends
      const error = yield* Effect.flip(Effect.provide(Journal.Journal, Journal.layer(path)))
      assert.instanceOf(error, JournalError.JournalLocked)
    }),
  )
})
