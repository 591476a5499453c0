import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Metric, Scope } from "effect"
import { IoError } from "@fsys/native"
import { FileIo, Frame, Journal } from "@fsys/core"
import { decodeFile, payloadFor, tailIsZero, tempDir } from "./journalFixtures.ts"
import { mount4kn } from "./loop4kn.ts"

const modes = ["buffered", "direct"] as const

/** The Node layer with an fdatasync that fails on demand, counting every call. */
const failingDatasync = (failAt: number) => {
  const node = FileIo.nodeDefault()
  const calls = { datasync: 0 }
  const fail = (handle: FileIo.Handle) => {
    calls.datasync++
    return calls.datasync >= failAt
      ? Effect.fail(IoError.fromErrno("EIO", "fdatasync", handle.path))
      : node.datasync(handle)
  }
  const service: FileIo.FileIoService = {
    ...node,
    datasync: fail,
    writeAtThenDatasync: (handle, bytes, offset) => Effect.andThen(node.writeAt(handle, bytes, offset), fail(handle)),
  }
  return { layer: Layer.succeed(FileIo.FileIo, service), calls }
}

describe.each(modes)("Journal (%s)", (mode) => {
  const small = { mode, logBufferBytes: 4096, sectorBytes: 512 } as const

  it.live("appends, syncs, reopens and reads every record back", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      const payloads = Array.from({ length: 500 }, (_, i) => payloadFor(1, i, (i * 37) % 700))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, small)
          const info = yield* journal.info
          assert.strictEqual(info.mode, mode)
          assert.strictEqual(info.directActive, mode === "direct")
          let end = 0
          for (const payload of payloads) end = yield* journal.append(payload)
          assert.strictEqual(
            end,
            payloads.reduce((sum, p) => sum + Frame.frameBytes(p.byteLength), 0),
          )
          assert.strictEqual(yield* journal.sync, end)
          assert.strictEqual(yield* journal.syncedLsn, end)
          // A sync round allocates ahead of the log; the next round runs after that allocation.
          yield* journal.syncThrough(yield* journal.append(payloads[0]!))
          payloads.push(payloads[0]!)
        }),
      )
      const decoded = decodeFile(path)
      assert.deepStrictEqual(
        decoded.records.map((r) => r.payload),
        payloads,
      )
      assert.isTrue(tailIsZero(path, decoded.cleanEnd))
      // Past the last frame: only the sector pad and the preallocated zeros.
      if (mode === "direct") assert.strictEqual(decoded.size % 512, 0)
      assert.isAtLeast(decoded.size, 8 * 1024 * 1024, "8 MiB preallocated by default")
      // Reopen resumes at the clean end: the next record follows the last without a gap.
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, small)
          assert.strictEqual(yield* journal.nextLsn, decoded.cleanEnd)
          assert.strictEqual(yield* journal.syncedLsn, decoded.cleanEnd)
          assert.strictEqual((yield* journal.info).recoveredRecords, payloads.length)
          yield* journal.append(payloadFor(2, 0, 10))
          yield* journal.sync
        }),
      )
      const again = decodeFile(path)
      assert.strictEqual(again.records.length, payloads.length + 1)
      assert.strictEqual(again.records[payloads.length]!.lsn, decoded.cleanEnd)
    }),
  )

  it.live("64 concurrent fibers x 1000 appends: every record once, LSNs contiguous", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      const producers = 64
      const perProducer = 1000
      const ends = yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, { mode, logBufferBytes: 64 * 1024 })
          const ends = yield* Effect.forEach(
            Array.from({ length: producers }, (_, p) => p),
            (producer) =>
              Effect.forEach(
                Array.from({ length: perProducer }, (_, s) => s),
                (sequence) =>
                  Effect.map(
                    journal.append(payloadFor(producer, sequence, 8 + ((producer + sequence) % 120))),
                    (end) => ({
                      producer,
                      sequence,
                      end,
                    }),
                  ),
              ),
            { concurrency: "unbounded" },
          )
          yield* journal.sync
          return ends.flat()
        }),
      )
      const decoded = decodeFile(path)
      assert.strictEqual(decoded.records.length, producers * perProducer)
      // Contiguous: each record starts where the previous ended; each append's end LSN matches.
      const byLsn = new Map(decoded.records.map((r) => [r.lsn + Frame.frameBytes(r.payload.byteLength), r.payload]))
      for (const { producer, sequence, end } of ends) {
        assert.deepStrictEqual(byLsn.get(end), payloadFor(producer, sequence, 8 + ((producer + sequence) % 120)))
      }
      const seen = new Set(
        decoded.records.map(
          (r) => `${new DataView(r.payload.buffer).getUint32(0)}:${new DataView(r.payload.buffer).getUint32(4)}`,
        ),
      )
      assert.strictEqual(seen.size, producers * perProducer)
    }),
  )

  it.live("group commit: 64 producers awaiting durability share far fewer fdatasyncs", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      const stats = yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, { mode })
          yield* Effect.forEach(
            Array.from({ length: 64 }, (_, p) => p),
            (producer) =>
              Effect.forEach(
                Array.from({ length: 50 }, (_, s) => s),
                (sequence) =>
                  Effect.gen(function* () {
                    const end = yield* journal.append(payloadFor(producer, sequence, 100))
                    yield* journal.syncThrough(end)
                    assert.isAtLeast(yield* journal.syncedLsn, end)
                  }),
                { discard: true },
              ),
            { concurrency: "unbounded", discard: true },
          )
          return yield* journal.stats
        }),
      )
      assert.strictEqual(stats.appends, 64 * 50)
      assert.strictEqual(stats.syncRequests, 64 * 50)
      // Each round serves many waiters: at least 8 per fdatasync on average.
      assert.isBelow(stats.fdatasyncs * 8, stats.syncRequests)
      assert.strictEqual(decodeFile(path).records.length, 64 * 50)
    }),
  )

  it.live("reopen after a torn tail keeps the sidecar and resumes at the clean end", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, small)
          for (let i = 0; i < 20; i++) yield* journal.append(payloadFor(1, i, 50))
          yield* journal.sync
        }),
      )
      const clean = decodeFile(path).cleanEnd
      // A torn frame: a valid header and half a payload, as a crash mid-write leaves it.
      const torn = Frame.encode(payloadFor(9, 9, 300)).subarray(0, 100)
      const fd = NodeFs.openSync(path, "r+")
      NodeFs.writeSync(fd, torn, 0, torn.length, clean)
      NodeFs.closeSync(fd)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, small)
          const info = yield* journal.info
          assert.strictEqual(info.sidecarPath, `${path}.corrupt-${clean}`)
          assert.strictEqual(yield* journal.nextLsn, clean)
          yield* journal.append(payloadFor(2, 1, 40))
          yield* journal.sync
        }),
      )
      const sidecar = NodeFs.readFileSync(`${path}.corrupt-${clean}`)
      assert.deepStrictEqual(new Uint8Array(sidecar.subarray(0, 100)), torn)
      const decoded = decodeFile(path)
      assert.strictEqual(decoded.records.length, 21)
      assert.deepStrictEqual(decoded.records[20]!.payload, payloadFor(2, 1, 40))
    }),
  )

  it.live("a failed fdatasync poisons: never retried, later calls fail, durable records kept", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      // Open makes one fdatasync; the first group-commit round is the second and succeeds; the third fails.
      const failing = failingDatasync(3)
      const outcome = yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, small)
          const durable = yield* journal.append(payloadFor(1, 0, 30))
          yield* journal.syncThrough(durable)
          const lost = yield* journal.append(payloadFor(1, 1, 30))
          const first = yield* Effect.exit(journal.syncThrough(lost))
          const callsAfterFailure = failing.calls.datasync
          const second = yield* Effect.exit(journal.syncThrough(lost))
          const append = yield* Effect.exit(Effect.asVoid(journal.append(payloadFor(1, 2, 30))))
          const coveredSync = yield* Effect.exit(journal.syncThrough(durable))
          const close = yield* Effect.exit(journal.close)
          return { first, second, append, coveredSync, close, callsAfterFailure, calls: failing.calls.datasync }
        }),
      ).pipe(Effect.provide(failing.layer))
      for (const exit of [outcome.first, outcome.second, outcome.append, outcome.close]) {
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) assert.include(String(exit.cause), "JournalPoisoned")
      }
      assert.isTrue(Exit.isSuccess(outcome.coveredSync), "a sync already covered still succeeds")
      assert.strictEqual(outcome.calls, outcome.callsAfterFailure, "fdatasync is never retried")
      // Reopen recovers: the durable record is there.
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, small)
          assert.isAtLeast((yield* journal.info).recoveredRecords, 1)
        }),
      )
      assert.deepStrictEqual(decodeFile(path).records[0]!.payload, payloadFor(1, 0, 30))
    }),
  )

  it.live("bad input gets a typed error and changes nothing on disk", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      const journal = yield* Journal.open(path, small)
      yield* journal.append(payloadFor(1, 0, 10))
      yield* journal.sync
      const sizeBefore = NodeFs.statSync(path).size
      const next = yield* journal.nextLsn
      const tooLarge = yield* Effect.flip(journal.append(new Uint8Array(Frame.PAYLOAD_BYTES_MAX + 1)))
      assert.strictEqual(tooLarge._tag, "RecordTooLarge")
      const batchTooLarge = yield* Effect.flip(
        journal.appendBatch([payloadFor(1, 1, 10), new Uint8Array(Frame.PAYLOAD_BYTES_MAX + 1)]),
      )
      assert.strictEqual(batchTooLarge._tag, "RecordTooLarge")
      const notBytes = yield* Effect.flip(journal.append("text" as unknown as Uint8Array))
      assert.strictEqual(notBytes._tag, "InvalidOptions")
      for (const lsn of [next + 1, -1, 1.5, Number.NaN]) {
        const outOfRange = yield* Effect.flip(journal.syncThrough(lsn))
        assert.strictEqual(outOfRange._tag, "LsnOutOfRange")
      }
      assert.strictEqual(yield* journal.nextLsn, next, "nothing was reserved")
      yield* journal.sync
      assert.strictEqual(NodeFs.statSync(path).size, sizeBefore, "nothing was written")
      yield* journal.close
      yield* journal.close
      const closed = yield* Effect.flip(journal.append(payloadFor(1, 2, 10)))
      assert.strictEqual(closed._tag, "JournalClosed")
      assert.strictEqual((yield* Effect.flip(journal.sync))._tag, "JournalClosed")
      for (const options of [
        { logBufferBytes: 1000 },
        { logBufferBytes: 128 * 1024 * 1024 },
        { mode: "fast" },
        { backend: "spdk" },
        { groupCommitMaxBatch: 0 },
        { groupCommitWindow: "-5 millis" },
        { sectorBytes: 100 },
        { onReadError: "ignore" },
        { overlapRounds: true },
        { overlapRounds: "sometimes" },
      ]) {
        const error = yield* Effect.flip(Journal.open(NodePath.join(dir, "other.log"), options as Journal.Options))
        assert.strictEqual(error._tag, "InvalidOptions", JSON.stringify(options))
      }
      assert.isFalse(NodeFs.existsSync(NodePath.join(dir, "other.log")), "invalid options create no file")
    }),
  )

  it.live("a second open of the same journal fails with JournalLocked", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      yield* Journal.open(path, small)
      const second = yield* Effect.flip(Journal.open(path, small))
      assert.strictEqual(second._tag, "JournalLocked")
    }),
  )

  it.live(
    "oversize records (bigger than a slot) interleave with small ones from many fibers",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = NodePath.join(dir, "j.log")
        const sizeOf = (producer: number, sequence: number) =>
          (producer * 7 + sequence) % 97 === 0
            ? 5000 + ((producer * 131 + sequence) % 9000)
            : (producer + sequence * 13) % 300
        const expected = new Map<number, Uint8Array>()
        yield* Effect.scoped(
          Effect.gen(function* () {
            const journal = yield* Journal.open(path, small)
            yield* Effect.forEach(
              Array.from({ length: 64 }, (_, p) => p),
              (producer) =>
                Effect.forEach(
                  Array.from({ length: 2000 }, (_, s) => s),
                  (sequence) =>
                    Effect.gen(function* () {
                      const payload = payloadFor(producer, sequence, sizeOf(producer, sequence))
                      const end = yield* journal.append(payload)
                      expected.set(end - Frame.frameBytes(payload.byteLength), payload)
                      if (sequence % 500 === 499) yield* journal.syncThrough(end)
                    }),
                  { discard: true },
                ),
              { concurrency: "unbounded", discard: true },
            )
          }),
        )
        const decoded = decodeFile(path)
        assert.strictEqual(decoded.records.length, 64 * 2000)
        for (const record of decoded.records) assert.deepStrictEqual(record.payload, expected.get(record.lsn))
      }),
    120_000,
  )

  it.live("interrupting appenders and syncers mid-flight leaves a readable journal", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      const acknowledged: Array<number> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, small)
          const fibers = yield* Effect.forEach(
            Array.from({ length: 32 }, (_, p) => p),
            (producer) =>
              Effect.forkChild(
                Effect.forEach(
                  Array.from({ length: 100_000 }, (_, s) => s),
                  (sequence) =>
                    Effect.gen(function* () {
                      const end = yield* journal.append(payloadFor(producer, sequence, (sequence * 53) % 6000))
                      if (sequence % 3 === 0) {
                        yield* journal.syncThrough(end)
                        acknowledged.push(end)
                      }
                    }),
                  { discard: true },
                ),
              ),
          )
          yield* Effect.sleep("30 millis")
          yield* Fiber.interruptAll(fibers)
        }),
      )
      const decoded = decodeFile(path)
      const durableThrough = Math.max(0, ...acknowledged)
      assert.isAtLeast(decoded.cleanEnd, durableThrough)
      assert.isTrue(tailIsZero(path, decoded.cleanEnd))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, small)
          assert.strictEqual(yield* journal.nextLsn, decoded.cleanEnd)
          assert.isUndefined((yield* journal.info).sidecarPath)
        }),
      )
    }),
  )
})

