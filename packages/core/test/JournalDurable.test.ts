/**
 * The single-call durable append, `appendDurable`, through both APIs: it returns (resolves to)
 * the record's end LSN only once an fdatasync covered it, many producers share rounds, records
 * that do not fit the active slot (or a slot at all) take the slow path, and every failure is
 * the same typed error the two-call path gives. Also the Promise API's synchronous `append`.
 */
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import { IoError } from "@fsys/native"
import { FileIo, Frame, Journal } from "@fsys/core"
import * as PromiseApi from "@fsys/core/promise"
import { JournalClosed } from "../src/JournalError.ts"
import { type FlushTarget, GroupCommit } from "../src/internal/journal/groupCommit.ts"
import type { JobDone, JobFailure } from "../src/internal/logBuffer/writer.ts"
import { decodeFile, payloadFor, tempDir } from "./journalFixtures.ts"

const modes = ["buffered", "direct"] as const

/** The Node layer with every fdatasync from the `failAt`-th on failing with EIO. */
const failingDatasync = (failAt: number) => {
  const node = FileIo.nodeDefault()
  let calls = 0
  const fail = (handle: FileIo.Handle) =>
    ++calls >= failAt ? Effect.fail(IoError.fromErrno("EIO", "fdatasync", handle.path)) : node.datasync(handle)
  const service: FileIo.FileIoService = {
    ...node,
    datasync: fail,
    writeAtThenDatasync: (handle, bytes, offset) => Effect.andThen(node.writeAt(handle, bytes, offset), fail(handle)),
  }
  return Layer.succeed(FileIo.FileIo, service)
}

/** Sizes that mix records that fit, records that fill the 4 KiB slot, and oversize ones. */
const sizeOf = (producer: number, sequence: number): number =>
  (producer * 7 + sequence) % 41 === 0 ? 5000 + ((producer + sequence) % 3000) : (producer * 31 + sequence * 17) % 1500

describe.each(modes)("Journal.appendDurable (%s)", (mode) => {
  const small = { mode, logBufferBytes: 4096, sectorBytes: 512 } as const

  it.live("returns each record's end LSN once it is durable; producers share rounds; slow paths too", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      const expected = new Map<number, Uint8Array>()
      const stats = yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, small)
          yield* Effect.forEach(
            Array.from({ length: 32 }, (_, p) => p),
            (producer) =>
              Effect.forEach(
                Array.from({ length: 60 }, (_, s) => s),
                (sequence) =>
                  Effect.gen(function* () {
                    const payload = payloadFor(producer, sequence, sizeOf(producer, sequence))
                    const end = yield* journal.appendDurable(payload)
                    assert.isAtLeast(yield* journal.syncedLsn, end, "durable when it returns")
                    expected.set(end - Frame.frameBytes(payload.byteLength), payload)
                  }),
                { discard: true },
              ),
            { concurrency: "unbounded", discard: true },
          )
          return yield* journal.stats
        }),
      )
      assert.strictEqual(stats.appends, 32 * 60)
      assert.strictEqual(stats.syncRequests, 32 * 60)
      assert.isBelow(stats.fdatasyncs * 4, stats.syncRequests, "rounds are shared")
      const decoded = decodeFile(path)
      assert.strictEqual(decoded.records.length, 32 * 60)
      for (const record of decoded.records) assert.deepStrictEqual(record.payload, expected.get(record.lsn))
    }),
  )

  it.live("fails with the typed errors of append + syncThrough, and appends nothing for bad input", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      const journal = yield* Journal.open(path, small)
      yield* journal.appendDurable(payloadFor(1, 0, 10))
      const next = yield* journal.nextLsn
      const tooLarge = yield* Effect.flip(journal.appendDurable(new Uint8Array(Frame.PAYLOAD_BYTES_MAX + 1)))
      assert.strictEqual(tooLarge._tag, "RecordTooLarge")
      const notBytes = yield* Effect.flip(journal.appendDurable("text" as unknown as Uint8Array))
      assert.strictEqual(notBytes._tag, "InvalidOptions")
      assert.strictEqual(yield* journal.nextLsn, next, "nothing was reserved")
      yield* journal.close
      const closed = yield* Effect.flip(journal.appendDurable(payloadFor(1, 1, 10)))
      assert.strictEqual(closed._tag, "JournalClosed")
      assert.strictEqual(decodeFile(path).records.length, 1)
    }),
  )

  it.live("a failed fdatasync fails the round's appendDurable callers with JournalPoisoned, and every later one", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      // Open makes one fdatasync; the first round is the second and succeeds; the third fails.
      const outcome = yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, small)
          const durable = yield* journal.appendDurable(payloadFor(1, 0, 30))
          const round = yield* Effect.forEach(
            Array.from({ length: 8 }, (_, i) => i),
            (i) => Effect.exit(journal.appendDurable(payloadFor(2, i, 30))),
            { concurrency: "unbounded" },
          )
          const later = yield* Effect.exit(journal.appendDurable(payloadFor(3, 0, 30)))
          return { durable, round, later }
        }),
      ).pipe(Effect.provide(failingDatasync(3)))
      assert.strictEqual(outcome.durable, Frame.frameBytes(30))
      for (const exit of [...outcome.round, outcome.later]) {
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) assert.include(String(exit.cause), "JournalPoisoned")
      }
    }),
  )

  it.live("interrupting producers parked in appendDurable leaves a journal that keeps working", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      const acknowledged: Array<number> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, small)
          const fibers = yield* Effect.forEach(
            Array.from({ length: 16 }, (_, p) => p),
            (producer) =>
              Effect.forkChild(
                Effect.forEach(
                  Array.from({ length: 100_000 }, (_, s) => s),
                  (sequence) =>
                    Effect.map(
                      journal.appendDurable(payloadFor(producer, sequence, sizeOf(producer, sequence))),
                      (end) => {
                        acknowledged.push(end)
                      },
                    ),
                  { discard: true },
                ),
              ),
          )
          yield* Effect.sleep("30 millis")
          yield* Fiber.interruptAll(fibers)
          // The rounds the interrupted producers were parked on still complete, and new ones run.
          const end = yield* journal.appendDurable(payloadFor(99, 0, 100))
          assert.isAtLeast(yield* journal.syncedLsn, end)
        }),
      )
      const decoded = decodeFile(path)
      assert.isAtLeast(decoded.cleanEnd, Math.max(0, ...acknowledged))
    }),
  )
})

