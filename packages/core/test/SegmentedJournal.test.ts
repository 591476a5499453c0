/**
 * SegmentedJournal on the real filesystem (buffered and Direct): rotation, reads by LSN across
 * segments, truncateFront/truncateBack, checkpoints, retention, reopen, typed errors.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Stream } from "effect"
import { Frame, JournalReader, SegmentedJournal } from "@fsys/core"
import { payloadFor, tempDir } from "./journalFixtures.ts"

const modes = ["buffered", "direct"] as const

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  return failure?._tag === "Fail" ? failure.error : undefined
}

const tagOf = <A, E>(exit: Exit.Exit<A, E>): string | undefined => {
  const error = failureOf(exit) as { _tag?: string } | undefined
  return error?._tag
}

describe.each(modes)("SegmentedJournal (%s)", (mode) => {
  const small = { mode, logBufferBytes: 4096, sectorBytes: 512, segmentBytes: 8192, preallocateBytes: 0 } as const

  it.live("rotates at record boundaries; LSNs are contiguous; read finds every record; reopen keeps them", () =>
    Effect.gen(function* () {
      const dir = NodePath.join(yield* tempDir, "j")
      const payloads = Array.from({ length: 300 }, (_, i) => payloadFor(1, i, 20 + ((i * 37) % 300)))
      const starts: Array<number> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* SegmentedJournal.open(dir, small)
          let end = 0
          for (const payload of payloads) {
            starts.push(end)
            end = yield* journal.append(payload)
            assert.strictEqual(end, starts[starts.length - 1]! + Frame.frameBytes(payload.byteLength))
          }
          assert.strictEqual(yield* journal.sync, end)
          const segments = yield* journal.segments
          assert.isAbove(segments.length, 3)
          for (let i = 1; i < segments.length; i++) assert.strictEqual(segments[i]!.baseLsn, segments[i - 1]!.endLsn)
          for (const [i, start] of starts.entries()) {
            assert.deepStrictEqual(yield* journal.read(start), payloads[i])
          }
          const notABoundary = yield* Effect.exit(journal.read(starts[5]! + 1))
          assert.strictEqual(tagOf(notABoundary), "NoRecordAt")
          yield* journal.close
        }),
      )
      // Every segment is a valid fsys journal on its own, named by its base LSN.
      const names = NodeFs.readdirSync(dir).filter((name) => name.endsWith(".journal"))
      assert.isTrue(names.every((name) => /^\d{20}\.journal$/.test(name)))
      for (const name of names) {
        const scan = yield* JournalReader.scan(NodePath.join(dir, name))
        assert.strictEqual(scan.tailState, "CleanEnd")
      }
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* SegmentedJournal.open(dir, small)
          assert.strictEqual(
            yield* journal.nextLsn,
            starts[starts.length - 1]! + Frame.frameBytes(payloads[299]!.length),
          )
          const all = yield* Stream.runCollect(journal.records())
          assert.strictEqual(all.length, payloads.length)
          for (const [i, record] of all.entries()) {
            assert.strictEqual(record.lsn, starts[i])
            assert.deepStrictEqual(record.payload, payloads[i])
          }
          const fromMiddle = yield* Stream.runCollect(journal.records({ from: starts[150]! }))
          assert.strictEqual(fromMiddle.length, 150)
          assert.strictEqual(yield* journal.read(starts[299]!).pipe(Effect.map((p) => p.length)), payloads[299]!.length)
        }),
      )
    }),
  )

  it.live("truncateFront drops whole segments below the LSN, never the active one", () =>
    Effect.gen(function* () {
      const dir = NodePath.join(yield* tempDir, "j")
      const journal = yield* SegmentedJournal.open(dir, small)
      const ends: Array<number> = []
      for (let i = 0; i < 400; i++) ends.push(yield* journal.append(payloadFor(2, i, 100)))
      yield* journal.sync
      const before = yield* journal.segments
      assert.isAtLeast(before.length, 5)
      // An LSN inside segment 3 keeps segment 3 (it holds records at and after the LSN).
      const cut = before[2]!.endLsn + 10
      yield* journal.truncateFront(cut)
      const after = yield* journal.segments
      assert.strictEqual(after[0]!.baseLsn, before[3]!.baseLsn)
      assert.strictEqual(yield* journal.firstLsn, before[3]!.baseLsn)
      assert.isFalse(NodeFs.existsSync(before[0]!.path))
      const gone = yield* Effect.exit(journal.read(0))
      assert.strictEqual(tagOf(gone), "NoRecordAt")
      yield* journal.truncateFront(yield* journal.nextLsn)
      const last = yield* journal.segments
      assert.strictEqual(last.length, 1)
      assert.isFalse(last[0]!.sealed)
      const tooFar = yield* Effect.exit(journal.truncateFront((yield* journal.nextLsn) + 1))
      assert.strictEqual(tagOf(tooFar), "LsnOutOfRange")
      yield* journal.close
      const reopened = yield* SegmentedJournal.open(dir, small)
      assert.strictEqual(yield* reopened.firstLsn, last[0]!.baseLsn)
      assert.strictEqual(yield* reopened.nextLsn, ends[ends.length - 1])
    }),
  )

  it.live("truncateBack cuts at a record boundary across segments; the next append gets that LSN", () =>
    Effect.gen(function* () {
      const dir = NodePath.join(yield* tempDir, "j")
      const journal = yield* SegmentedJournal.open(dir, small)
      const starts: Array<number> = []
      let end = 0
      for (let i = 0; i < 200; i++) {
        starts.push(end)
        end = yield* journal.append(payloadFor(3, i, 100))
      }
      const notBoundary = yield* Effect.exit(journal.truncateBack(starts[40]! + 3))
      assert.strictEqual(tagOf(notBoundary), "NoRecordAt")
      assert.strictEqual(yield* journal.nextLsn, end, "a refused truncation changes nothing")
      yield* journal.truncateBack(starts[40]!)
      assert.strictEqual(yield* journal.nextLsn, starts[40])
      const segments = yield* journal.segments
      assert.strictEqual(segments[segments.length - 1]!.endLsn, starts[40])
      const cut = yield* Effect.exit(journal.read(starts[41]!))
      assert.strictEqual(tagOf(cut), "NoRecordAt")
      const fresh = payloadFor(4, 0, 55)
      assert.strictEqual(yield* journal.append(fresh), starts[40]! + Frame.frameBytes(55))
      yield* journal.sync
      assert.deepStrictEqual(yield* journal.read(starts[40]!), fresh)
      assert.deepStrictEqual(yield* journal.read(starts[39]!), payloadFor(3, 39, 100))
      yield* journal.close
      assert.isFalse(NodeFs.existsSync(NodePath.join(dir, "truncate-intent")))
      const reopened = yield* SegmentedJournal.open(dir, small)
      assert.strictEqual(yield* reopened.nextLsn, starts[40]! + Frame.frameBytes(55))
      yield* reopened.truncateBack(0)
      assert.strictEqual(yield* reopened.nextLsn, 0)
      assert.strictEqual((yield* reopened.segments).length, 1)
    }),
  )

  it.live("checkpoint survives reopen; retention drops sealed segments below it once over retainBytes", () =>
    Effect.gen(function* () {
      const dir = NodePath.join(yield* tempDir, "j")
      const retaining = { ...small, retainBytes: 3 * 8192 }
      const journal = yield* SegmentedJournal.open(dir, retaining)
      assert.isUndefined(yield* journal.lastCheckpoint)
      let end = 0
      for (let i = 0; i < 300; i++) end = yield* journal.append(payloadFor(5, i, 100))
      yield* journal.sync
      // Without a checkpoint nothing may be dropped.
      assert.strictEqual(yield* journal.firstLsn, 0)
      yield* journal.checkpoint(end, new Uint8Array([1, 2, 3]))
      assert.deepStrictEqual(yield* journal.lastCheckpoint, { lsn: end, data: new Uint8Array([1, 2, 3]) })
      const first = yield* journal.firstLsn
      assert.isAbove(first, 0)
      assert.isAtMost((yield* journal.nextLsn) - first, 3 * 8192 + 8192)
      const truncateBelow = yield* Effect.exit(journal.truncateBack(first))
      assert.strictEqual(tagOf(truncateBelow), "InvalidOptions")
      const tooLarge = yield* Effect.exit(journal.checkpoint(0, new Uint8Array(2 * 1024 * 1024)))
      assert.strictEqual(tagOf(tooLarge), "InvalidOptions")
      yield* journal.close
      const reopened = yield* SegmentedJournal.open(dir, retaining)
      assert.deepStrictEqual(yield* reopened.lastCheckpoint, { lsn: end, data: new Uint8Array([1, 2, 3]) })
      assert.strictEqual(yield* reopened.firstLsn, first)
    }),
  )
})

describe("SegmentedJournal: records", () => {
  it.live("a follower sees only durable records, in order, across rotations", () =>
    Effect.gen(function* () {
      const dir = NodePath.join(yield* tempDir, "j")
      const journal = yield* SegmentedJournal.open(dir, { mode: "buffered", segmentBytes: 4096, preallocateBytes: 0 })
      const count = 120
      const follower = yield* Effect.forkChild(Stream.runCollect(Stream.take(journal.records({ follow: true }), count)))
      const payloads = Array.from({ length: count }, (_, i) => payloadFor(9, i, 90))
      for (const [i, payload] of payloads.entries()) {
        const end = yield* journal.append(payload)
        if (i % 10 === 9) yield* journal.syncThrough(end)
      }
      const seen = yield* Fiber.join(follower)
      assert.strictEqual(seen.length, count)
      assert.isAbove((yield* journal.segments).length, 2)
      for (const [i, record] of seen.entries()) {
        assert.deepStrictEqual(record.payload, payloads[i])
        assert.isBelow(record.lsn, yield* journal.syncedLsn)
      }
    }),
  )
})

describe("SegmentedJournal: interruption", () => {
  it.live("interrupting appenders and syncers during rotations never wedges it; close and reopen work", () =>
    Effect.gen(function* () {
      const dir = NodePath.join(yield* tempDir, "j")
      const options = {
        mode: "direct",
        logBufferBytes: 4096,
        sectorBytes: 512,
        segmentBytes: 4096,
        preallocateBytes: 0,
      } as const
      const journal = yield* SegmentedJournal.open(dir, options)
      const worker = (id: number) =>
        Effect.gen(function* () {
          for (let i = 0; i < 200; i++) {
            const end = yield* journal.append(payloadFor(id, i, 50 + ((i * 17) % 400)))
            if (i % 5 === 0) yield* journal.syncThrough(end)
          }
        })
      const fibers = yield* Effect.forEach([1, 2, 3, 4, 5, 6], (id) => Effect.forkChild(worker(id)))
      yield* Effect.sleep(20)
      yield* Fiber.interrupt(fibers[0]!)
      yield* Fiber.interrupt(fibers[3]!)
      for (const fiber of [fibers[1]!, fibers[2]!, fibers[4]!, fibers[5]!]) yield* Fiber.join(fiber)
      const end = yield* journal.sync
      assert.isAbove((yield* journal.segments).length, 2)
      yield* journal.close
      const reopened = yield* SegmentedJournal.open(dir, options)
      assert.strictEqual(yield* reopened.nextLsn, end)
      const all = yield* Stream.runCollect(reopened.records())
      assert.strictEqual(all[all.length - 1]!.lsn + all[all.length - 1]!.payload.length + 12, end)
    }),
  )
})

describe("SegmentedJournal: open", () => {
  it.live("a second open of the same directory fails with JournalLocked", () =>
    Effect.gen(function* () {
      const dir = NodePath.join(yield* tempDir, "j")
      yield* SegmentedJournal.open(dir, { mode: "buffered" })
      const second = yield* Effect.exit(SegmentedJournal.open(dir, { mode: "buffered" }))
      assert.strictEqual(tagOf(second), "JournalLocked")
    }),
  )

  it.live("invalid options are refused before anything is created", () =>
    Effect.gen(function* () {
      const dir = NodePath.join(yield* tempDir, "j")
      const exit = yield* Effect.exit(SegmentedJournal.open(dir, { segmentBytes: 100 }))
      assert.strictEqual(tagOf(exit), "InvalidOptions")
      assert.isFalse(NodeFs.existsSync(dir))
    }),
  )

  it.live("a damaged sealed segment or a missing segment is a typed error; nothing is cut", () =>
    Effect.gen(function* () {
      const dir = NodePath.join(yield* tempDir, "j")
      const options = { mode: "buffered", segmentBytes: 4096, preallocateBytes: 0 } as const
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* SegmentedJournal.open(dir, options)
          for (let i = 0; i < 100; i++) yield* journal.append(payloadFor(6, i, 200))
          yield* journal.close
        }),
      )
      const names = NodeFs.readdirSync(dir)
        .filter((name) => /^\d{20}\.journal$/.test(name))
        .sort()
      assert.isAtLeast(names.length, 4)
      const sealed = NodePath.join(dir, names[1]!)
      const original = NodeFs.readFileSync(sealed)
      const flipped = Buffer.from(original)
      flipped[100] = flipped[100]! ^ 0xff
      NodeFs.writeFileSync(sealed, flipped)
      const damaged = yield* Effect.exit(Effect.scoped(SegmentedJournal.open(dir, options)))
      const error = failureOf(damaged) as SegmentedJournal.SegmentDamaged
      assert.strictEqual(error._tag, "SegmentDamaged")
      assert.strictEqual(error.reason, "SealedSegmentDamaged")
      assert.deepStrictEqual(NodeFs.readFileSync(sealed), flipped, "the damaged segment is left as it was")
      NodeFs.writeFileSync(sealed, original)
      NodeFs.renameSync(NodePath.join(dir, names[2]!), NodePath.join(dir, `${names[2]}.moved`))
      const missing = yield* Effect.exit(Effect.scoped(SegmentedJournal.open(dir, options)))
      assert.strictEqual((failureOf(missing) as SegmentedJournal.SegmentDamaged).reason, "MissingSegment")
    }),
  )
})
