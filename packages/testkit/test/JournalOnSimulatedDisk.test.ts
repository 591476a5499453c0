/**
 * Journal behaviour that needs the simulated disk: filesystems that refuse O_DIRECT, and the
 * directory-entry durability of a new journal.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option } from "effect"
import { FileIo, Frame, Journal } from "@fsys/core"
import { SimulatedDisk } from "@fsys/testkit"

const payloadFor = (tag: number, sizeBytes: number): Uint8Array => new Uint8Array(sizeBytes).fill(tag)

describe("Journal on a filesystem without O_DIRECT", () => {
  // Linux ≥ 6.6 tmpfs accepts O_DIRECT, so a refusing filesystem is simulated: the disk's open
  // fails with EINVAL exactly like FUSE or an old tmpfs.
  it.live("falls back to buffered IO and says why", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 11, directIo: false })
      const outcome = yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open("/data/j.log", { mode: "direct" })
          const info = yield* journal.info
          const end = yield* journal.append(payloadFor(1, 100))
          yield* journal.syncThrough(end)
          return info
        }),
      ).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo))
      assert.strictEqual(outcome.mode, "direct")
      assert.isFalse(outcome.directActive)
      assert.strictEqual(outcome.sectorBytes, 1)
      assert.include(outcome.reason, "refused O_DIRECT")
      const bytes = yield* disk.readDurableFile("/data/j.log")
      assert.isTrue(Option.isSome(bytes))
      if (Option.isSome(bytes)) assert.strictEqual(Frame.decode(bytes.value, 0)._tag, "Ok")
    }),
  )
})

describe("Journal on the simulated disk", () => {
  it.live("a new journal's directory entry is durable before open returns (survives a power cut)", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 5 })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open("/data/new.log", { mode: "buffered", preallocateBytes: 0 })
          const end = yield* journal.append(payloadFor(2, 10))
          yield* journal.syncThrough(end)
          const stats = yield* disk.stats
          assert.isAtLeast(stats.syncDirectories, 1)
          yield* disk.crash({ mode: "loseDirectoryEntries" })
        }),
      ).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo), Effect.ignore)
      const bytes = yield* disk.readFile("/data/new.log")
      assert.isTrue(Option.isSome(bytes), "the file survived the crash")
      if (Option.isSome(bytes)) {
        const decoded = Frame.decode(bytes.value, 0)
        assert.strictEqual(decoded._tag, "Ok")
      }
    }),
  )
})

describe("Journal preallocation", () => {
  it.live("writes zeros ahead of the log after a sync round; a failing zero write only turns it off", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 9 })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open("/data/pre.log", {
            mode: "buffered",
            logBufferBytes: 64 * 1024,
            preallocateBytes: 256 * 1024,
          })
          // The first sync round queues the zeros behind its write; the second runs after them.
          yield* journal.syncThrough(yield* journal.append(payloadFor(1, 100)))
          yield* journal.syncThrough(yield* journal.append(payloadFor(2, 100)))
        }),
      ).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo))
      const grown = Option.getOrThrow(yield* disk.readDurableFile("/data/pre.log"))
      assert.isAtLeast(grown.length, 256 * 1024, "the zeros are written and made durable by the next round")
      assert.isTrue(
        grown.subarray(2 * Frame.frameBytes(100)).every((byte) => byte === 0),
        "they read as zeros",
      )

      // The second write is the zero fill (the first carries the first round's record).
      const failing = yield* SimulatedDisk.make({ seed: 10 })
      yield* failing.inject({ op: "write", fault: SimulatedDisk.fail("EIO"), nth: 2 })
      const synced = yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open("/data/pre.log", {
            mode: "direct",
            logBufferBytes: 64 * 1024,
            preallocateBytes: 256 * 1024,
          })
          yield* journal.syncThrough(yield* journal.append(payloadFor(1, 100)))
          let end = 0
          for (let i = 0; i < 2000; i++) end = yield* journal.append(payloadFor(i % 250, 100))
          yield* journal.syncThrough(end)
          return yield* journal.syncedLsn
        }),
      ).pipe(Effect.provideService(FileIo.FileIo, failing.fileIo))
      assert.strictEqual(synced, 2001 * Frame.frameBytes(100), "not poisoned")
      assert.strictEqual((yield* failing.stats).faultsFired, 1)
    }),
  )
})

describe("Journal.close under waiting appenders", () => {
  it.live("appenders waiting for a slot get JournalClosed, never a defect, and nothing touches freed slots", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 12 })
      // Writes take many scheduler turns: both slots stay busy and appenders queue up.
      yield* disk.inject({ op: "write", fault: SimulatedDisk.yieldFirst(50) })
      const exits = yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open("/data/close.log", {
            mode: "direct",
            logBufferBytes: 4096,
            sectorBytes: 512,
            preallocateBytes: 0,
          })
          const appenders = yield* Effect.forEach(
            Array.from({ length: 16 }, (_, i) => i),
            (i) =>
              Effect.forkChild(
                Effect.exit(
                  Effect.forEach(
                    Array.from({ length: 20 }, (_, n) => n),
                    () => journal.append(payloadFor(i + 1, 1500)),
                    {
                      discard: true,
                    },
                  ),
                ),
              ),
          )
          yield* Effect.yieldNow
          yield* journal.close
          return yield* Effect.forEach(appenders, Fiber.join)
        }),
      ).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo))
      let closedSeen = 0
      for (const exit of exits) {
        if (Exit.isSuccess(exit)) continue
        assert.isFalse(Cause.hasDies(exit.cause), String(exit.cause))
        assert.include(String(exit.cause), "JournalClosed")
        closedSeen++
      }
      assert.isAbove(closedSeen, 0, "some appenders were still waiting when the journal closed")
      assert.deepStrictEqual(yield* disk.violations, [])
    }),
  )
})