describe("Promise API: append placed synchronously, appendDurable and syncThrough as one Promise", () => {
  it.live("appendDurable resolves once durable; append + syncThrough make the same records durable", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "p.log")
      const result = yield* Effect.promise(async () => {
        const journal = await PromiseApi.openJournal(path, { logBufferBytes: 4096, sectorBytes: 512 })
        const ends: Array<number> = []
        const producers = Array.from({ length: 32 }, async (_, producer) => {
          for (let sequence = 0; sequence < 40; sequence++) {
            const end = await journal.appendDurable(payloadFor(producer, sequence, sizeOf(producer, sequence)))
            if (journal.syncedLsn() < end) throw new Error(`resolved at ${end} before durable (${journal.syncedLsn()})`)
            ends.push(end)
          }
        })
        await Promise.all(producers)
        // 3000 unsynced appends: more than one event-loop yield budget (1024), all in order.
        let last = journal.nextLsn()
        for (let i = 0; i < 3000; i++) {
          const end = await journal.append(payloadFor(7, i, 50))
          if (end !== last + Frame.frameBytes(50)) throw new Error(`append ${i} ended at ${end}, not after ${last}`)
          last = end
        }
        await journal.syncThrough(last)
        const stats = journal.stats()
        await journal.close()
        return { ends, stats, last }
      })
      assert.strictEqual(result.ends.length, 32 * 40)
      assert.strictEqual(result.stats.appends, 32 * 40 + 3000)
      assert.isBelow(result.stats.fdatasyncs * 4, 32 * 40, "Promise waiters share rounds")
      const decoded = decodeFile(path)
      assert.strictEqual(decoded.records.length, 32 * 40 + 3000)
      assert.strictEqual(decoded.cleanEnd, result.last)
    }),
  )

  it.live("both reject with the Effect API's error classes", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "q.log")
      const errors = yield* Effect.promise(async () => {
        const journal = await PromiseApi.openJournal(path)
        const caught = async (promise: Promise<unknown>) =>
          promise.then(
            () => undefined,
            (error: unknown) => error,
          )
        const found = {
          tooLarge: await caught(journal.appendDurable(new Uint8Array(Frame.PAYLOAD_BYTES_MAX + 1))),
          notBytes: await caught(journal.append("text" as unknown as Uint8Array)),
          notBytesDurable: await caught(journal.appendDurable({ length: 3 } as unknown as Uint8Array)),
          closed: undefined as unknown,
          closedDurable: undefined as unknown,
          outOfRange: undefined as unknown,
          notAnLsn: undefined as unknown,
          closedSync: undefined as unknown,
        }
        found.outOfRange = await caught(journal.syncThrough(journal.nextLsn() + 1))
        found.notAnLsn = await caught(journal.syncThrough(1.5))
        await journal.syncThrough(0) // covered already: resolves without a round
        await journal.close()
        found.closed = await caught(journal.append(new Uint8Array(3)))
        found.closedSync = await caught(journal.syncThrough(0))
        found.closedDurable = await caught(journal.appendDurable(new Uint8Array(3)))
        return found
      })
      assert.instanceOf(errors.tooLarge, PromiseApi.RecordTooLarge)
      assert.instanceOf(errors.notBytes, PromiseApi.InvalidOptions)
      assert.instanceOf(errors.notBytesDurable, PromiseApi.InvalidOptions)
      assert.instanceOf(errors.closed, PromiseApi.JournalClosed)
      assert.instanceOf(errors.closedDurable, PromiseApi.JournalClosed)
      assert.instanceOf(errors.outOfRange, PromiseApi.LsnOutOfRange)
      assert.instanceOf(errors.notAnLsn, PromiseApi.LsnOutOfRange)
      assert.instanceOf(errors.closedSync, PromiseApi.JournalClosed)
      assert.strictEqual(decodeFile(path).records.length, 0)
    }),
  )
})