describe("Journal modes", () => {
  it.live("mixed-mode reopen works both ways", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      const order: Array<"direct" | "buffered"> = ["buffered", "direct", "buffered", "direct"]
      let count = 0
      for (const mode of order) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const journal = yield* Journal.open(path, { mode, logBufferBytes: 4096, sectorBytes: 512 })
            for (let i = 0; i < 37; i++) yield* journal.append(payloadFor(count, i, (i * 29) % 200))
            yield* journal.sync
          }),
        )
        count++
        const decoded = decodeFile(path)
        assert.strictEqual(decoded.records.length, count * 37)
        assert.isTrue(tailIsZero(path, decoded.cleanEnd))
      }
    }),
  )

  it.live("closing the scope releases the lock; the handle then fails with JournalClosed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "j.log")
      const scope = yield* Scope.make()
      const journal = yield* Scope.provide(Journal.open(path), scope)
      yield* journal.append(payloadFor(1, 1, 1))
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* Effect.flip(journal.append(payloadFor(1, 2, 1))))._tag, "JournalClosed")
      const reopened = yield* Journal.open(path)
      assert.strictEqual(yield* reopened.nextLsn, Frame.frameBytes(8))
    }),
  )
})

describe("Journal on a 4Kn device", () => {
  it.live("probes the 4096-byte sector after the file exists and works in Direct mode", (context) =>
    Effect.gen(function* () {
      const mounted = yield* mount4kn
      if (mounted._tag === "Unavailable") {
        // Root and loop devices are not everywhere (containers, CI without /dev/loop*): say why.
        context.skip(mounted.reason)
        return
      }
      const path = NodePath.join(mounted.directory, "j.log")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, { mode: "direct", logBufferBytes: 16 * 1024 })
          const info = yield* journal.info
          assert.isTrue(info.directActive)
          assert.strictEqual(info.sectorBytes, 4096)
          for (let i = 0; i < 300; i++) yield* journal.append(payloadFor(1, i, (i * 71) % 900))
          yield* journal.sync
        }),
      )
      const decoded = decodeFile(path)
      assert.strictEqual(decoded.records.length, 300)
      assert.strictEqual(decoded.size % 4096, 0)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, { mode: "direct", logBufferBytes: 16 * 1024 })
          assert.strictEqual(yield* journal.nextLsn, decoded.cleanEnd)
          yield* journal.append(payloadFor(2, 0, 5))
          yield* journal.sync
        }),
      )
      assert.strictEqual(decodeFile(path).records.length, 301)
    }),
  )
})

