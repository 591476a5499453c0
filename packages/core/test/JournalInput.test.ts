/**
 * Issue 10 item 6: bad input gets a typed error and changes nothing on disk; a payload whose
 * `length` or `byteLength` getter lies is appended as the bytes it really views.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Cause, type Duration, Effect, Exit } from "effect"
import { Journal } from "@fsys/core"
import * as PromiseApi from "@fsys/core/promise"
import { decodeFile, payloadFor, tempDir } from "./journalFixtures.ts"

const modes = ["buffered", "direct"] as const

/** Inputs `append` must refuse with `InvalidOptions`, built fresh for each use. */
const refused: ReadonlyArray<readonly [string, () => Uint8Array]> = [
  [
    "a view on a detached ArrayBuffer",
    () => {
      const bytes = new Uint8Array(10).fill(7)
      ;(bytes.buffer as ArrayBuffer).transfer()
      return bytes
    },
  ],
  ["Object.create(Uint8Array.prototype)", () => Object.create(Uint8Array.prototype) as Uint8Array],
  ["a plain object", () => ({ length: 3, byteLength: 3 }) as unknown as Uint8Array],
  ["an Int8Array", () => new Int8Array(4) as unknown as Uint8Array],
]

class LyingLength extends Uint8Array {
  override get length(): number {
    return 1000
  }
}
class LyingByteLength extends Uint8Array {
  override get byteLength(): number {
    return 1000
  }
}

const tagOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "success"
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" ? (error.value as { _tag: string })._tag : `defect: ${Cause.pretty(exit.cause)}`
}

describe.each(modes)("Journal input validation (%s)", (mode) => {
  const options = { mode, logBufferBytes: 4096, preallocateBytes: 0 } as const

  for (const [name, make] of refused) {
    for (const call of ["append", "appendBatch", "appendDurable"] as const) {
      it.live(`${call} of ${name}: InvalidOptions, file unchanged`, () =>
        Effect.gen(function* () {
          const dir = yield* tempDir
          const path = NodePath.join(dir, "j.log")
          const first = payloadFor(1, 1, 300)
          const snapshot = yield* Effect.scoped(
            Effect.gen(function* () {
              const journal = yield* Journal.open(path, options)
              yield* journal.syncThrough(yield* journal.append(first))
              const before = NodeFs.readFileSync(path)
              const bad = make()
              const exit = yield* Effect.exit(
                call === "append"
                  ? journal.append(bad)
                  : call === "appendDurable"
                    ? journal.appendDurable(bad)
                    : journal.appendBatch([payloadFor(1, 2, 10), bad]),
              )
              assert.strictEqual(tagOf(exit), "InvalidOptions")
              assert.strictEqual(yield* journal.nextLsn, yield* journal.syncedLsn, "nothing was reserved")
              yield* journal.sync
              return before
            }),
          )
          assert.deepStrictEqual(NodeFs.readFileSync(path), snapshot, "the file is unchanged")
          assert.deepStrictEqual(
            decodeFile(path).records.map((r) => r.payload),
            [first],
          )
        }),
      )
    }
  }

  for (const Liar of [LyingLength, LyingByteLength]) {
    for (const call of ["append", "appendBatch", "appendDurable"] as const) {
      it.live(`${call} of a Uint8Array subclass whose ${Liar.name} getter lies writes the real bytes`, () =>
        Effect.gen(function* () {
          const dir = yield* tempDir
          const path = NodePath.join(dir, "j.log")
          // Earlier records leave bytes in the slot that a frame sized by the lie would pick up.
          const earlier = Array.from({ length: 5 }, (_, i) => payloadFor(2, i, 500))
          const real = new Liar(10).fill(0xab)
          yield* Effect.scoped(
            Effect.gen(function* () {
              const journal = yield* Journal.open(path, options)
              yield* journal.syncThrough(yield* journal.appendBatch(earlier))
              const end = yield* call === "append"
                ? journal.append(real)
                : call === "appendDurable"
                  ? journal.appendDurable(real)
                  : journal.appendBatch([real])
              yield* journal.syncThrough(end)
            }),
          )
          const records = decodeFile(path).records.map((r) => r.payload)
          assert.deepStrictEqual(records, [...earlier, new Uint8Array(10).fill(0xab)])
        }),
      )
    }
  }
})