/** A log buffer whose flushes complete only when the test says so (as in GroupCommit.test.ts). */
class FakeBuffer implements FlushTarget {
  nextLsn = 0
  refusal: JobFailure | undefined = undefined
  readonly closedError = new JournalClosed({ path: "/fake" })
  readonly flushes: Array<JobDone> = []
  readonly whenIdle = Effect.never
  startFlush(_datasync: boolean, onDone: JobDone): number | undefined {
    this.flushes.push(onDone)
    return this.nextLsn
  }
}

const commitOver = (buffer: FakeBuffer, waitersPerRound: Array<number> = []) =>
  new GroupCommit<JobFailure>(
    {
      core: buffer,
      toError: (cause) => cause,
      windowMicros: 0,
      maxBatch: 64,
      onRound: (_latency, waiters) => waitersPerRound.push(waiters),
      // One round in flight: these tests count rounds per cohort, which overlap would split.
      roundsInFlightMax: 1,
    },
    0,
  )

describe("GroupCommit's waiters without a fiber (the Promise API's appendDurable)", () => {
  it.live("Promise waiters woken by a round all join the next one: one round per cohort", () =>
    Effect.promise(async () => {
      const buffer = new FakeBuffer()
      const waitersPerRound: Array<number> = []
      const commit = commitOver(buffer, waitersPerRound)
      const durable = (lsn: number) =>
        new Promise<void>((resolve, reject) => commit.resolveWhenDurable(lsn, resolve, reject, undefined))
      const PRODUCERS = 8
      const RECORDS = 5
      let finished = false
      const all = Promise.all(
        Array.from({ length: PRODUCERS }, async () => {
          for (let i = 0; i < RECORDS; i++) await durable(++buffer.nextLsn)
        }),
      ).then(() => {
        finished = true
      })
      let completed = 0
      for (let turn = 0; !finished && turn < 1000; turn++) {
        await new Promise((resolve) => setImmediate(resolve))
        if (buffer.flushes.length > completed) buffer.flushes[completed++]!(undefined)
      }
      await all
      assert.strictEqual(commit.syncedLsn, PRODUCERS * RECORDS)
      // The first caller starts a round alone; every later round holds the whole cohort.
      assert.deepStrictEqual(waitersPerRound, [
        1,
        ...Array.from({ length: RECORDS - 1 }, () => PRODUCERS),
        PRODUCERS - 1,
      ])
    }),
  )

  it.live("a failed round reports its failure to every callback, and a poisoned buffer at once", () =>
    Effect.gen(function* () {
      const buffer = new FakeBuffer()
      const commit = commitOver(buffer)
      const outcomes: Array<unknown> = []
      buffer.nextLsn = 10
      const wait = (value: number) =>
        commit.resolveWhenDurable(
          10,
          (resolved) => outcomes.push(resolved === value ? "durable" : "wrong value"),
          (failure) => outcomes.push(failure),
          value,
        )
      for (let i = 0; i < 3; i++) wait(i)
      assert.deepStrictEqual(outcomes, [], "nobody hears before the round completes")
      const failure = new IoError.IoError({ syscall: "fdatasync", path: "/fake", code: "EIO", reason: "Io" })
      buffer.refusal = failure
      buffer.flushes[0]!(failure)
      assert.deepStrictEqual(outcomes, [failure, failure, failure])
      wait(3)
      assert.strictEqual(outcomes[3], failure)
      const resumed = yield* Effect.exit(
        Effect.callback<number, JobFailure>((resume) => commit.resumeWhenDurable(10, resume)),
      )
      assert.deepStrictEqual(resumed, Exit.fail(failure))
      assert.strictEqual(commit.syncedLsn, 0)
    }),
  )
})