describe("Journal metrics", () => {
  it.live("count appends, bytes, sync requests and fdatasyncs once per round", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const before = {
        appends: (yield* Metric.value(Journal.metrics.appends)).count,
        bytes: (yield* Metric.value(Journal.metrics.appendedBytes)).count,
        fdatasyncs: (yield* Metric.value(Journal.metrics.fdatasyncs)).count,
        requests: (yield* Metric.value(Journal.metrics.syncRequests)).count,
      }
      const journal = yield* Journal.open(NodePath.join(dir, "j.log"), { mode: "buffered" })
      yield* Effect.forEach(
        Array.from({ length: 16 }, (_, i) => i),
        (i) => Effect.flatMap(journal.append(payloadFor(i, 0, 20)), journal.syncThrough),
        { concurrency: "unbounded", discard: true },
      )
      const stats = yield* journal.stats
      assert.strictEqual((yield* Metric.value(Journal.metrics.appends)).count - before.appends, 16)
      assert.strictEqual(
        (yield* Metric.value(Journal.metrics.appendedBytes)).count - before.bytes,
        16 * Frame.frameBytes(20),
      )
      assert.strictEqual((yield* Metric.value(Journal.metrics.fdatasyncs)).count - before.fdatasyncs, stats.fdatasyncs)
      assert.strictEqual(
        (yield* Metric.value(Journal.metrics.syncRequests)).count - before.requests,
        stats.syncRequests,
      )
      assert.isAtLeast(stats.fdatasyncs, 1)
      const latency = yield* Metric.value(Journal.metrics.syncLatencyMicros)
      assert.isAtLeast(latency.count, stats.fdatasyncs)
    }),
  )
})