describe("Promise API input validation (append, appendDurable and tryAppend's synchronous fast path)", () => {
  const options = { mode: "buffered", logBufferBytes: 4096, preallocateBytes: 0 } as const
  /** The call's refusal: a rejection, or for `tryAppend` a synchronous throw. */
  const refusal = (journal: PromiseApi.Journal, call: "append" | "appendDurable" | "tryAppend", bad: Uint8Array) => {
    if (call === "tryAppend") {
      try {
        journal.tryAppend(bad)
        return Promise.resolve(undefined)
      } catch (thrown) {
        return Promise.resolve(thrown)
      }
    }
    return (call === "append" ? journal.append(bad) : journal.appendDurable(bad)).then(
      () => undefined,
      (rejected: unknown) => rejected,
    )
  }
  for (const [name, make] of refused) {
    for (const call of ["append", "appendDurable", "tryAppend"] as const) {
      it.live(`${call} of ${name}: rejects with the Effect API's InvalidOptions, file unchanged`, () =>
        Effect.gen(function* () {
          const dir = yield* tempDir
          const path = NodePath.join(dir, "j.log")
          const first = payloadFor(1, 1, 300)
          // The Effect API's error for the same input, as the reference.
          const reference = yield* Effect.scoped(
            Effect.gen(function* () {
              const journal = yield* Journal.open(NodePath.join(dir, "reference.log"), options)
              return yield* Effect.flip(journal.append(make()))
            }),
          )
          const outcome = yield* Effect.promise(async () => {
            const journal = await PromiseApi.openJournal(path, options)
            await journal.appendDurable(first)
            const before = NodeFs.readFileSync(path)
            const nextLsn = journal.nextLsn()
            const error = await refusal(journal, call, make())
            const unchanged = journal.nextLsn() === nextLsn
            await journal.close()
            return { error, before, unchanged }
          })
          assert.instanceOf(outcome.error, PromiseApi.InvalidOptions)
          assert.strictEqual((outcome.error as object).constructor, reference.constructor)
          assert.strictEqual(
            (outcome.error as PromiseApi.InvalidOptions).reason,
            (reference as PromiseApi.InvalidOptions).reason,
          )
          assert.isTrue(outcome.unchanged, "nothing was reserved")
          assert.deepStrictEqual(NodeFs.readFileSync(path), outcome.before, "the file is unchanged")
          assert.deepStrictEqual(
            decodeFile(path).records.map((r) => r.payload),
            [first],
          )
        }),
      )
    }
  }

  for (const Liar of [LyingLength, LyingByteLength]) {
    it.live(
      `append, appendDurable and tryAppend of a subclass whose ${Liar.name} getter lies write the real bytes`,
      () =>
        Effect.gen(function* () {
          const dir = yield* tempDir
          const path = NodePath.join(dir, "j.log")
          const earlier = Array.from({ length: 5 }, (_, i) => payloadFor(2, i, 500))
          yield* Effect.promise(async () => {
            const journal = await PromiseApi.openJournal(path, options)
            await journal.syncThrough(await journal.appendBatch(earlier))
            await journal.append(new Liar(10).fill(0xab))
            await journal.appendDurable(new Liar(10).fill(0xcd))
            assert.isNumber(journal.tryAppend(new Liar(10).fill(0xef)))
            await journal.close()
          })
          assert.deepStrictEqual(
            decodeFile(path).records.map((r) => r.payload),
            [...earlier, new Uint8Array(10).fill(0xab), new Uint8Array(10).fill(0xcd), new Uint8Array(10).fill(0xef)],
          )
        }),
    )
  }
})

describe("Journal.open input validation", () => {
  const cases: ReadonlyArray<readonly [string, (dir: string) => Effect.Effect<unknown, unknown, never>]> = [
    ["a path containing NUL", (dir) => Effect.scoped(Journal.open(NodePath.join(dir, "a\0b.log")))],
    [
      "groupCommitWindow: NaN",
      (dir) => Effect.scoped(Journal.open(NodePath.join(dir, "w.log"), { groupCommitWindow: Number.NaN })),
    ],
    [
      "groupCommitWindow: {}",
      (dir) => Effect.scoped(Journal.open(NodePath.join(dir, "w.log"), { groupCommitWindow: {} })),
    ],
    [
      "groupCommitWindow: { seconds: NaN }",
      (dir) => Effect.scoped(Journal.open(NodePath.join(dir, "w.log"), { groupCommitWindow: { seconds: Number.NaN } })),
    ],
  ]
  for (const [name, open] of cases) {
    it.live(`${name}: InvalidOptions, nothing created`, () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const exit = yield* Effect.exit(open(dir))
        assert.strictEqual(tagOf(exit), "InvalidOptions")
        assert.deepStrictEqual(NodeFs.readdirSync(dir), [])
      }),
    )
  }

  it.live("valid window inputs are still accepted", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const windows: ReadonlyArray<Duration.Input> = [0, "1 millis", { milliseconds: 1 }, [0, 1000]]
      for (const window of windows) {
        yield* Effect.scoped(Journal.open(NodePath.join(dir, "ok.log"), { groupCommitWindow: window }))
      }
    }),
  )
})