describe("Journal.open on a file that is not a journal", () => {
  it.live("fails with NotAJournal and leaves the file untouched", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "notes.txt")
      NodeFs.writeFileSync(path, "these are someone's notes, not a journal\n")
      const before = NodeFs.readFileSync(path)
      const error = yield* Effect.flip(Journal.open(path))
      assert.strictEqual(error._tag, "NotAJournal")
      assert.deepStrictEqual(NodeFs.readFileSync(path), before)
      assert.deepStrictEqual(NodeFs.readdirSync(dir), ["notes.txt"], "no sidecar was written")
    }),
  )
})

describe("Journal and the event loop", () => {
  it.live("a producer looping on appends that never wait still lets the event loop turn", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const journal = yield* Journal.open(NodePath.join(dir, "j.log"), {
        mode: "buffered",
        logBufferBytes: 64 * 1024 * 1024,
        preallocateBytes: 0,
      })
      const payload = new Uint8Array(64 * 1024).fill(3)
      let turns = 0
      let running = true
      const tick = () => {
        turns++
        if (running) setImmediate(tick)
      }
      setImmediate(tick)
      // 32 MiB into a 64 MiB slot: every append finds room, none waits on IO.
      for (let i = 0; i < 512; i++) yield* journal.append(payload)
      running = false
      // At least one turn per 256 KiB copied (128 here); without yielding there would be none.
      assert.isAtLeast(turns, 64)
    }),
  )
})

describe("Journal and the event loop: the time budget", () => {
  it.live("small unsynced appends yield once a turn held the loop for 1 ms, long before 1024 appends", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const journal = yield* Journal.open(NodePath.join(dir, "j.log"), { mode: "buffered", preallocateBytes: 0 })
      const payload = new Uint8Array(100).fill(5)
      let turns = 0
      let running = true
      const tick = () => {
        turns++
        if (running) setImmediate(tick)
      }
      // A slow machine, made deterministic: every clock read is 0.6 ms after the previous one, so
      // the budget (read every 64 appends) is spent after 128 appends instead of 1024.
      const realNow = performance.now.bind(performance)
      let fakeMillis = realNow()
      const restore = () => {
        performance.now = realNow
      }
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          performance.now = () => (fakeMillis += 0.6)
        }),
        () => Effect.sync(restore),
      )
      setImmediate(tick)
      for (let i = 0; i < 2048; i++) yield* journal.append(payload)
      running = false
      restore()
      // Counted appends alone would yield twice (every 1024); the clock makes it every ≈ 128.
      assert.isAtLeast(turns, 10)
    }),
  )
})

describe("Journal group commit with a window", () => {
  it.live("a round waits for its window or for groupCommitMaxBatch syncers, then serves them all", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const journal = yield* Journal.open(NodePath.join(dir, "j.log"), {
        mode: "buffered",
        groupCommitWindow: "20 millis",
        groupCommitMaxBatch: 16,
      })
      yield* Effect.forEach(
        Array.from({ length: 16 }, (_, p) => p),
        (producer) =>
          Effect.forEach(
            Array.from({ length: 10 }, (_, s) => s),
            (sequence) => Effect.flatMap(journal.append(payloadFor(producer, sequence, 40)), journal.syncThrough),
            { discard: true },
          ),
        { concurrency: "unbounded", discard: true },
      )
      const stats = yield* journal.stats
      assert.strictEqual(stats.syncRequests, 160)
      // Full rounds start at 16 syncers; the window only delays a round that never fills.
      assert.isAtMost(stats.fdatasyncs, 20)
      yield* journal.close
      assert.strictEqual(decodeFile(NodePath.join(dir, "j.log")).records.length, 160)
    }),
  )

  it.live("a lone syncer waits for the window (it never fills the batch)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const journal = yield* Journal.open(NodePath.join(dir, "j.log"), {
        mode: "buffered",
        groupCommitWindow: "20 millis",
        groupCommitMaxBatch: 16,
      })
      const startedMillis = performance.now()
      for (let i = 0; i < 5; i++) yield* journal.syncThrough(yield* journal.append(payloadFor(1, i, 40)))
      // A lower bound only: each of the 5 rounds slept its 20 ms window before its fdatasync.
      assert.isAtLeast(performance.now() - startedMillis, 5 * 20 - 1)
      assert.strictEqual((yield* journal.stats).fdatasyncs, 5)
    }),
  )
})
